#!/bin/sh
# Installs the toros binary, its config, the toros user and directories, and the
# preprocessor service (systemd on Linux, launchd on macOS). Run as root.
#
#   install/install.sh [--bin PATH] [--destdir DIR] [--os linux|darwin] [--data-roots "DIR ..."] [--dry-run]
#
# A site's /etc/toros/toros.conf.yaml is never overwritten: a changed template goes beside it as .new.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=install/_common.sh
. "$here/_common.sh"
bin="$here/../dist/toros"
destdir=""
os=""
dry_run=0
data_roots=""

while [ $# -gt 0 ]; do
  case "$1" in
    --bin) [ $# -ge 2 ] || die "--bin needs a path"; bin=$2; shift 2 ;;
    --bin=*) bin=${1#--bin=}; shift ;;
    --destdir) [ $# -ge 2 ] || die "--destdir needs a directory"; destdir=$2; shift 2 ;;
    --destdir=*) destdir=${1#--destdir=}; shift ;;
    --os) [ $# -ge 2 ] || die "--os needs linux or darwin"; os=$2; shift 2 ;;
    --os=*) os=${1#--os=}; shift ;;
    --data-roots) [ $# -ge 2 ] || die "--data-roots needs directories"; data_roots=$2; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option '$1'" ;;
  esac
done

detect_os

[ -f "$bin" ] || die "no binary at $bin (build it with 'deno task compile', or pass --bin PATH)"
[ -x "$bin" ] || die "$bin is not executable"
require_root
if [ -n "$destdir" ] && [ "$dry_run" -eq 0 ]; then
  mkdir -p "$destdir" || die "cannot create $destdir"
  destdir=$(cd "$destdir" && pwd)
fi

prefix=$destdir
config="$prefix/etc/toros/toros.conf.yaml"
template="$here/toros.conf.yaml"
[ -f "$template" ] || die "missing config template $template"

# 1. The binary.
run mkdir -p "$prefix/usr/local/bin"
run install -m 0755 "$bin" "$prefix/usr/local/bin/toros"

# 2. The config: a site's edits survive every reinstall.
run mkdir -p "$prefix/etc/toros"
if [ -f "$config" ]; then
  if cmp -s "$template" "$config"; then
    echo "kept $config (same as the template)"
  elif [ -f "$config.new" ] && cmp -s "$template" "$config.new"; then
    echo "kept $config (your edits); the template is already beside it as $config.new"
  else
    echo "kept $config (your edits); the new template goes beside it as $config.new"
    run install -m 0640 "$template" "$config.new"
  fi
else
  run install -m 0640 "$template" "$config"
fi

# 3. The toros user and its directories.
have_user=0
if id toros >/dev/null 2>&1; then
  have_user=1
elif [ -z "$destdir" ]; then
  if [ "$os" = linux ]; then
    nologin=/usr/sbin/nologin
    [ -x "$nologin" ] || nologin=/sbin/nologin
    run useradd --system --no-create-home --home-dir /var/lib/toros --shell "$nologin" toros
  else
    uid=$(dscl . -list /Users UniqueID 2>/dev/null | awk '$2 >= 400 && $2 < 500 {u[$2]=1} END {for (i = 400; i < 500; i++) if (!u[i]) {print i; exit}}')
    [ -n "$uid" ] || die "no free system user id between 400 and 499"
    run dscl . -create /Groups/toros PrimaryGroupID "$uid"
    run dscl . -create /Users/toros UniqueID "$uid"
    run dscl . -create /Users/toros PrimaryGroupID "$uid"
    run dscl . -create /Users/toros UserShell /usr/bin/false
    run dscl . -create /Users/toros NFSHomeDirectory /var/lib/toros
  fi
  have_user=1
else
  echo "staging into $destdir: the toros user is created by the real install"
fi
for dir in "$prefix/var/lib/toros" "$prefix/var/log/toros"; do
  run mkdir -p "$dir"
  run chmod 0750 "$dir"
  if [ "$have_user" -eq 1 ] && [ "$(id -u)" -eq 0 ]; then run chown toros:toros "$dir"; fi
done
if [ "$have_user" -eq 1 ] && [ "$(id -u)" -eq 0 ] && [ -z "$destdir" ]; then run chgrp toros "$config"; fi

# 4. The data roots the service may write products into (from the config unless given).
if [ -z "$data_roots" ]; then
  if [ -f "$config" ]; then
    data_roots=$("$prefix/usr/local/bin/toros" config check --json "$config" 2>/dev/null |
      tr -d '\n' | sed -n 's/.*"roots": *\[\([^]]*\)\].*/\1/p' | tr -d '" ' | tr ',' ' ') || data_roots=""
  fi
  [ -n "$data_roots" ] || data_roots=/data/toros
fi
# A leading '-' lets the service start while a root is not mounted yet.
rw_roots=""
for root in $data_roots; do rw_roots="$rw_roots -$root"; done
rw_roots=${rw_roots# }

# 5. The service.
if [ "$os" = linux ]; then
  unit="$prefix/etc/systemd/system/preprocessor.service"
  run mkdir -p "$prefix/etc/systemd/system"
  if [ "$dry_run" -eq 1 ]; then
    echo "would write $unit (ReadWritePaths for $data_roots)"
  else
    sed "s|@DATA_ROOTS@|$rw_roots|" "$here/preprocessor.service" > "$unit.tmp" || die "cannot write $unit"
    if ! chmod 0644 "$unit.tmp" || ! mv "$unit.tmp" "$unit"; then die "cannot write $unit"; fi
    echo "+ wrote $unit"
  fi
  if [ -z "$destdir" ] && [ -d /run/systemd/system ]; then
    run systemctl daemon-reload
    echo "Installed. Start it with: systemctl enable --now preprocessor"
  else
    echo "Installed (systemd not running here: no daemon-reload)."
  fi
else
  plist="$prefix/Library/LaunchDaemons/org.toros.preprocessor.plist"
  run mkdir -p "$prefix/Library/LaunchDaemons"
  run install -m 0644 "$here/org.toros.preprocessor.plist" "$plist"
  echo "Installed. Start it with: launchctl bootstrap system $plist"
fi
