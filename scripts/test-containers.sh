#!/usr/bin/env bash
# The container drivers on real container managers (tests/containers), one
# manager after the other: scripts/fixtures/containers.sh starts the two
# tenant containers, runs the `containers` test binary with the fixture's
# KEY=VALUE variables exported (the in-process daemon's `lxc` / `podman`
# reach the fixture through them), and tears everything down, also when a
# test fails or hangs. Needs root. The first run builds and caches the
# tenants' rootfs (debootstrap: a few minutes); later runs reuse it.
#
# Extra arguments go to the test runner (e.g. a test-name filter).
# CONTAINERS_MANAGERS picks managers (default "lxd podman");
# CONTAINERS_TIMEOUT bounds each manager's run in seconds (default 900).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/containarium-target}"
if cargo nextest --version >/dev/null 2>&1; then
  run=(cargo nextest run --no-fail-fast --test containers)
else
  run=(cargo test --no-fail-fast --test containers)
fi
# Compile before any manager is up.
cargo test --no-run --test containers
echo "test-containers.sh: compiled in $SECONDS s" >&2

status=0
for manager in ${CONTAINERS_MANAGERS:-lxd podman}; do
  start=$SECONDS
  if scripts/fixtures/containers.sh with "$manager" -- \
      timeout --kill-after=30 "${CONTAINERS_TIMEOUT:-900}" "${run[@]}" "$@"; then
    result=passed
  else
    result=FAILED
    status=1
  fi
  echo "test-containers.sh: $manager $result in $((SECONDS - start)) s (up, tests, down)" >&2
done
echo "test-containers.sh: total $SECONDS s" >&2
exit $status
