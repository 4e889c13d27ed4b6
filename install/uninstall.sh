#!/bin/sh
# Stops, disables and removes every TOROS service it finds (the systemd units or
# launchd plists install.sh wrote, one per daemon) and the toros binary. The config
# (/etc/toros) and the state and logs are kept unless --purge; the data roots
# (raw nights and their products) are never touched.
#
#   install/uninstall.sh [--destdir DIR] [--os linux|darwin] [--purge] [--dry-run]
set -eu

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=install/_common.sh
. "$here/_common.sh"

destdir=""
os=""
dry_run=0
purge=0

while [ $# -gt 0 ]; do
  case "$1" in
    --destdir) [ $# -ge 2 ] || die "--destdir needs a directory"; destdir=$2; shift 2 ;;
    --destdir=*) destdir=${1#--destdir=}; shift ;;
    --os) [ $# -ge 2 ] || die "--os needs linux or darwin"; os=$2; shift 2 ;;
    --os=*) os=${1#--os=}; shift ;;
    --purge) purge=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option '$1'" ;;
  esac
done

detect_os
require_root

remove() {
  if [ -e "$1" ] || [ -L "$1" ]; then run rm -rf "$1"; else echo "already gone: $1"; fi
}

prefix=$destdir

if [ "$os" = linux ]; then
  unit_dir="$prefix/etc/systemd/system"
  live=0
  if [ -z "$destdir" ] && [ -d /run/systemd/system ]; then live=1; fi
  found=0
  for unit in "$unit_dir"/*.service; do
    # Ours are the files whose first line says install.sh wrote them (aliases are symlinks: skipped).
    if [ ! -f "$unit" ] || [ -L "$unit" ]; then continue; fi
    head -n 1 "$unit" | grep -q '^# TOROS .*written by install/install\.sh' || continue
    found=1
    name=${unit##*/}
    if [ "$live" -eq 1 ]; then
      run systemctl disable --now "$name"
    elif command -v systemctl >/dev/null 2>&1 && systemctl --root="${prefix:-/}" is-enabled --quiet "$name" 2>/dev/null; then
      run systemctl --root="${prefix:-/}" disable "$name"
    fi
    remove "$unit"
  done
  [ "$found" -eq 1 ] || echo "already gone: no TOROS units in $unit_dir"
  if [ "$live" -eq 1 ]; then run systemctl daemon-reload; fi
else
  found=0
  for plist in "$prefix"/Library/LaunchDaemons/org.toros.*.plist; do
    [ -f "$plist" ] || continue
    found=1
    label=${plist##*/}
    label=${label%.plist}
    if [ -z "$destdir" ] && launchctl print "system/$label" >/dev/null 2>&1; then
      run launchctl bootout "system/$label"
    fi
    remove "$plist"
  done
  [ "$found" -eq 1 ] || echo "already gone: no TOROS plists in $prefix/Library/LaunchDaemons"
fi
remove "$prefix/usr/local/bin/toros"

if [ "$purge" -eq 1 ]; then
  remove "$prefix/etc/toros"
  remove "$prefix/var/lib/toros"
  remove "$prefix/var/log/toros"
  if [ -z "$destdir" ] && id toros >/dev/null 2>&1; then
    if [ "$os" = linux ]; then run userdel toros; else run dscl . -delete /Users/toros; run dscl . -delete /Groups/toros; fi
  fi
  echo "Purged. The data roots (raw nights and products) were not touched."
else
  echo "Removed the services and the binary. Kept $prefix/etc/toros, $prefix/var/lib/toros and $prefix/var/log/toros" \
    "(use --purge to remove them). The data roots are never touched."
fi
