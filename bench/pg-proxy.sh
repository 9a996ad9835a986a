#!/usr/bin/env bash
# PostgreSQL proxy benchmark: pgbench direct, through pgbouncer, and
# through Countersign (per-statement classification, Cedar policy and a
# durable audit entry for every statement), in one run, with ratios.
#
#   bench/pg-proxy.sh                 # 10 s per run
#   DURATION=30 bench/pg-proxy.sh
#
# Needs: the machine's PostgreSQL (127.0.0.1:5432, trust auth), pgbench,
# psql, pgbouncer (apt-get install -y pgbouncer), and a release build of
# countersign (built here). Runs pgbouncer as the `postgres` user, in its
# own temporary directory. Sends traffic to 127.0.0.1 only.
set -euo pipefail

DURATION=${DURATION:-10}
SCALE=${SCALE:-10}
PGPORT_DIRECT=5432
PGB_PORT=${PGB_PORT:-6439}
CS_PG_PORT=${CS_PG_PORT:-6440}
CS_API_PORT=${CS_API_PORT:-8760}
DB=cs_bench
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d /tmp/cs-pgbench.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
  [[ -f $WORK/pgb/pgbouncer.pid ]] && kill "$(cat "$WORK/pgb/pgbouncer.pid")" 2>/dev/null || true
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

for bin in pgbench psql pgbouncer; do
  command -v "$bin" >/dev/null || { echo "missing $bin (apt-get install -y postgresql-client pgbouncer)"; exit 1; }
done
if ! psql -X -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  sleep 2
fi

echo "== building countersign (release)"
(cd "$ROOT" && cargo build --release -q -p countersign)
CS="$TARGET_DIR/release/countersign"

echo "== database $DB (pgbench -i -s $SCALE)"
psql -X -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
pgbench -q -i -s "$SCALE" -h 127.0.0.1 -U postgres "$DB" >/dev/null 2>&1

echo "== pgbouncer on :$PGB_PORT (transaction pooling)"
mkdir -p "$WORK/pgb"
cat > "$WORK/pgb/pgbouncer.ini" <<INI
[databases]
$DB = host=127.0.0.1 port=$PGPORT_DIRECT dbname=$DB user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir =
auth_type = trust
auth_file = $WORK/pgb/users.txt
pool_mode = transaction
default_pool_size = 20
max_client_conn = 200
logfile = $WORK/pgb/pgbouncer.log
pidfile = $WORK/pgb/pgbouncer.pid
INI
echo '"postgres" ""' > "$WORK/pgb/users.txt"
chown -R postgres "$WORK/pgb"
runuser -u postgres -- pgbouncer -q "$WORK/pgb/pgbouncer.ini" > "$WORK/pgb/out.log" 2>&1 &
PIDS+=($!)

echo "== countersign on :$CS_PG_PORT (API :$CS_API_PORT)"
"$CS" init "$WORK/cs" > "$WORK/init.txt"
ADMIN_TOKEN=$(grep -Eo 'cs_[0-9a-f]{12}_[A-Za-z0-9_-]{43}' "$WORK/init.txt" | head -1)
sed -i "s/^listen = .*/listen = \"127.0.0.1:$CS_API_PORT\"/" "$WORK/cs/countersign.toml"
cat >> "$WORK/cs/countersign.toml" <<TOML

[postgres]
listen = "127.0.0.1:$CS_PG_PORT"
approval_wait_secs = 5

[postgres.targets.$DB]
host = "127.0.0.1"
port = $PGPORT_DIRECT
database = "$DB"
environment = "dev"
user = "postgres"

# The same database, with allowed reads acknowledged once committed to the
# log rather than after the flush (writes stay strict).
[postgres.targets.${DB}_relaxed]
host = "127.0.0.1"
port = $PGPORT_DIRECT
database = "$DB"
environment = "dev"
user = "postgres"
durability = "relaxed_reads"
TOML
COUNTERSIGN_LOG=warn "$CS" serve --config "$WORK/cs/countersign.toml" > "$WORK/cs.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$CS_API_PORT/healthz" >/dev/null 2>&1 && break
  (exec 3<>/dev/tcp/127.0.0.1/$CS_PG_PORT) 2>/dev/null && break
  sleep 0.1
done
sleep 0.5
export COUNTERSIGN_SERVER="http://127.0.0.1:$CS_API_PORT" COUNTERSIGN_TOKEN="$ADMIN_TOKEN"
"$CS" principals add --kind user --group engineer bench >/dev/null
BENCH_TOKEN=$("$CS" tokens create --principal bench | grep -Eo 'cs_[0-9a-f]{12}_[A-Za-z0-9_-]{43}' | head -1)
# The first login goes over TLS (the token is checked); pgbench then uses
# SCRAM without TLS, like the other two.
PGPASSWORD=$BENCH_TOKEN psql -X -q "host=127.0.0.1 port=$CS_PG_PORT dbname=$DB user=bench sslmode=require" -c 'select 1' >/dev/null

# run NAME CONNINFO PASSWORD MODE SCRIPT CLIENTS -> "tps p50_us"
run() {
  local name=$1 conn=$2 pw=$3 mode=$4 script=$5 clients=$6
  local jobs=$(( clients < 2 ? 1 : 2 ))
  local flags=(-n -M "$mode" -c "$clients" -j "$jobs" -T "$DURATION")
  [[ $script == select ]] && flags+=(-S)
  local logdir="$WORK/log-$name-$mode-$script-$clients"
  mkdir -p "$logdir"
  local out
  out=$(cd "$logdir" && PGPASSWORD=$pw pgbench "${flags[@]}" -l --log-prefix=tx "$conn" 2>&1) || { echo "$out" >&2; echo "0 0"; return; }
  local tps
  tps=$(echo "$out" | grep -Eo 'tps = [0-9.]+' | head -1 | awk '{print $3}')
  # Per-transaction latency (µs) is column 3 of pgbench's log.
  local p50
  p50=$(cat "$logdir"/tx* | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "$tps $p50"
}

declare -A TPS P50
TARGETS=(direct pgbouncer countersign cs_relaxed)
conninfo() {
  case $1 in
    direct) echo "host=127.0.0.1 port=$PGPORT_DIRECT dbname=$DB user=postgres sslmode=disable" ;;
    pgbouncer) echo "host=127.0.0.1 port=$PGB_PORT dbname=$DB user=postgres sslmode=disable" ;;
    countersign) echo "host=127.0.0.1 port=$CS_PG_PORT dbname=$DB user=bench sslmode=disable" ;;
    cs_relaxed) echo "host=127.0.0.1 port=$CS_PG_PORT dbname=${DB}_relaxed user=bench sslmode=disable" ;;
  esac
}
password() { [[ $1 == countersign || $1 == cs_relaxed ]] && echo "$BENCH_TOKEN" || echo ""; }

for script in select tpcb; do
  for mode in simple extended; do
    for clients in 1 16; do
      for t in "${TARGETS[@]}"; do
        read -r tps p50 < <(run "$t" "$(conninfo "$t")" "$(password "$t")" "$mode" "$script" "$clients")
        TPS[$t,$script,$mode,$clients]=$tps
        P50[$t,$script,$mode,$clients]=$p50
        printf '  %-11s %-6s %-8s c=%-2s  tps %10.1f  p50 %6s us\n' "$t" "$script" "$mode" "$clients" "$tps" "$p50"
      done
    done
  done
done

echo
echo "== summary (duration ${DURATION}s per run, scale $SCALE, $(nproc) cores)"
printf '%-7s %-8s %-3s | %10s %10s %10s %10s | %8s %8s %8s | %9s %9s %9s %9s | %9s %9s\n' \
  script mode c direct pgbouncer countersign cs_relaxed cs/direct cs/pgb rlx/pgb p50_direct p50_pgb p50_cs p50_rlx cs_added rlx_added
for script in select tpcb; do
  for mode in simple extended; do
    for clients in 1 16; do
      d=${TPS[direct,$script,$mode,$clients]}; b=${TPS[pgbouncer,$script,$mode,$clients]}
      c=${TPS[countersign,$script,$mode,$clients]}; r=${TPS[cs_relaxed,$script,$mode,$clients]}
      pd=${P50[direct,$script,$mode,$clients]}; pb=${P50[pgbouncer,$script,$mode,$clients]}
      pc=${P50[countersign,$script,$mode,$clients]}; pr=${P50[cs_relaxed,$script,$mode,$clients]}
      awk -v s="$script" -v m="$mode" -v n="$clients" -v d="$d" -v b="$b" -v c="$c" -v r="$r" \
          -v pd="$pd" -v pb="$pb" -v pc="$pc" -v pr="$pr" 'BEGIN {
        printf "%-7s %-8s %-3s | %10.0f %10.0f %10.0f %10.0f | %7.2fx %7.2fx %7.2fx | %9d %9d %9d %9d | %+8dus %+8dus\n",
          s, m, n, d, b, c, r, (d>0?c/d:0), (b>0?c/b:0), (b>0?r/b:0), pd, pb, pc, pr, pc-pd, pr-pd }'
    done
  done
done
echo
echo "Each countersign transaction: every statement parsed (pg_query), classified, decided by Cedar,"
echo "and its decision appended durably to the audit log (SQLite WAL, fdatasync before the statement runs, group commit)."
echo "cs_relaxed: the same, but an allowed read runs once its decision is committed; the flush follows."
AUDIT=$(sqlite3 "$WORK/cs/countersign.db" 'select count(*) from audit_entries' 2>/dev/null || echo "?")
echo "Audit entries written during the run: $AUDIT"
