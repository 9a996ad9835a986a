#!/usr/bin/env bash
# Runs the documentation: the README's walkthrough (and its change
# authorization and policies sections) and docs/changes.md's change
# walkthrough, verbatim, each against a fresh instance started as the quick
# start says, and fails on a command that fails or on output shown in the
# docs that the command does not print. CI runs the same test as part of
# scripts/test.sh (crates/cli/tests/it/walkthrough/).
#
# Writing runnable docs, in those sections:
#   - every ```sh block runs, in order, in one bash session;
#   - `#   text` (a hash and three spaces) under a command is output it must
#     print, in that order; `…` stands for anything;
#   - `#   (exit N)` under a command: it must exit with N (otherwise 0);
#   - placeholders a reader copies from their screen are filled in: cs_…
#     (the admin token), apr_… (the newest pending approval), chg_… (the
#     newest change), countersign.local/audit+… (the verifier key), and
#     port 8750 becomes the instance's own;
#   - nothing may touch anything outside the instance (no real databases).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo test -p countersign --test it --locked walkthrough -- --nocapture "$@"
