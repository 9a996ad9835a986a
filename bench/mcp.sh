#!/usr/bin/env bash
# MCP tools/call round trips: an rmcp Streamable HTTP upstream called
# directly, and the same upstream through the Countersign MCP gateway
# (policy and durable audit on: each call's decision waits for its fsync),
# at 1 and 32 concurrent sessions, in one run; then memory per idle session.
#
#   bench/mcp.sh [secs] [sessions...]     (default: 5 1 32)
#
# Builds the release examples (the upstream and the benchmark, which hosts
# the gateway in process on its own runtime).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}; shift || true
SESSIONS=${*:-1 32}
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q -p countersign-mcp --examples
EX=$PWD/target/release/examples
OUT=$(mktemp)
trap 'kill $UPSTREAM 2>/dev/null; wait 2>/dev/null; rm -f "$OUT"' EXIT
$EX/mcp_test_upstream --http 127.0.0.1:0 > "$OUT" &
UPSTREAM=$!
for _ in $(seq 100); do grep -q listening "$OUT" 2>/dev/null && break; sleep 0.1; done
UP_URL="http://$(sed -n 's/^listening on //p' "$OUT")/mcp"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
$EX/mcp_bench "$UP_URL" "$SECS" $SESSIONS
