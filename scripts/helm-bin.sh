#!/usr/bin/env bash
# Finds or builds the helm CLI the chart tests run (deploy/chart) and prints
# its path, the value for HELM_BIN:
#
#   export HELM_BIN=$(scripts/helm-bin.sh)
#
# helm is built from the Go module proxy by the separate tools module in
# tools/helm (helm.sh/helm/v4/cmd/helm; about 2 minutes on 2 cores with a
# cold build cache, once) and cached outside the repository, keyed by version:
#   ${HEADROOM_CACHE:-$HOME/.cache/headroom}/helm/v<version>/helm
#
#   --no-build   print the path only if the binary is there; never build
#                (exit 1, printing nothing, when it is not).
#
# Only the path goes to stdout; progress and errors go to stderr.
set -euo pipefail

HELM_VERSION=4.3.2 # keep in step with tools/helm/go.mod (a test checks)
. "$(dirname "$0")/cache-lib.sh"
cache_init "$@"
dir=$cache/helm/v$HELM_VERSION
bin=$dir/helm

complete() { [ -x "$bin" ]; }
cache_find "$dir" "$bin"

if [ ! -x "$bin" ]; then
  echo "scripts/helm-bin.sh: building helm v$HELM_VERSION from the Go module proxy into $dir (about 2 minutes on 2 cores, once)" >&2
  start=$(date +%s)
  v=helm.sh/helm/v4/internal/version
  ldflags="-s -w -X $v.version=v$HELM_VERSION -X $v.gitTreeState=clean"
  tmp=$bin.tmp.$$
  trap 'rm -f "$tmp"' EXIT
  (cd "$root/tools/helm" &&
    GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0 \
      go build -trimpath -ldflags "$ldflags" -o "$tmp" helm.sh/helm/v4/cmd/helm)
  mv "$tmp" "$bin" # atomic: a half-written binary never looks complete
  echo "scripts/helm-bin.sh: built helm in $(( $(date +%s) - start ))s" >&2
fi

echo "$bin"
