#!/usr/bin/env bash
# Benchmarks the router against nginx, side by side in one run, as reverse
# proxies to the same backends on loopback with the same load generators,
# and prints:
#   - p99 latency each proxy adds at $RATE req/s (open loop, its p99 minus the
#     p99 of the same load sent straight to the backends);
#   - the throughput ratio router/nginx (closed loop, wrk, same connections),
#     and CPU time per request of each proxy.
# Load is bounded: at most $N requests or $MAXTIME per open-loop run, and
# $WRK_DURATION per wrk run; everything listens on 127.0.0.1 only. The
# closed-loop part runs $REPEAT times, router then nginx each time, and
# prints each run's ratio and the spread. With PROFILE=FILE the router
# writes a CPU profile of the whole run to FILE (go tool pprof).
#
# Needs go, nginx and wrk (Debian packages; installed here with apt-get when
# missing and running as root). Knobs: RATE N MAXTIME BACKENDS WRK_DURATION
# WRK_CONNS WRK_THREADS BASE_PORT REPEAT PROFILE.
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${RATE:-5000}
N=${N:-50000}
MAXTIME=${MAXTIME:-15s}
BACKENDS=${BACKENDS:-8}
WRK_DURATION=${WRK_DURATION:-10s}
WRK_CONNS=${WRK_CONNS:-64}
WRK_THREADS=${WRK_THREADS:-2}
BASE_PORT=${BASE_PORT:-19100}
REPEAT=${REPEAT:-3}
PROFILE=${PROFILE:-}
ROUTER_PORT=$((BASE_PORT + 80))
NGINX_PORT=$((BASE_PORT + 81))
KEY=bench-key

need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "missing ${need[*]}; install them (apt-get install ${need[*]})" >&2; exit 1; fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid" 2>/dev/null)" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "building..." >&2
go build -o "$tmp/headroom" ./cmd/headroom
go build -o "$tmp/benchtool" ./router/internal/benchtool

addrs=() direct=() upstream=""
for i in $(seq 1 "$BACKENDS"); do
  a="127.0.0.1:$((BASE_PORT + i))"
  addrs+=("\"$a\"")
  direct+=("http://$a/infer")
  upstream+="    server $a;"$'\n'
done
"$tmp/benchtool" backend -addrs "$(IFS=,; echo "${direct[*]}" | sed 's#http://##g; s#/infer##g')" &
pids+=($!)

digest=$(printf '%s\n' "$KEY" | "$tmp/headroom" router hash-key)
cat >"$tmp/router.yaml" <<EOF
listen: "127.0.0.1:$ROUTER_PORT"
server: {disableAccessLog: true}
classify: {class: [{from: header, name: X-Model-Class}]}
tenants: [{name: bench, keySHA256: [$digest]}]
models:
  - class: bench
    versions: [{name: v1, endpoints: [$(IFS=,; echo "${addrs[*]}")]}]
EOF
prof=()
[ -n "$PROFILE" ] && prof=(--cpuprofile "$PROFILE")
"$tmp/headroom" router --config "$tmp/router.yaml" --log-level warn "${prof[@]}" &
router_pid=$!
pids+=($!)

mkdir -p "$tmp/nginx"
cat >"$tmp/nginx.conf" <<EOF
worker_processes auto;
pid $tmp/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  upstream backends {
    least_conn;
$upstream    keepalive 512;
  }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
"$NGINX" -p "$tmp/nginx" -c "$tmp/nginx.conf" -e "$tmp/nginx/error.log" -g 'daemon off;' &
nginx_pid=$!
pids+=($!)

wait_ok() {
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null -H "Authorization: Bearer $KEY" -H "X-Model-Class: bench" "$1"; then return 0; fi
    sleep 0.1
  done
  echo "not ready: $1" >&2
  exit 1
}
wait_ok "http://127.0.0.1:$ROUTER_PORT/infer"
wait_ok "http://127.0.0.1:$NGINX_PORT/infer"
wait_ok "${direct[0]}"

load() { # name targets...
  local name=$1 targets=$2
  local out
  out=$("$tmp/benchtool" load -targets "$targets" -rate "$RATE" -n "$N" -max-time "$MAXTIME" \
    -H "Authorization: Bearer $KEY" -H "X-Model-Class: bench")
  printf '%-8s %s\n' "$name" "$out" >&2
  echo "$out" | sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p'
}
field() { echo "$1" | sed -n "s/.*$2=\([0-9.]*\).*/\1/p"; }

echo "== open loop, $RATE req/s, $BACKENDS backends, at most $N requests or $MAXTIME each" >&2
p99_direct=$(load direct "$(IFS=,; echo "${direct[*]}")")
p99_router=$(load router "http://127.0.0.1:$ROUTER_PORT/infer")
p99_nginx=$(load nginx "http://127.0.0.1:$NGINX_PORT/infer")

# CPU time (user + system, clock ticks) of processes and all their threads:
# CPU per request is a steadier figure than req/s on a shared machine.
cputicks() {
  local t=0 f
  for p in "$@"; do
    for f in /proc/"$p"/task/*/stat; do
      [ -r "$f" ] || continue
      t=$((t + $(sed 's/.*) //' "$f" | awk '{print $12 + $13}')))
    done
  done
  echo "$t"
}
hz=$(getconf CLK_TCK)
echo "== closed loop, wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DURATION" >&2
wrk_run() { # url pids... -> "rps cpu_us_per_request"
  local url=$1; shift
  local c0 c1 out
  c0=$(cputicks "$@")
  out=$(wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"$WRK_DURATION" -H "Authorization: Bearer $KEY" -H "X-Model-Class: bench" "$url")
  c1=$(cputicks "$@")
  echo "$out" >&2
  echo "$out" | awk -v c=$((c1 - c0)) -v hz="$hz" '/requests in/ {n = $1} /^Requests\/sec:/ {r = $2} END {printf "%s %.1f\n", r, c / hz * 1e6 / n}'
}
runs=""
for i in $(seq 1 "$REPEAT"); do
  read -r rps_router cpu_router < <(wrk_run "http://127.0.0.1:$ROUTER_PORT/infer" "$router_pid")
  # shellcheck disable=SC2046
  read -r rps_nginx cpu_nginx < <(wrk_run "http://127.0.0.1:$NGINX_PORT/infer" "$nginx_pid" $(pgrep -P "$nginx_pid"))
  runs+="$i $rps_router $rps_nginx $cpu_router $cpu_nginx"$'\n'
done

echo
echo "cores: $(nproc); rate: $RATE req/s; backends: $BACKENDS"
awk -v d="$p99_direct" -v r="$p99_router" -v n="$p99_nginx" 'BEGIN {
  printf "p99 direct %.3f ms, via router %.3f ms, via nginx %.3f ms\n", d, r, n
  printf "added p99: router %.3f ms, nginx %.3f ms (goal for the router < 0.5 ms)\n", r - d, n - d
}'
printf '%s' "$runs" | awk '{
  ratio = $2 / $3
  printf "run %d: router %.0f req/s, nginx %.0f req/s, ratio router/nginx %.2f; CPU per request router %.1f us, nginx %.1f us\n", $1, $2, $3, ratio, $4, $5
  if (NR == 1 || ratio < lo) lo = ratio
  if (NR == 1 || ratio > hi) hi = ratio
  sum += ratio
} END { printf "ratio router/nginx over %d runs: %.2f to %.2f (mean %.2f; goal >= 1.0)\n", NR, lo, hi, sum / NR }'
