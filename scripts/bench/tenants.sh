#!/usr/bin/env bash
# Many tenants at once (issue 12 item 5): TENANTS (default 20) tenants of
# ~SIZE_MB (default 40) MB each, backed up by one `create --all-tenants`,
# against the sum of the raw dumps the same run takes serially (pg_dump -Fc
# of every database the daemon dumps, plus pg_dumpall --globals-only) divided
# by the cores, and against the same raw dumps run as many at a time as
# there are cores. Goal: 0 failures, wall <= 1.2x (raw sum / cores). Prints the
# daemon's peak RSS. A benchmark, not a test. Needs root. Release build.
#   [TENANTS=20] [SIZE_MB=40] [COMPRESSION=zlib|zstd] scripts/bench/tenants.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib/bench.sh
. scripts/lib/bench.sh
count="${TENANTS:-20}"
size_mb="${SIZE_MB:-40}"
# zlib: pg_dump compresses, as the raw dumps do; zstd: the daemon does.
compression="${COMPRESSION:-zlib}"
cores=$(nproc)

config="$work/containarium.toml"
cat > "$config" <<TOML
backup-dir = "$work/backups"
max-concurrent = $cores
[server]
grpc-listen = "127.0.0.1:0"
http-listen = "127.0.0.1:0"
[dump]
compression = "$compression"
TOML
echo "starting $count tenants of ~${size_mb} MB…"
for i in $(seq -w 1 "$count"); do
  t="t$i"
  tenant "$t"
  sql "$t" postgres "CREATE DATABASE app"
  # ~1 MB per 7,000 rows of this shape, as in speed.sh.
  sql "$t" app "CREATE TABLE t AS SELECT g, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) AS h
    FROM generate_series(1, $((size_mb * 7000))) g"
  printf '[tenants.%s]\ndriver = "netns"\ncontainer = "%s"\n' "$t" "$(tenant_netns "$t")" >> "$config"
done

echo "raw dumps, one after another…"
raw_sum=0
for i in $(seq -w 1 "$count"); do
  t="t$i" ns=$(tenant_netns "t$i")
  for db in $(sql "$t" postgres "SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn"); do
    t0=$(now)
    ip netns exec "$ns" pg_dump -h 127.0.0.1 -U postgres -d "$db" -Fc -f "$work/raw.dump"
    raw_sum=$(python3 -c "print($raw_sum + $(now) - $t0)")
  done
  t0=$(now)
  ip netns exec "$ns" pg_dumpall -h 127.0.0.1 -U postgres -l postgres --globals-only --no-role-passwords > "$work/raw.sql"
  raw_sum=$(python3 -c "print($raw_sum + $(now) - $t0)")
done
rm -f "$work/raw.dump" "$work/raw.sql"

# The same raw dumps, $cores at a time: what the machine itself allows when
# each pg_dump's server backend works beside its own zlib.
echo "raw dumps, $cores at a time…"
: > "$work/jobs"
for i in $(seq -w 1 "$count"); do
  t="t$i" ns=$(tenant_netns "t$i")
  for db in $(sql "$t" postgres "SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn"); do
    echo "ip netns exec $ns pg_dump -h 127.0.0.1 -U postgres -d $db -Fc -f $work/par-$t-$db.dump" >> "$work/jobs"
  done
  echo "ip netns exec $ns pg_dumpall -h 127.0.0.1 -U postgres -l postgres --globals-only --no-role-passwords -f $work/par-$t.sql" >> "$work/jobs"
done
t0=$(now)
xargs -P "$cores" -I{} sh -c '{}' < "$work/jobs"
raw_parallel=$(elapsed "$t0" "$(now)")
rm -f "$work"/par-*

head -c 48 /dev/urandom | base64 > "$work/jwt-secret"
export CONTAINARIUM_JWT_SECRET_FILE="$work/jwt-secret"
start_daemon "$config"
"$bin" token mint --config "$config" --username bench --roles admin > "$work/token"
t0=$(now)
status=0
"$bin" backup --token-file "$work/token" create --all-tenants --output json > "$work/all.json" || status=$?
wall=$(elapsed "$t0" "$(now)")
peak=$(awk '/VmHWM/ {print $2 " " $3}' "/proc/$daemon_pid/status")
records=$(python3 -c "import json; print(len(json.load(open('$work/all.json'))['records']))" 2>/dev/null || echo "?")
failures=$(python3 -c "import json; print(len(json.load(open('$work/all.json')).get('failures', [])))" 2>/dev/null || echo "?")
share=$(python3 -c "print(f'{$raw_sum / $cores:.2f}')")

printf '\n| tenants | raw sum (s) | raw sum / %s cores (s) | raw, %s at a time (s) | --all-tenants (s) | ratio to sum / cores | ratio to raw %s at a time | records | failures | exit |\n' "$cores" "$cores" "$cores"
printf '|---|---|---|---|---|---|---|---|---|---|\n'
printf '| %s × %s MB, %s | %.2f | %s | %s | %s | %s× | %s× | %s | %s | %s |\n' "$count" "$size_mb" "$compression" "$raw_sum" "$share" "$raw_parallel" "$wall" \
  "$(ratio "$wall" "$share")" "$(ratio "$wall" "$raw_parallel")" "$records" "$failures" "$status"
echo "daemon peak RSS: $peak; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
