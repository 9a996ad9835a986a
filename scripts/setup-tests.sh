#!/usr/bin/env bash
# Installs what the tests need beyond the build (scripts/setup.sh), on
# Debian 12, as root (or with sudo): PostgreSQL and psql for the PostgreSQL
# proxy's tests, curl for the HTTP gateway's, Chromium and chromedriver for
# the console's browser test, and a Python venv with the MCP SDK and
# standardwebhooks. Idempotent; fast when all is present. scripts/test.sh
# runs it; serving Countersign needs none of this.
set -euo pipefail
need=()
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
ls /etc/postgresql >/dev/null 2>&1 || need+=(postgresql)
# The HTTP gateway's tests drive it with curl.
command -v curl >/dev/null 2>&1 || need+=(curl)
# The web console's browser test drives Debian's Chromium through chromedriver.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Python packages the tests drive the gateway with, in a venv of the
# project's own (never a system-wide pip install): the official MCP SDK (the
# MCP gateway's client) and `standardwebhooks` (verifies our webhook
# signatures in the notification tests).
here="$(cd "$(dirname "$0")/.." && pwd)"
py="$here/target/py"
if ! "$py/bin/python" -c "import mcp, standardwebhooks" >/dev/null 2>&1; then
  if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
  fi
  echo "installing the Python MCP SDK and standardwebhooks into $py"
  python3 -m venv "$py"
  "$py/bin/pip" install -q "mcp==1.30.0" "standardwebhooks==1.1.0"
fi
