#!/usr/bin/env bash
# MCP tools/call round trips: an rmcp Streamable HTTP upstream called
# directly, and the same upstream through `countersign serve` (policy and
# durable audit on: each call's decision waits for its fsync), at 1 and 32
# concurrent sessions, in one run. Then memory per idle gateway session.
#
#   bench/mcp.sh [secs] [sessions...]     (default: 5 1 32)
#
# Builds release binaries (countersign and the two examples).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}; shift || true
SESSIONS=${*:-1 32}
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q -p countersign -p countersign-mcp --examples --bin countersign
BIN=$PWD/target/release/countersign
EX=$PWD/target/release/examples
DATA=$(mktemp -d)
PORT=${PORT:-18798}
URL=http://127.0.0.1:$PORT
cleanup() { kill $SERVER $UPSTREAM 2>/dev/null; wait 2>/dev/null; rm -rf "$DATA"; }
trap cleanup EXIT

$EX/mcp_test_upstream --http 127.0.0.1:0 > "$DATA/upstream.out" &
UPSTREAM=$!
for _ in $(seq 100); do grep -q listening "$DATA/upstream.out" 2>/dev/null && break; sleep 0.1; done
UP_URL="http://$(sed -n 's/^listening on //p' "$DATA/upstream.out")/mcp"

$BIN init "$DATA" > "$DATA/init.out"
export COUNTERSIGN_TOKEN=$(grep -o 'cs_[A-Za-z0-9_-]*' "$DATA/init.out" | head -1)
cat >> "$DATA/policies/policies.cedar" <<CEDAR

@id("bench-echo")
permit (principal, action == Action::"mcp.call", resource == Tool::"remote.echo");
CEDAR
cat >> "$DATA/countersign.toml" <<TOML

[mcp]
pin = "first-use"
[[mcp.upstreams]]
name = "remote"
environment = "dev"
url = "$UP_URL"
headers = { Authorization = "Bearer upstream-secret" }
TOML
COUNTERSIGN_LOG=warn $BIN serve --data-dir "$DATA" --listen 127.0.0.1:$PORT &
SERVER=$!
for _ in $(seq 100); do curl -sf $URL/readyz >/dev/null && break; sleep 0.1; done
export COUNTERSIGN_SERVER=$URL
$BIN principals add owner --kind user >/dev/null
$BIN principals add bench-bot --kind agent --owner owner --group engineer >/dev/null
BOT=$($BIN tokens create --principal bench-bot 2>/dev/null)

echo "load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
$EX/mcp_bench "$UP_URL" "$URL/mcp" "$BOT" "$SECS" $SESSIONS

# Memory per idle session: RSS of the server before and after 5,000 sessions.
rss() { awk '/VmRSS/ {print $2}' /proc/$SERVER/status; }
before=$(rss)
mkfifo "$DATA/hold"
$EX/mcp_bench "$URL/mcp" "$BOT" --idle 5000 < "$DATA/hold" > "$DATA/idle.out" &
IDLE=$!
exec 3>"$DATA/hold"
for _ in $(seq 600); do grep -q opened "$DATA/idle.out" 2>/dev/null && break; sleep 0.1; done
after=$(rss)
exec 3>&-
wait $IDLE 2>/dev/null || true
echo "idle sessions: 5000; server RSS ${before} kB -> ${after} kB: $(( (after - before) * 1024 / 5000 )) bytes per idle session"
