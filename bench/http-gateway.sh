#!/usr/bin/env bash
# The HTTP gateway against nginx, in one run: wrk GETs a small upstream
#   1. direct                      (nginx serving a fixed 200 "ok")
#   2. through nginx               (a plain reverse proxy, keep-alive pool)
#   3. through Countersign         (starter policies, durable audit: every
#                                   request's decision waits for an fsync,
#                                   outcome reported; bearer credential
#                                   injected)
# at 1 and 32 connections (or the counts given), and prints the ratios.
#
#   bench/http-gateway.sh [connections...]     (default: 1 32)
#   DURATION=10s SKIP_BUILD=1 bench/http-gateway.sh
#
# Needs wrk and nginx (installed here with apt-get when missing; the nginx
# started is ours, on spare ports, with a config written below); builds the
# release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q -p countersign
BIN=$PWD/target/release/countersign
DATA=$(mktemp -d)
DURATION=${DURATION:-10s}
BASE=${PORT:-18810}
UP=$BASE            # the upstream (nginx, fixed answer)
NG=$((BASE + 1))    # nginx reverse proxy to it
API=$((BASE + 2))   # Countersign API
GW=$((BASE + 3))    # Countersign HTTP gateway
cleanup() {
  [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  [ -f "$DATA/nginx.pid" ] && kill "$(cat "$DATA/nginx.pid")" 2>/dev/null
  sleep 0.2
  rm -rf "$DATA"
}
trap cleanup EXIT

mkdir -p "$DATA/nginx"
cat > "$DATA/nginx.conf" <<CONF
worker_processes auto;
pid $DATA/nginx.pid;
error_log $DATA/nginx/error.log warn;
daemon on;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $DATA/nginx/body;
  proxy_temp_path $DATA/nginx/proxy;
  fastcgi_temp_path $DATA/nginx/fastcgi;
  uwsgi_temp_path $DATA/nginx/uwsgi;
  scgi_temp_path $DATA/nginx/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$UP;
    location / { default_type text/plain; return 200 "ok\n"; }
  }
  upstream small { server 127.0.0.1:$UP; keepalive 64; }
  server {
    listen 127.0.0.1:$NG;
    location / {
      proxy_pass http://small;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer bench-upstream-secret";
    }
  }
}
CONF
"$NGINX" -c "$DATA/nginx.conf" -e "$DATA/nginx/error.log"

$BIN init "$DATA/cs" > "$DATA/init.out"
export COUNTERSIGN_TOKEN=$(grep -o 'cs_[A-Za-z0-9_-]*' "$DATA/init.out" | head -1)
cat >> "$DATA/cs/countersign.toml" <<CONF

[http_gateway]
listen = "127.0.0.1:$GW"

[http_gateway.routes.small]
path_prefix = "/"
upstream = "http://127.0.0.1:$UP"
environment = "prod"
credential = { kind = "bearer", secret_env = "BENCH_UPSTREAM_SECRET" }
default = { action = "http.request", resource = 'Route::"small"' }

# The same upstream; allowed GETs forwarded once their decision is committed
# to the log, before the flush that follows (writes would stay strict).
[http_gateway.routes.relaxed]
path_prefix = "/relaxed"
upstream = "http://127.0.0.1:$UP"
environment = "prod"
durability = "relaxed_reads"
credential = { kind = "bearer", secret_env = "BENCH_UPSTREAM_SECRET" }
default = { action = "http.request", resource = 'Route::"relaxed"' }
CONF
BENCH_UPSTREAM_SECRET=bench-upstream-secret COUNTERSIGN_LOG=warn \
  $BIN serve --data-dir "$DATA/cs" --listen 127.0.0.1:$API &
SERVER=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:$API/readyz >/dev/null && break; sleep 0.1; done
export COUNTERSIGN_SERVER=http://127.0.0.1:$API
$BIN principals add owner --kind user >/dev/null
$BIN principals add bench-bot --kind agent --owner owner --group engineer >/dev/null
BOT=$($BIN tokens create --principal bench-bot 2>/dev/null)
# Sanity: each path answers 200 before measuring.
curl -sf http://127.0.0.1:$UP/x >/dev/null
curl -sf http://127.0.0.1:$NG/x >/dev/null
curl -sf -H "Countersign-Token: $BOT" http://127.0.0.1:$GW/x >/dev/null

declare -A RPS P50
run() { # name conns url [header]
  local name=$1 conns=$2 url=$3 threads out
  threads=$(( conns < 2 ? 1 : 2 ))
  if [ $# -ge 4 ]; then
    out=$(wrk -t$threads -c$conns -d$DURATION --latency -H "$4" "$url")
  else
    out=$(wrk -t$threads -c$conns -d$DURATION --latency "$url")
  fi
  echo "== $name, $conns connection(s)"
  echo "$out" | grep -E "Requests/sec|Latency  |50%|90%|99%|Non-2xx|Socket errors" || true
  RPS[$name/$conns]=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  P50[$name/$conns]=$(echo "$out" | awk '$1=="50%" {print $2}')
}
us() { # wrk latency (e.g. 61.00us, 1.20ms) in microseconds
  awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n*1000; else print n*1000000 }'
}

CONNS=${*:-1 32}
for c in $CONNS; do
  run direct "$c" "http://127.0.0.1:$UP/x"
  run nginx "$c" "http://127.0.0.1:$NG/x"
  run countersign "$c" "http://127.0.0.1:$GW/x" "Countersign-Token: $BOT"
  run relaxed "$c" "http://127.0.0.1:$GW/relaxed/x" "Countersign-Token: $BOT"
done

echo
echo "== summary (throughput ratio; added p50 over direct)"
for c in $CONNS; do
  d=${RPS[direct/$c]}; n=${RPS[nginx/$c]}; g=${RPS[countersign/$c]}
  dp=$(us "${P50[direct/$c]}"); np=$(us "${P50[nginx/$c]}"); gp=$(us "${P50[countersign/$c]}")
  awk -v c="$c" -v d="$d" -v n="$n" -v g="$g" -v dp="$dp" -v np="$np" -v gp="$gp" 'BEGIN {
    printf "%2d conn: direct %8.0f req/s | nginx %8.0f (%.2fx direct, +%.0f us p50) | countersign %8.0f (%.2fx direct, %.2fx nginx, +%.0f us p50)\n",
      c, d, n, n/d, np-dp, g, g/d, g/n, gp-dp }'
  r=${RPS[relaxed/$c]}; rp=$(us "${P50[relaxed/$c]}")
  awk -v c="$c" -v d="$d" -v n="$n" -v r="$r" -v dp="$dp" -v rp="$rp" 'BEGIN {
    printf "%2d conn: countersign relaxed_reads %8.0f req/s (%.2fx direct, %.2fx nginx, +%.0f us p50)\n",
      c, r, r/d, r/n, rp-dp }'
done
size=$(curl -s http://127.0.0.1:$API/readyz | python3 -c 'import json,sys; print(json.load(sys.stdin)["audit_size"])')
echo "audit log entries after the run: $size"
