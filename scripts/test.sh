#!/usr/bin/env bash
# The project's test command (the README's, and what .ci/run calls).
# Installs or starts whatever the tests need, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh        # what the build needs
scripts/setup-tests.sh  # what only the tests need (PostgreSQL, Chromium, Python)
# The PostgreSQL proxy's tests run against the machine's PostgreSQL
# (127.0.0.1:5432, trust auth, database `test`); start it if it is down.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  for _ in $(seq 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
fi
exec cargo test --workspace --locked "$@"
