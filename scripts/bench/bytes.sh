#!/usr/bin/env bash
# The byte path against raw pg_dump / pg_restore, in one run on one database:
# create and restore with each encoding (pg_dump's zlib, daemon zstd, zstd +
# age, zlib + age) as ratios against raw `pg_dump -Fc -f` and `pg_restore -1`
# of the same database, stored sizes against raw -Fc, the daemon's own CPU
# seconds per operation (steadier than wall time on a small host: it is what
# the daemon takes from pg_dump and the server) and its peak RSS. Medians of
# RUNS (default 3). A benchmark, not a test.
#
# Every create and restore through the daemon is paired with a raw one run
# just before it, and the ratio is the median of the pairs: a cluster that
# has restored and dropped a few databases restores ~15% slower than a fresh
# one, so raw figures taken once at the start would flatter the raw tool.
# A second table restores archives with raw pg_restore -1 from different
# inputs (a file, a pipe, zstd -d), each paired the same way, to tell what a
# restore through the daemon costs apart from what the input does.
#
# The database is the mixed one of issue 12: users with jsonb, events with an
# index, 1 KiB bytea rows; SCALE=1 (default) is ~850 MB, SCALE=0.25 a quarter.
# Needs root. Builds in release mode.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib/bench.sh
. scripts/lib/bench.sh
scale="${SCALE:-1}"
runs="${RUNS:-3}"
n() { python3 -c "print(int($1 * $scale))"; }

tenant bench
ns=$(tenant_netns bench)
sql bench postgres "CREATE DATABASE big"
echo "building the mixed database (SCALE=$scale)…"
sql bench big "CREATE TABLE users AS SELECT g AS id, 'user' || g AS name,
  jsonb_build_object('email', 'u' || g || '@example.com', 'tags', jsonb_build_array(md5(g::text), g % 17),
                     'profile', jsonb_build_object('bio', repeat(md5((g*3)::text), 6), 'score', g % 1000)) AS doc
  FROM generate_series(1, $(n 500000)) g"
sql bench big "CREATE TABLE events AS SELECT g AS id, (g % $(n 500000)) + 1 AS user_id,
  now() - (g % 86400) * interval '1 second' AS at, md5(g::text) || md5((g*7)::text) AS payload
  FROM generate_series(1, $(n 4000000)) g"
sql bench big "CREATE INDEX ON events(user_id, at)"
sql bench big "CREATE TABLE blobs AS SELECT g AS id, decode(string_agg(md5(g::text || '.' || x), ''), 'hex') AS b
  FROM generate_series(1, $(n 100000)) g, generate_series(1, 64) x GROUP BY g"
echo "database: $(sql bench big "SELECT pg_size_pretty(pg_database_size('big'))")"

pgdump() { ip netns exec "$ns" pg_dump -h 127.0.0.1 -U postgres -d big "$@"; }
raw_dumps=()
for _ in $(seq "$runs"); do
  t0=$(now); pgdump -Fc -f "$work/raw.dump"; raw_dumps+=("$(elapsed "$t0" "$(now)")")
done
raw_dump=$(median "${raw_dumps[@]}")
raw_size=$(stat -c %s "$work/raw.dump")
t0=$(now); pgdump -Fc -Z0 -f "$work/z0.dump"; z0_dump=$(elapsed "$t0" "$(now)")
z0_size=$(stat -c %s "$work/z0.dump")
t0=$(now); pgdump -Fc -Z0 | zstd -3 -T0 -q > "$work/z0.zst"; zst_pipe=$(elapsed "$t0" "$(now)")
zst_pipe_size=$(stat -c %s "$work/z0.zst")
rm -f "$work/z0.dump" "$work/z0.zst"

# Raw pg_restore -1 into a new database, run as `sh -c "$1"` with PGR
# standing for pg_restore and its arguments: seconds.
restore_of() {
  sql bench postgres "CREATE DATABASE inputs"
  local t0 pgr="pg_restore -h 127.0.0.1 -U postgres -d inputs --single-transaction --exit-on-error"
  t0=$(now)
  ip netns exec "$ns" sh -c "${1//PGR/$pgr}"
  elapsed "$t0" "$(now)"
  sql bench postgres "DROP DATABASE inputs"
}
raw_restores=()
for _ in $(seq "$runs"); do raw_restores+=("$(restore_of "PGR < $work/raw.dump")"); done
raw_restore=$(median "${raw_restores[@]}")

age-keygen -o "$work/key.txt" 2>/dev/null
recipient=$(age-keygen -y "$work/key.txt")
# One container, four tenant names, one encoding each.
cat > "$work/containarium.toml" <<TOML
backup-dir = "$work/backups"
[server]
grpc-listen = "127.0.0.1:0"
http-listen = "127.0.0.1:0"
[tenants.zlib]
driver = "netns"
container = "$ns"
[tenants.zstd]
driver = "netns"
container = "$ns"
dump = { compression = "zstd" }
[tenants.zstdage]
driver = "netns"
container = "$ns"
dump = { compression = "zstd", recipients = ["$recipient"], identity-file = "$work/key.txt" }
[tenants.zlibage]
driver = "netns"
container = "$ns"
dump = { recipients = ["$recipient"], identity-file = "$work/key.txt" }
TOML
head -c 48 /dev/urandom | base64 > "$work/jwt-secret"
export CONTAINARIUM_JWT_SECRET_FILE="$work/jwt-secret"
start_daemon "$work/containarium.toml"
"$bin" token mint --config "$work/containarium.toml" --username bench --roles admin > "$work/token"
cli() { "$bin" backup --token-file "$work/token" "$@"; }
# The daemon's user + system CPU seconds so far.
cpu() { awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$daemon_pid/stat"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['record']['$1'])"; }
declare -A stored

printf '\nraw pg_dump -Fc: %ss, %s bytes; pg_restore -1: %ss (medians of %s)\n' "$raw_dump" "$raw_size" "$raw_restore" "$runs"
printf 'raw pg_dump -Fc -Z0: %ss (%s× of -Fc), %s bytes\n' "$z0_dump" "$(ratio "$z0_dump" "$raw_dump")" "$z0_size"
printf 'raw pg_dump -Fc -Z0 | zstd -3 -T0: %ss (%s× of -Fc), %s bytes (%s× of -Fc)\n\n' \
  "$zst_pipe" "$(ratio "$zst_pipe" "$raw_dump")" "$zst_pipe_size" "$(ratio "$zst_pipe_size" "$raw_size")"
echo "ratios: medians over runs, each run against a raw pg_dump -Fc -f / pg_restore -1 run just before it"
printf '| %-12s | %9s | %12s | %10s | %10s | %12s | %10s | %11s |\n' encoding "create s" "create ratio" \
  "size ratio" "restore s" "restore ratio" "create cpu" "restore cpu"
printf '|%s|\n' "--------------|-----------|--------------|------------|------------|---------------|------------|------------"
for enc in zlib zstd zstdage zlibage; do
  creates=() create_ratios=() restores=() restore_ratios=() ids=() create_cpu=() restore_cpu=()
  for _ in $(seq "$runs"); do
    t0=$(now); pgdump -Fc -f "$work/pair.dump"; raw=$(elapsed "$t0" "$(now)")
    c0=$(cpu); t0=$(now)
    json=$(cli create "$enc" --database big --output json)
    creates+=("$(elapsed "$t0" "$(now)")")
    create_cpu+=("$(elapsed "$c0" "$(cpu)")")
    create_ratios+=("$(ratio "${creates[-1]}" "$raw")")
    ids+=("$(echo "$json" | field id)")
    stored[$enc]=$(echo "$json" | field location)
    size=$(echo "$json" | python3 -c "import json,sys; print(json.load(sys.stdin)['record']['sizeBytes'])")
  done
  rm -f "$work/pair.dump"
  for i in $(seq "$runs"); do
    raw=$(restore_of "PGR < $work/raw.dump")
    c0=$(cpu); t0=$(now)
    cli restore "${ids[$((i - 1))]}" --database "copy_${enc}_$i" > /dev/null
    restores+=("$(elapsed "$t0" "$(now)")")
    restore_cpu+=("$(elapsed "$c0" "$(cpu)")")
    restore_ratios+=("$(ratio "${restores[-1]}" "$raw")")
    sql bench postgres "DROP DATABASE copy_${enc}_$i"
  done
  printf '| %-12s | %9s | %11s× | %9s× | %10s | %12s× | %10s | %11s |\n' "$enc" "$(median "${creates[@]}")" \
    "$(median "${create_ratios[@]}")" "$(ratio "$size" "$raw_size")" "$(median "${restores[@]}")" \
    "$(median "${restore_ratios[@]}")" "$(median "${create_cpu[@]}")" "$(median "${restore_cpu[@]}")"
  [ "$enc" = zlib ] || [ "$enc" = zstd ] || for id in "${ids[@]}"; do cli delete "$id" > /dev/null; done
done
peak=$(awk '/VmHWM/ {print $2 " " $3}' "/proc/$daemon_pid/status")

# pg_dump writing into a pipe (as in a container) records no data offsets;
# a restore reads the archive through a pipe. Each row isolates one of these.
echo
printf '| %-52s | %9s | %13s |\n' "raw pg_restore -1 of" "restore s" "vs -Fc -f file"
printf '|%s|\n' "------------------------------------------------------|-----------|---------------"
for row in "raw pg_dump -Fc -f file, through a pipe|cat $work/raw.dump | PGR" \
  "daemon's zlib dump (no offsets), from the file|PGR < ${stored[zlib]}" \
  "daemon's zlib dump (no offsets), through a pipe|cat ${stored[zlib]} | PGR" \
  "daemon's zstd dump, zstd -d through a pipe|zstd -d -q < ${stored[zstd]} | PGR"; do
  raw=$(restore_of "PGR < $work/raw.dump")
  t=$(restore_of "${row#*|}")
  printf '| %-52s | %9s | %12s× |\n' "${row%%|*}" "$t" "$(ratio "$t" "$raw")"
done
echo
echo "daemon peak RSS: $peak; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); cores: $(nproc)"
