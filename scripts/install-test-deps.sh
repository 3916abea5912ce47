#!/usr/bin/env bash
# Installs the real components the integration tests run against, from
# Debian's packages: Prometheus (scraped by router and trace tests). Idempotent;
# needs root. Tests that need a component skip when it is missing, except
# under CI=true, where they fail.
set -euo pipefail
need=()
command -v prometheus >/dev/null || need+=(prometheus)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
