#!/usr/bin/env bash
# Speed and memory against raw pg_dump / pg_restore on the same database.
# Prints wall-clock seconds and the ratio containarium / raw for a dump and a
# restore, and the daemon's peak RSS (VmHWM). A benchmark, not a test: the
# numbers depend on the machine. SIZE_MB (default 256) sets the table size.
# Needs root. Builds in release mode.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib/bench.sh
. scripts/lib/bench.sh
size_mb="${SIZE_MB:-256}"

tenant bench
ns=$(tenant_netns bench)
sql bench postgres "CREATE DATABASE big"
# ~1 MB per 7,000 rows of this shape (md5 text is incompressible enough).
rows=$((size_mb * 7000))
sql bench big "CREATE TABLE t AS SELECT g, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) AS h FROM generate_series(1, $rows) g"
echo "table: $(sql bench big "SELECT pg_size_pretty(pg_total_relation_size('t'))")"

t0=$(now)
ip netns exec "$ns" pg_dump -Fc -h 127.0.0.1 -U postgres -d big > "$work/raw.dump"
raw_dump=$(elapsed "$t0" "$(now)")

cat > "$work/containarium.toml" <<TOML
backup-dir = "$work/backups"
[server]
grpc-listen = "127.0.0.1:0"
http-listen = "127.0.0.1:0"
[tenants.bench]
driver = "netns"
container = "$ns"
TOML
head -c 48 /dev/urandom | base64 > "$work/jwt-secret"
export CONTAINARIUM_JWT_SECRET_FILE="$work/jwt-secret"
start_daemon "$work/containarium.toml"
"$bin" token mint --config "$work/containarium.toml" --username bench --roles admin > "$work/token"
cli() { "$bin" backup --token-file "$work/token" "$@"; }

t0=$(now)
id=$(cli create bench --database big --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["record"]["id"])')
ours_dump=$(elapsed "$t0" "$(now)")

sql bench postgres "CREATE DATABASE raw_copy"
t0=$(now)
ip netns exec "$ns" pg_restore -h 127.0.0.1 -U postgres -d raw_copy --single-transaction --exit-on-error < "$work/raw.dump"
raw_restore=$(elapsed "$t0" "$(now)")

t0=$(now)
cli restore "$id" --database our_copy > /dev/null
ours_restore=$(elapsed "$t0" "$(now)")
peak=$(awk '/VmHWM/ {print $2 " " $3}' "/proc/$daemon_pid/status")

printf '\n%-10s %10s %14s %8s\n' "" "raw (s)" "containarium (s)" "ratio"
printf '%-10s %10s %14s %8s\n' dump "$raw_dump" "$ours_dump" "$(ratio "$ours_dump" "$raw_dump")"
printf '%-10s %10s %14s %8s\n' restore "$raw_restore" "$ours_restore" "$(ratio "$ours_restore" "$raw_restore")"
echo "archive: $(du -h "$work/raw.dump" | cut -f1); daemon peak RSS: $peak"
echo "(containarium's dump includes the relation and row-count manifests; its restore includes the SHA-256 check of the dump, hashed in place)"
