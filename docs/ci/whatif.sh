#!/bin/sh
# The same check as a plain shell step, for any CI: run it in a clone of
# the policy repository with the base branch fetched. Exit 0: head keeps
# every SLO target base met; 1: it breaks one; 2: the check could not run.
#   BASE=origin/main TRACE=traces/last-week.csv sh whatif.sh
set -eu
BASE=${BASE:-origin/main}
POLICY_DIR=${POLICY_DIR:-policy}
TRACE=${TRACE:-trace.csv}
if [ -n "${PROMETHEUS_URL:-}" ]; then
  headroom trace record --prometheus "$PROMETHEUS_URL" \
    --query 'sum by (class) (rate(headroom_router_requests_total[10m]))' \
    --start "$(date -u -d '7 days ago' +%Y-%m-%dT%H:00:00Z)" --end "$(date -u +%Y-%m-%dT%H:00:00Z)" \
    --step 10m --out "$TRACE"
fi
headroom policy lint "$POLICY_DIR"
headroom whatif --base "$BASE" --head HEAD --policy-dir "$POLICY_DIR" --trace "$TRACE" -o markdown --report whatif.html > whatif.md
