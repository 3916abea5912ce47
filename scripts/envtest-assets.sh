#!/usr/bin/env bash
# Finds or builds the binaries controller-runtime's envtest runs (a real
# kube-apiserver and etcd) and prints the directory that holds them, the value
# for KUBEBUILDER_ASSETS. The same directory also holds kube-controller-manager
# and kube-scheduler for the sandbox (scripts/sandbox-bins.sh, docs/sandbox.md):
#
#   export KUBEBUILDER_ASSETS=$(scripts/envtest-assets.sh)
#
# kube-apiserver, kube-controller-manager and kube-scheduler are built from the
# Go module proxy by the separate tools module in tools/envtest, in one
# `go build` so that the packages they share compile once (about 10-12 minutes
# on 2 cores, once), and cached outside the repository, keyed by version:
#   ${HEADROOM_CACHE:-$HOME/.cache/headroom}/envtest/v<version>/
# etcd is the one on PATH (Debian's etcd-server, installed by
# scripts/install-test-deps.sh), or $ETCD; the cache holds a link to it.
#
#   --no-build   print the directory only if it is complete; never build
#                (exit 1, printing nothing, when it is not). `make test` uses it.
#
# Only the directory goes to stdout; progress and errors go to stderr.
set -euo pipefail

K8S_VERSION=1.37.2 # keep in step with tools/envtest/go.mod
. "$(dirname "$0")/cache-lib.sh"
cache_init "$@"
dir=$cache/envtest/v$K8S_VERSION

bins=(kube-apiserver kube-controller-manager kube-scheduler)
missing() {
  local b
  for b in "${bins[@]}"; do [ -x "$dir/$b" ] || echo "$b"; done
}
complete() { [ -z "$(missing)" ] && [ -x "$dir/etcd" ]; }

cache_find "$dir" "$dir"

todo=$(missing)
if [ -n "$todo" ]; then
  echo "envtest-assets: building" $todo "v$K8S_VERSION from the Go module proxy into $dir (about 10 minutes on 2 cores, once)" >&2
  start=$(date +%s)
  ver=k8s.io/component-base/version
  ldflags="-s -w -X $ver.gitVersion=v$K8S_VERSION -X $ver.gitMajor=${K8S_VERSION%%.*}"
  minor=${K8S_VERSION#*.}
  ldflags="$ldflags -X $ver.gitMinor=${minor%%.*} -X $ver.gitTreeState=clean"
  tmp=$dir/build.tmp.$$
  mkdir -p "$tmp"
  pkgs=()
  for b in $todo; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  (cd "$root/tools/envtest" &&
    GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0 \
      go build -trimpath -ldflags "$ldflags" -o "$tmp/" "${pkgs[@]}")
  for b in $todo; do
    mv "$tmp/$b" "$dir/$b" # atomic: a half-written binary never looks complete
  done
  rmdir "$tmp"
  echo "envtest-assets: built" $todo "in $(( $(date +%s) - start ))s" >&2
fi

if [ ! -x "$dir/etcd" ]; then
  etcd=${ETCD:-$(command -v etcd || true)}
  if [ -z "$etcd" ]; then
    echo "envtest-assets: no etcd on PATH; install Debian's etcd-server (scripts/install-test-deps.sh does) or set ETCD=/path/to/etcd" >&2
    exit 1
  fi
  ln -sf "$etcd" "$dir/etcd"
fi

echo "$dir"
