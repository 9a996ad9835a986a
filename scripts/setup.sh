#!/usr/bin/env bash
# Installs what building and testing Countersign needs on Debian 12, as root
# (or with sudo): libclang for pg_query's bindgen, PostgreSQL and psql for
# the PostgreSQL proxy's tests. Idempotent; fast when all is present.
set -euo pipefail
need=()
dpkg -s libclang-dev >/dev/null 2>&1 || need+=(libclang-dev clang)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
ls /etc/postgresql >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The MCP gateway's tests drive it with the official Python MCP SDK, from a
# venv of the project's own (never a system-wide pip install).
here="$(cd "$(dirname "$0")/.." && pwd)"
py="$here/target/py"
if ! "$py/bin/python" -c "import mcp" >/dev/null 2>&1; then
  if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
  fi
  echo "installing the Python MCP SDK into $py"
  python3 -m venv "$py"
  "$py/bin/pip" install -q "mcp==1.30.0"
fi
