#!/usr/bin/env bash
# Load: 200 readers listing (page by page) and getting backups over gRPC,
# REST and MCP at once while five creates and two restores stream on a real
# tenant, against the daemon binary. Prints how long each write took, p50 /
# p99 / max latency per surface and call, and the daemon's peak RSS. The
# measurement is the load test itself (tests/daemon/load.rs, which also
# asserts 0 errors, every answer, the restores row for row and the RSS
# bound), so the benchmark and the test cannot drift apart; here it runs in
# release with longer streams. A benchmark, not a test run: by hand, as root,
# after ./scripts/setup.sh; it leaves nothing behind.
#   [PROFILE=release|dev] [MIB=32] scripts/bench/load.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PROFILE=${PROFILE:-release}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/containarium-target}"
export CONTAINARIUM_LOAD_MIB=${MIB:-32}

./scripts/setup.sh >/dev/null
flags=()
[ "$PROFILE" = release ] && flags+=(--release)
echo "building the $PROFILE daemon and load test..."
cargo test "${flags[@]}" --quiet --no-run --test daemon
echo "$(date -u +%F), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "$CONTAINARIUM_LOAD_MIB MiB per write, $PROFILE"
out=$(cargo test "${flags[@]}" --quiet --test daemon -- --exact \
  load::two_hundred_readers_beside_streaming_creates_and_restores --nocapture 2>&1) || {
  printf '%s\n' "$out" >&2
  exit 1
}
printf '%s\n' "$out" | grep -E '^(create|restore|load:|peak daemon RSS| +calls|Grpc|Rest|Mcp) '
