#!/usr/bin/env bash
# The catalog at scale: writes N sidecars (default 100 000; 50 tenants × 3
# databases, a year of backups, row-count manifests, a tenth verified; each
# beside an empty dump file) into
# a fresh backup directory, starts the release daemon on it, and prints the
# medians of REST requests against it, its start-up time (exec to /healthz)
# and its peak RSS. A benchmark, not a test: run it by hand (as root, after
# ./scripts/setup.sh); it leaves nothing behind.
#   scripts/bench/catalog.sh [N] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-100000}
ROUNDS=${2:-31}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/containarium-target}"

./scripts/setup.sh >/dev/null
cargo build --quiet --release --bin containarium
BIN="$CARGO_TARGET_DIR/release/containarium"
PY=.venv/bin/python

WORK=$(mktemp -d /var/tmp/containarium-catalog-bench.XXXXXX)
DPID=
cleanup() {
  local rc=$?
  # A failed request: the daemon's side of it, before it is gone.
  [ "$rc" -ne 0 ] && [ -f "$WORK/daemon.log" ] && grep -v "recovery: a record without its dump" "$WORK/daemon.log" | tail -n 20 >&2
  if [ -n "$DPID" ] && kill "$DPID" 2>/dev/null; then
    while kill -0 "$DPID" 2>/dev/null; do sleep 0.1; done
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "writing $N sidecars..."
"$PY" - "$WORK/backups" "$N" <<'PY'
import datetime, hashlib, json, os, random, sys
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d, mode=0o700)
rnd = random.Random(42)
end = datetime.datetime(2026, 6, 1, tzinfo=datetime.timezone.utc)
for i in range(n):
    t, db = f"tenant{i % 50:02d}", f"db{(i // 50) % 3}"
    at = end - datetime.timedelta(seconds=i * 317 + rnd.randrange(300))
    rid = f"{t}-{db}-{at:%Y%m%dT%H%M%SZ}"
    rec = {
        "id": rid, "username": t, "database": db,
        "created_at": at.isoformat().replace("+00:00", "Z"),
        "size_bytes": rnd.randrange(1 << 20, 1 << 30),
        "sha256": hashlib.sha256(rid.encode()).hexdigest(),
        "destination": "local", "location": f"{d}/{rid}.dump", "engine": "postgres",
        "last_verification": None, "relation_count": 6,
        "row_counts": {f"public.t{k}": rnd.randrange(10**6) for k in range(6)},
    }
    if i % 10 == 0:
        rec["last_verification"] = {
            "verified_at": rec["created_at"], "result": "passed", "error": "",
            "target_container": "scratch", "scratch_database": f"verify_{i}",
            "duration_ms": 1234, "verified_by": "root",
            "checks": [{"name": c, "passed": True, "detail": ""} for c in ("integrity", "restore", "row_counts")],
        }
    with open(f"{d}/{rid}.meta.json", "w") as f:
        json.dump(rec, f, indent=2)
    # An empty dump: start-up lists a record whose dump is missing as a
    # problem, not a backup, and nothing here restores.
    open(f"{d}/{rid}.dump", "w").close()
PY

port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP_PORT=$(port); GRPC_PORT=$(port)
cat > "$WORK/daemon.toml" <<TOML
backup-dir = "$WORK/backups"
[server]
grpc-listen = "127.0.0.1:$GRPC_PORT"
http-listen = "127.0.0.1:$HTTP_PORT"
[tenants.tenant07]
TOML
export CONTAINARIUM_JWT_SECRET=catalog-benchmark-secret-0123456789abcdef
ADMIN=$("$BIN" token mint --username root --roles admin)
TENANT=$("$BIN" token mint --username tenant07)
URL="http://127.0.0.1:$HTTP_PORT"

# Starts the daemon and prints the ms from exec to /healthz answering, on
# a cold page cache (run in a subshell: find the daemon with pgrep).
start() {
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  local t0; t0=$(date +%s%N)
  "$BIN" daemon --config "$WORK/daemon.toml" >>"$WORK/daemon.log" 2>&1 &
  DPID=$!
  for _ in $(seq 3000); do curl -fs -o /dev/null "$URL/healthz" && break; sleep 0.01; done
  curl -fs -o /dev/null "$URL/healthz" || { cat "$WORK/daemon.log"; echo "the daemon did not start" >&2; exit 1; }
  echo $(( ($(date +%s%N) - t0) / 1000000 ))
}
# The first start reads every sidecar (and saves the index's snapshot);
# a restart takes the snapshot's entries whose sidecars are unchanged.
FIRST_MS=$(start)
DPID=$(pgrep -f -n "$BIN daemon --config $WORK/daemon.toml")
kill "$DPID"; while kill -0 "$DPID" 2>/dev/null; do sleep 0.1; done
[ -f "$WORK/backups/.index" ] || { echo "the daemon saved no snapshot of its index" >&2; exit 1; }
STARTUP_MS=$(start)
DPID=$(pgrep -f -n "$BIN daemon --config $WORK/daemon.toml")

# ms of one GET (curl's own total, without its process start)
get() { curl -fsS -o "$WORK/body" -w '%{time_total}' -H "Authorization: Bearer $1" "$URL$2" | awk '{printf "%.2f", $1 * 1000}'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
token_of() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["nextPageToken"])' "$WORK/body"; }

# Every page of 100 a caller would see in turn: the first, and ROUNDS
# further ones, each continued from the token of the one before.
first=(); deep=()
for _ in $(seq "$ROUNDS"); do first+=("$(get "$ADMIN" '/v1/backups?pageSize=100')"); done
get "$ADMIN" '/v1/backups?pageSize=100' >/dev/null
for _ in $(seq "$ROUNDS"); do deep+=("$(get "$ADMIN" "/v1/backups?pageSize=100&pageToken=$(token_of)")"); done
tenant=()
for _ in $(seq "$ROUNDS"); do tenant+=("$(get "$TENANT" '/v1/backups?pageSize=100')"); done
ids=($(ls "$WORK/backups" | grep '\.meta\.json$' | shuf -n "$ROUNDS" --random-source=<(yes) | sed 's/\.meta\.json$//'))
gets=()
for id in "${ids[@]}"; do gets+=("$(get "$ADMIN" "/v1/backups/$id")"); done
full=()
for _ in 1 2 3; do full+=("$(get "$ADMIN" '/v1/backups')"); done
BODY_MB=$(( $(stat -c %s "$WORK/body") / 1048576 ))
COUNT=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["records"]))' "$WORK/body")
[ "$COUNT" = "$N" ] || { echo "the unpaged list returned $COUNT of $N records" >&2; exit 1; }
PEAK_MB=$(( $(awk '/^VmHWM/ {print $2}' "/proc/$DPID/status") / 1024 ))
IDLE_MB=$(( $(awk '/^VmRSS/ {print $2}' "/proc/$DPID/status") / 1024 ))

row() { printf '| %-46s | %12s | %8s |\n' "$1" "$2" "$3"; }
echo
echo "catalog of $N sidecars, release daemon, REST, medians of $ROUNDS (full list: of 3)"
echo
row "what" "measured" "goal"
row "---" "---:" "---:"
row "first start-up, no snapshot (cold cache)" "$FIRST_MS ms" ""
row "start-up (restart, cold cache)" "$STARTUP_MS ms" "≤ 3000 ms"
row "first page of 100, admin" "$(printf '%s\n' "${first[@]}" | median) ms" "≤ 10 ms"
row "following pages of 100 (page token)" "$(printf '%s\n' "${deep[@]}" | median) ms" "≤ 10 ms"
row "a tenant's page of 100 (tenant token)" "$(printf '%s\n' "${tenant[@]}" | median) ms" "≤ 10 ms"
row "get one backup" "$(printf '%s\n' "${gets[@]}" | median) ms" "≤ 5 ms"
row "full unpaged list ($BODY_MB MB body)" "$(printf '%s\n' "${full[@]}" | median) ms" "≤ 1000 ms"
row "daemon RSS after the requests" "$IDLE_MB MiB" ""
row "daemon peak RSS" "$PEAK_MB MiB" "≤ 128 MiB"
