#!/bin/sh
# Installs the toros binary, its config, the toros user and directories, and a
# service for every daemon the binary runs (`toros serve --list`): a systemd unit
# on Linux, a launchd plist on macOS. Run as root.
#
#   install/install.sh [--bin PATH] [--services "NAME ..."] [--destdir DIR] [--os linux|darwin]
#                      [--data-roots "DIR ..."] [--dry-run]
#
# --services names the daemons to enable on this host (default: all); the others are
# written but left disabled. With --destdir, systemd units are enabled inside DIR.
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
services=""
services_given=0

while [ $# -gt 0 ]; do
  case "$1" in
    --bin) [ $# -ge 2 ] || die "--bin needs a path"; bin=$2; shift 2 ;;
    --bin=*) bin=${1#--bin=}; shift ;;
    --services) [ $# -ge 2 ] || die "--services needs daemon names"; services=$2; services_given=1; shift 2 ;;
    --services=*) services=${1#--services=}; services_given=1; shift ;;
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

# Words of a list given with spaces, newlines or commas, on one line with single spaces.
words() {
  printf '%s\n' "$1" | tr '\t\n,' '   ' | tr -s ' ' | sed 's/^ //; s/ $//'
}

is_daemon() {
  case " $daemons " in *" $1 "*) return 0 ;; esac
  return 1
}

is_chosen() {
  case " $services " in *" $1 "*) return 0 ;; esac
  return 1
}

# A daemon's Description; one not listed here (a daemon newer than this script) gets a plain one.
describe() {
  case "$1" in
    preprocessor) echo "TOROS preprocessor (calibrates a night's CCD frames on XML-RPC work orders)" ;;
    telescope) echo "TOROS telescope (Observation orders: mount, filter wheel and camera through INDI)" ;;
    scheduler) echo "TOROS scheduler (priorities, routing, dispatch when the sky allows)" ;;
    dome) echo "TOROS dome (dome orders and the weather watch)" ;;
    worker) echo "TOROS worker (reduction tasks of nights shared through a PostgreSQL catalog; opens no port)" ;;
    *) echo "TOROS $1 daemon" ;;
  esac
}

# A daemon's systemd unit name: its own, unless that word alone would not say the unit is TOROS's.
unit_of() {
  case "$1" in
    worker) echo toros-worker ;;
    *) echo "$1" ;;
  esac
}

# A value made safe as a sed replacement (between | delimiters).
sed_escape() {
  printf '%s\n' "$1" | sed 's/[\\|&]/\\&/g'
}

# write_from_template TEMPLATE DEST NAME DESCRIPTION DATA_ROOTS DISABLED [UNIT]: DEST (mode 0644) from
# TEMPLATE with its @PLACEHOLDERS@ filled in (@UNIT@ defaults to NAME); an unchanged file is left alone.
write_from_template() {
  if [ "$dry_run" -eq 1 ]; then
    echo "would write $2 from ${1##*/}${5:+ (ReadWritePaths for $5)}${6:+ (Disabled $6)}"
    return
  fi
  sed -e "s|@NAME@|$(sed_escape "$3")|g" -e "s|@UNIT@|$(sed_escape "${7:-$3}")|g" \
    -e "s|@DESCRIPTION@|$(sed_escape "$4")|g" \
    -e "s|@DATA_ROOTS@|$(sed_escape "$5")|g" -e "s|@DISABLED@|$6|g" "$1" > "$2.tmp" || die "cannot write $2"
  if cmp -s "$2.tmp" "$2"; then
    rm -f "$2.tmp"
    echo "kept $2 (unchanged)"
    return
  fi
  if ! chmod 0644 "$2.tmp" || ! mv "$2.tmp" "$2"; then die "cannot write $2"; fi
  echo "+ wrote $2"
}

detect_os

[ -f "$bin" ] || die "no binary at $bin (build it with 'deno task compile', or pass --bin PATH)"
[ -x "$bin" ] || die "$bin is not executable"

# The daemons, asked of the binary being installed (so a new daemon needs no change here, and
# --dry-run sees what a real run would), and the ones to enable: all checked before any change.
listed=$("$bin" serve --list) || die "$bin serve --list failed (is it a toros binary that runs several daemons?)"
daemons=$(words "$listed")
[ -n "$daemons" ] || die "$bin serve --list named no daemons"
for name in $daemons; do
  # Names become file names, unit names and sed replacements.
  case "$name" in
    *[!a-z0-9-]*|-*) die "$bin serve --list gave an unusable daemon name '$name'" ;;
  esac
done
if [ "$services_given" -eq 0 ]; then
  services=$daemons
else
  services=$(words "$services")
  [ -n "$services" ] || die "--services needs daemon names (known: $daemons)"
  for name in $services; do
    is_daemon "$name" || die "unknown service '$name' in --services (known: $daemons)"
  done
fi

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

# 4. Where the daemons may write data, from the config: Data: Roots (unless --data-roots) and
#    Telescope: Data Root, where the telescope files its nights (normally inside a data root).
checked=""
if [ -f "$config" ]; then
  checked=$("$bin" config check --json "$config" 2>/dev/null) ||
    echo "warning: $config has errors (see: toros config check $config); using what could be read" >&2
  checked=$(printf '%s' "$checked" | tr -d '\n')
fi
if [ -z "$data_roots" ]; then
  data_roots=$(echo "$checked" | sed -n 's/.*"roots": *\[\([^]]*\)\].*/\1/p' | tr -d '" ' | tr ',' ' ')
  [ -n "$data_roots" ] || data_roots=/data/toros
fi
telescope_root=$(echo "$checked" | sed -n 's/.*"dataRoot": *"\([^"]*\)".*/\1/p')
[ -n "$telescope_root" ] || telescope_root=/data/toros
telescope_root_inside=0
for root in $data_roots; do
  case "${telescope_root%/}/" in "${root%/}"/*) telescope_root_inside=1 ;; esac
done
if [ "$telescope_root_inside" -eq 0 ] && is_daemon telescope; then
  echo "warning: Telescope: Data Root $telescope_root is not inside Data: Roots ($data_roots):" \
    "the telescope's unit may write there, but the preprocessor refuses its nights" >&2
fi

# ProtectSystem=strict: a daemon can create nothing outside its ReadWritePaths, not even a missing root.
if [ -z "$destdir" ] && [ "$dry_run" -eq 0 ]; then
  extra_root=""
  if [ "$telescope_root_inside" -eq 0 ] && is_daemon telescope; then extra_root=$telescope_root; fi
  for root in $data_roots $extra_root; do
    [ -d "$root" ] || echo "note: $root does not exist yet; create it (owned by toros) or mount it before starting the daemons"
  done
fi

# The ReadWritePaths data entries of one daemon's unit; a leading '-' lets it start while a root is not mounted.
write_paths() {
  paths=""
  for root in $data_roots; do paths="$paths -$root"; done
  if [ "$1" = telescope ] && [ "$telescope_root_inside" -eq 0 ]; then paths="$paths -$telescope_root"; fi
  echo "${paths# }"
}

# 5. A service per daemon, from one template, and the chosen ones enabled.
if [ "$dry_run" -eq 1 ]; then
  summary="Dry run, nothing changed; would install"
  enabled="would be enabled"
  not_enabled="would not be enabled"
else
  summary="Installed"
  enabled="enabled"
  not_enabled="not enabled"
fi
if [ "$os" = linux ]; then
  unit_dir="$prefix/etc/systemd/system"
  run mkdir -p "$unit_dir"
  for name in $daemons; do
    unit=$(unit_of "$name")
    write_from_template "$here/daemon.service.in" "$unit_dir/$unit.service" \
      "$name" "$(describe "$name")" "$(write_paths "$name")" "" "$unit"
  done

  # On a running host systemctl talks to systemd; otherwise (--destdir, a chroot, an image) it
  # makes the enable links among the files under the root, which is what systemd reads at boot.
  live=0
  if [ -z "$destdir" ] && [ -d /run/systemd/system ]; then live=1; fi
  unitctl() {
    if [ "$live" -eq 1 ]; then systemctl "$@"; else systemctl --root="${prefix:-/}" "$@"; fi
  }
  run_unitctl() {
    if [ "$live" -eq 1 ]; then run systemctl "$@"; else run systemctl --root="${prefix:-/}" "$@"; fi
  }
  has_systemctl=0
  if command -v systemctl >/dev/null 2>&1; then has_systemctl=1; fi
  if [ "$live" -eq 1 ]; then run systemctl daemon-reload; fi
  if [ "$has_systemctl" -eq 1 ]; then
    for name in $daemons; do
      unit=$(unit_of "$name")
      if is_chosen "$name"; then
        unitctl is-enabled --quiet "$unit.service" 2>/dev/null || run_unitctl enable "$unit.service"
      elif unitctl is-enabled --quiet "$unit.service" 2>/dev/null; then
        run_unitctl disable "$unit.service"
      fi
    done
  fi

  echo
  echo "$summary $daemons (systemd units in $unit_dir):"
  for name in $daemons; do
    unit=$(unit_of "$name")
    if ! is_chosen "$name"; then
      if [ "$live" -eq 1 ] && systemctl is-active --quiet "$unit.service"; then
        echo "  $name: $not_enabled on this host but running; stop it with: systemctl stop $unit"
      else
        echo "  $name: $not_enabled on this host; to run it here: systemctl enable --now $unit"
      fi
    elif [ "$has_systemctl" -eq 0 ]; then
      echo "  $name: not enabled (no systemctl here); on the host run: systemctl enable --now $unit"
    elif [ -n "$destdir" ]; then
      echo "  $name: $enabled in $destdir (starts at boot there); or start it with: systemctl start $unit"
    elif [ "$live" -eq 1 ] && systemctl is-active --quiet "$unit.service"; then
      echo "  $name: $enabled and running; use the new binary with: systemctl restart $unit"
    else
      echo "  $name: $enabled; start it with: systemctl start $unit"
    fi
  done
else
  plist_dir="$prefix/Library/LaunchDaemons"
  run mkdir -p "$plist_dir"
  for name in $daemons; do
    if is_chosen "$name"; then disabled=false; else disabled=true; fi
    write_from_template "$here/org.toros.daemon.plist.in" "$plist_dir/org.toros.$name.plist" \
      "$name" "$(describe "$name")" "" "$disabled"
  done

  # The plist's Disabled key counts only until launchctl's own enable/disable record exists: set that too.
  if [ -z "$destdir" ]; then
    for name in $daemons; do
      if is_chosen "$name"; then
        run launchctl enable "system/org.toros.$name"
      else
        run launchctl disable "system/org.toros.$name"
      fi
    done
  fi

  echo
  echo "$summary $daemons (launchd plists in $plist_dir):"
  for name in $daemons; do
    plist="/Library/LaunchDaemons/org.toros.$name.plist"
    loaded=0
    if [ -z "$destdir" ] && launchctl print "system/org.toros.$name" >/dev/null 2>&1; then loaded=1; fi
    if ! is_chosen "$name"; then
      if [ "$loaded" -eq 1 ]; then
        echo "  $name: $not_enabled on this host but loaded; stop it with: launchctl bootout system/org.toros.$name"
      else
        echo "  $name: $not_enabled on this host; to run it here:" \
          "launchctl enable system/org.toros.$name && launchctl bootstrap system $plist"
      fi
    elif [ "$loaded" -eq 1 ]; then
      echo "  $name: $enabled and loaded; use the new binary with: launchctl kickstart -k system/org.toros.$name"
    else
      echo "  $name: $enabled; start it with: launchctl bootstrap system $plist"
    fi
  done
fi
