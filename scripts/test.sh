#!/usr/bin/env bash
# Runs every test: unit tests, and integration tests against real Postgres
# tenants (each in its own network namespace). Needs root.
# Extra arguments go to the test runner (e.g. a test-name filter).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/containarium-target}"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast "$@"
else
  cargo test --no-fail-fast "$@"
fi
