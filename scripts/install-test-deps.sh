#!/usr/bin/env bash
# Installs the real components the integration tests run against:
#   - from Debian's packages: Prometheus (scraped by router and trace tests),
#     etcd (etcd-server, for envtest) and Chromium (the simulation report's
#     browser test renders the HTML report in headless Chromium);
#   - from the Go module proxy: kube-apiserver, built once by
#     scripts/envtest-assets.sh into ${HEADROOM_CACHE:-$HOME/.cache/headroom}
#     (about 10 minutes on 2 cores when the cache is cold, a second when warm);
#   - from the Go module proxy: the helm CLI for the chart tests, built once by
#     scripts/helm-bin.sh into the same cache (about 2 minutes cold);
#   - from the Go module proxy: the sandbox's kube-controller-manager and
#     kube-scheduler (built with kube-apiserver, in the same go build, by
#     scripts/envtest-assets.sh), etcd 3.6, kwok and kwokctl, by
#     scripts/sandbox-bins.sh (about 5 minutes more cold; docs/sandbox.md).
# Idempotent; the apt step needs root. Tests that need a component skip when
# it is missing, except under CI=true, where they fail.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v etcd >/dev/null || need+=(etcd-server)
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # etcd-server ships a system service. envtest starts its own etcd on free
  # ports and needs none running; where the package did start one, stop it.
  if [[ " ${need[*]} " == *" etcd-server "* ]] && command -v systemctl >/dev/null &&
    systemctl is-active --quiet etcd 2>/dev/null; then
    systemctl disable --now etcd >/dev/null 2>&1 || true
  fi
fi
echo "envtest assets (KUBEBUILDER_ASSETS): $(scripts/envtest-assets.sh)"
echo "helm (HELM_BIN): $(scripts/helm-bin.sh)"
echo "sandbox binaries (HEADROOM_SANDBOX_BIN): $(scripts/sandbox-bins.sh)"
