# shellcheck shell=sh disable=SC2154
# Shared by install.sh and uninstall.sh (sourced, not run): messages, the
# operating system, the root check, and `run`, through which every change goes.
# The sourcing script sets dry_run, destdir and os before calling these (hence SC2154).

# The script's own header comment (from line 2 to the first line that is not a comment) is its usage.
usage() {
  awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'
}

die() {
  echo "${0##*/}: $*" >&2
  exit 1
}

# Sets os from uname unless --os gave it, and checks it.
detect_os() {
  if [ -z "$os" ]; then
    case "$(uname -s)" in
      Linux) os=linux ;;
      Darwin) os=darwin ;;
      *) die "unsupported system $(uname -s) (use --os linux or --os darwin)" ;;
    esac
  fi
  case "$os" in linux|darwin) ;; *) die "--os must be linux or darwin, not '$os'" ;; esac
}

# A real install or uninstall changes system paths: root only, unless staging or only printing.
require_root() {
  if [ -z "$destdir" ] && [ "$dry_run" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
    die "run as root (or use --destdir DIR to stage, --dry-run to see the steps)"
  fi
}

# Every change goes through run: printed always, executed unless --dry-run.
run() {
  if [ "$dry_run" -eq 1 ]; then
    echo "would run: $*"
  else
    echo "+ $*"
    "$@" || die "failed: $*"
  fi
}
