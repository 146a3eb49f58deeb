# Shared by the benchmarks in scripts/bench: setup, a release build, a
# throwaway work directory with tenants (scripts/lib/tenants.sh), timing.
# Source it from the repository root; it sets $bin and $work.

./scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/containarium-target}"
cargo build --release --quiet
bin="$CARGO_TARGET_DIR/release/containarium"
work=$(mktemp -d /var/tmp/containarium-bench.XXXXXX)
chmod 755 "$work"
# shellcheck source=scripts/lib/tenants.sh
. scripts/lib/tenants.sh
cleanup() { stop_daemon; tenants_cleanup; rm -rf "$work"; }
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.2f}')"; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
