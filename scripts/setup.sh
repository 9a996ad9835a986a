#!/usr/bin/env bash
# Installs what building and testing Countersign needs on Debian 12, as root
# (or with sudo): libclang for pg_query's bindgen, PostgreSQL and psql for
# the PostgreSQL proxy's tests, Chromium and chromedriver for the console's
# browser test. Idempotent; fast when all is present.
set -euo pipefail
need=()
dpkg -s libclang-dev >/dev/null 2>&1 || need+=(libclang-dev clang)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
ls /etc/postgresql >/dev/null 2>&1 || need+=(postgresql)
# The web console's browser test drives Debian's Chromium through chromedriver.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
