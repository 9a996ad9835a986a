#!/usr/bin/env bash
# Installs what building and serving Countersign needs on Debian 12, as root
# (or with sudo): libclang for pg_query's bindgen (the SQL parser is built
# into the binary), and curl, which the README's walkthrough uses.
# Idempotent; fast when all is present. What only the tests need (a
# PostgreSQL server, Chromium, Python packages) is in scripts/setup-tests.sh.
set -euo pipefail
need=()
dpkg -s libclang-dev >/dev/null 2>&1 || need+=(libclang-dev clang)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
