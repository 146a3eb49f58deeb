#!/usr/bin/env bash
# Runs the quick suite: unit tests, and integration tests against real
# Postgres tenants (each in its own network namespace). Needs root.
# Extra arguments go to the test runner (e.g. a test-name filter).
# The tests on real container managers (tests/containers) are left out:
# they need scripts/fixtures/containers.sh and run in their own step,
# ./scripts/test-containers.sh. The REST contract (scripts/contract.sh,
# schemathesis) runs last, after the suite passed.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/containarium-target}"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast -E 'not binary(containers)' "$@"
else
  # cargo test cannot leave one test target out: name all the others.
  targets=(--lib --bins)
  for main in tests/*/main.rs tests/*.rs; do
    [ -e "$main" ] || continue
    name=${main#tests/}; name=${name%/main.rs}; name=${name%.rs}
    [ "$name" = containers ] || targets+=(--test "$name")
  done
  cargo test --workspace --no-fail-fast "${targets[@]}" "$@"
fi
./scripts/contract.sh
