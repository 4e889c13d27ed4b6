#!/bin/sh
# Stops and removes the preprocessor service and the toros binary. The config
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
  if [ -z "$destdir" ] && [ -d /run/systemd/system ] && systemctl list-unit-files preprocessor.service >/dev/null 2>&1; then
    run systemctl disable --now preprocessor.service
  fi
  remove "$prefix/etc/systemd/system/preprocessor.service"
  if [ -z "$destdir" ] && [ -d /run/systemd/system ]; then run systemctl daemon-reload; fi
else
  plist="$prefix/Library/LaunchDaemons/org.toros.preprocessor.plist"
  if [ -z "$destdir" ] && launchctl print system/org.toros.preprocessor >/dev/null 2>&1; then
    run launchctl bootout system/org.toros.preprocessor
  fi
  remove "$plist"
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
  echo "Removed the service and the binary. Kept $prefix/etc/toros, $prefix/var/lib/toros and $prefix/var/log/toros" \
    "(use --purge to remove them). The data roots are never touched."
fi
