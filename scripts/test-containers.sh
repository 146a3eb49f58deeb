#!/usr/bin/env bash
# The container drivers on real container managers (tests/containers), one
# manager after the other: scripts/fixtures/containers.sh starts the two
# tenant containers, runs the `containers` test binary with the fixture's
# KEY=VALUE variables exported (the in-process daemon's `lxc` / `incus` /
# `podman` / `docker` reach the fixture through them), and tears everything
# down, also when a test fails or hangs. Needs root. The first run builds and
# caches the tenants' rootfs (debootstrap: a few minutes); every manager and
# later runs reuse it.
#
# Extra arguments go to the test runner (e.g. a test-name filter).
# CONTAINERS_MANAGERS picks managers (default "lxd incus podman docker"; an
# empty list is an error, not a green run);
# CONTAINERS_TIMEOUT bounds each manager's run in seconds (default 900).
set -euo pipefail
cd "$(dirname "$0")/.."
managers=${CONTAINERS_MANAGERS-lxd incus podman docker}
read -r -a managers <<<"$managers"
if [ ${#managers[@]} -eq 0 ]; then
  echo "test-containers.sh: CONTAINERS_MANAGERS is empty: no manager to test" >&2
  exit 2
fi
for manager in "${managers[@]}"; do
  case $manager in
    lxd|incus|podman|docker) ;;
    *) echo "test-containers.sh: unknown manager '$manager' (lxd incus podman docker)" >&2; exit 2 ;;
  esac
done
./scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/containarium-target}"
if cargo nextest --version >/dev/null 2>&1; then
  run=(cargo nextest run --no-fail-fast --test containers)
else
  run=(cargo test --no-fail-fast --test containers)
fi
# Compile, and build the shared rootfs, before any manager is up.
cargo test --no-run --test containers
echo "test-containers.sh: compiled in $SECONDS s" >&2
scripts/fixtures/containers.sh rootfs
echo "test-containers.sh: rootfs ready at $SECONDS s" >&2

status=0
for manager in "${managers[@]}"; do
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
