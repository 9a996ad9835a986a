#!/usr/bin/env bash
# POST /v1/decisions over HTTP with the durable audit log on (group commit,
# synchronous=FULL), driven by wrk from the same machine.
#
#   bench/http-decisions.sh [connections...]     (default: 1 32)
#
# Needs wrk (apt-get install wrk); builds the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -qq wrk >/dev/null; }
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q -p countersign
BIN=$PWD/target/release/countersign
DATA=$(mktemp -d)
PORT=${PORT:-18799}
URL=http://127.0.0.1:$PORT
trap 'kill $SERVER 2>/dev/null && wait $SERVER 2>/dev/null; rm -rf "$DATA"' EXIT

$BIN init "$DATA" > "$DATA/init.out"
export COUNTERSIGN_TOKEN=$(grep -o 'cs_[A-Za-z0-9_-]*' "$DATA/init.out")
COUNTERSIGN_LOG=warn $BIN serve --data-dir "$DATA" --listen 127.0.0.1:$PORT &
SERVER=$!
for _ in $(seq 100); do curl -sf $URL/readyz >/dev/null && break; sleep 0.1; done
export COUNTERSIGN_SERVER=$URL
$BIN principals add owner --kind user >/dev/null
$BIN principals add bench-bot --kind agent --owner owner --group engineer >/dev/null
BOT=$($BIN tokens create --principal bench-bot 2>/dev/null)

cat > "$DATA/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer $BOT"
wrk.body = '{"action":"sql.read","resource":{"type":"Table","id":"orders"},"environment":"prod","context":{"sql":{"statement":"SELECT * FROM orders WHERE id = 42"}}}'
LUA

for c in "${@:-1 32}"; do
  for conns in $c; do
    threads=$(( conns < 2 ? 1 : 2 ))
    echo "== POST /v1/decisions, $conns connection(s), allow path, durable audit"
    wrk -t$threads -c$conns -d10s --latency -s "$DATA/post.lua" $URL/v1/decisions \
      | grep -E "Requests/sec|Latency  |50%|90%|99%|Non-2xx|Socket errors"
  done
done
size=$(curl -s $URL/readyz | python3 -c 'import json,sys; print(json.load(sys.stdin)["audit_size"])')
echo "audit log entries after the run: $size"
