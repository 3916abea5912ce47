# Sourced by the scripts that find or build cached binaries
# (envtest-assets.sh, helm-bin.sh, sandbox-bins.sh): one answer to their
# flag, their cache and their lock.
#
#   cache_init "$@"        parses [--no-build]; sets root (the repository)
#                          and cache (${HEADROOM_CACHE:-$HOME/.cache/headroom})
#   cache_find DIR OUT     with the caller's `complete` function: prints OUT
#                          and exits 0 when complete; under --no-build exits 1
#                          printing nothing; else creates DIR and takes its
#                          lock, so that a second caller waits for the first
#                          build and then finds the binaries.

cache_init() {
  build=1
  case "${1:-}" in
    --no-build) build=0 ;;
    "") ;;
    *) echo "usage: $0 [--no-build]" >&2; exit 2 ;;
  esac
  root=$(cd "$(dirname "$0")/.." && pwd)
  cache=${HEADROOM_CACHE:-$HOME/.cache/headroom}
}

cache_find() {
  if complete; then
    echo "$2"
    exit 0
  fi
  if [ "$build" = 0 ]; then
    exit 1
  fi
  mkdir -p "$1"
  if command -v flock >/dev/null; then
    exec 9>"$1/.lock"
    flock 9
  fi
}
