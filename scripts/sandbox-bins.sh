#!/usr/bin/env bash
# Finds or builds the binaries the sandbox runs (docs/sandbox.md) and prints
# the directory that holds them all, the value for HEADROOM_SANDBOX_BIN:
#
#   export HEADROOM_SANDBOX_BIN=$(scripts/sandbox-bins.sh)
#
#   kube-apiserver, kube-controller-manager, kube-scheduler  v1.37.2, links
#       to scripts/envtest-assets.sh's cache (built there in one go build)
#   etcd      3.6, built from go.etcd.io/etcd/server/v3 by tools/etcd (about
#             a minute on 2 cores); Debian's 3.4 serves envtest, not kwok
#   kwok, kwokctl  v0.8.0, `go install sigs.k8s.io/kwok/cmd/...` (about 3
#             minutes)
#   prometheus     a link to the one on PATH (Debian's, install-test-deps.sh)
#
# Cached outside the repository, keyed by version:
#   ${HEADROOM_CACHE:-$HOME/.cache/headroom}/sandbox/<versions>/
#
#   --no-build   print the directory only if it is complete; never build
#                (exit 1, printing nothing, when it is not).
#
# Only the directory goes to stdout; progress and errors go to stderr.
set -euo pipefail

ETCD_VERSION=3.6.17 # keep in step with tools/etcd/go.mod
KWOK_VERSION=0.8.0
K8S_VERSION=1.37.2
. "$(dirname "$0")/cache-lib.sh"
cache_init "$@"
dir=$cache/sandbox/k8s-v$K8S_VERSION-etcd-v$ETCD_VERSION-kwok-v$KWOK_VERSION
bins=(kube-apiserver kube-controller-manager kube-scheduler etcd kwok kwokctl prometheus)

complete() {
  local b
  for b in "${bins[@]}"; do [ -x "$dir/$b" ] || return 1; done
}

cache_find "$dir" "$dir"

if [ ! -x "$dir/kube-apiserver" ] || [ ! -x "$dir/kube-controller-manager" ] || [ ! -x "$dir/kube-scheduler" ]; then
  k8s=$("$root/scripts/envtest-assets.sh")
  for b in kube-apiserver kube-controller-manager kube-scheduler; do ln -sf "$k8s/$b" "$dir/$b"; done
fi

if [ ! -x "$dir/etcd" ]; then
  echo "sandbox-bins: building etcd v$ETCD_VERSION from the Go module proxy into $dir (about a minute, once)" >&2
  start=$(date +%s)
  (cd "$root/tools/etcd" &&
    GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0 \
      go build -trimpath -ldflags "-s -w" -o "$dir/etcd.tmp.$$" go.etcd.io/etcd/server/v3)
  mv "$dir/etcd.tmp.$$" "$dir/etcd"
  echo "sandbox-bins: built etcd in $(( $(date +%s) - start ))s" >&2
fi

if [ ! -x "$dir/kwok" ] || [ ! -x "$dir/kwokctl" ]; then
  echo "sandbox-bins: building kwok and kwokctl v$KWOK_VERSION from the Go module proxy into $dir (about 3 minutes, once)" >&2
  start=$(date +%s)
  tmp=$dir/gobin.tmp.$$
  mkdir -p "$tmp"
  GOWORK=off GOBIN=$tmp CGO_ENABLED=0 \
    go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@v$KWOK_VERSION"
  mv "$tmp/kwok" "$dir/kwok"
  mv "$tmp/kwokctl" "$dir/kwokctl"
  rmdir "$tmp"
  echo "sandbox-bins: built kwok and kwokctl in $(( $(date +%s) - start ))s" >&2
fi

if [ ! -x "$dir/prometheus" ]; then
  prom=${PROMETHEUS_BIN:-$(command -v prometheus || true)}
  if [ -z "$prom" ]; then
    echo "sandbox-bins: no prometheus on PATH; install Debian's prometheus (scripts/install-test-deps.sh does) or set PROMETHEUS_BIN" >&2
    exit 1
  fi
  ln -sf "$prom" "$dir/prometheus"
fi

echo "$dir"
