# Throwaway tenants for scripts (quickstart, benchmarks): each a network
# namespace running its own Postgres 15 on 127.0.0.1:5432, like a tenant
# container seen by the daemon. Source this file; call tenants_cleanup on exit.
# Needs root. Uses $work (a directory the caller created, mode 755).

pg_bin=/usr/lib/postgresql/15/bin
tenant_names=()

# tenant NAME: start NAME's cluster in netns "ct-NAME-$$".
tenant() {
  local t=$1 ns="ct-$1-$$"
  mkdir -p "$work/$t/data" "$work/$t/sock"
  chown postgres "$work/$t/data" "$work/$t/sock"
  chmod 700 "$work/$t/data"
  ip netns add "$ns"
  ip netns exec "$ns" ip link set lo up
  runuser -u postgres -- "$pg_bin/initdb" -D "$work/$t/data" -U postgres -A trust >/dev/null
  ip netns exec "$ns" runuser -u postgres -- "$pg_bin/pg_ctl" -D "$work/$t/data" -l "$work/$t/sock/log" -w \
    -o "-c listen_addresses=127.0.0.1 -c unix_socket_directories=$work/$t/sock" start >/dev/null
  tenant_names+=("$t")
}

tenant_netns() { echo "ct-$1-$$"; }

# sql TENANT DATABASE STATEMENT: run as the superuser over the socket.
sql() { psql -X -q -A -t -h "$work/$1/sock" -U postgres -d "$2" -c "$3"; }

tenants_cleanup() {
  local t
  for t in "${tenant_names[@]}"; do
    runuser -u postgres -- "$pg_bin/pg_ctl" -D "$work/$t/data" -m immediate stop >/dev/null 2>&1 || true
    ip netns del "ct-$t-$$" 2>/dev/null || true
  done
}

# start_daemon CONFIG: runs the daemon in the background (pid in $daemon_pid)
# and sets CONTAINARIUM_SERVER (gRPC) and daemon_http (the HTTP port's URL)
# from its own "listening" log line.
start_daemon() {
  "$bin" daemon --config "$1" --log-format json 2> "$work/daemon.log" &
  daemon_pid=$!
  local grpc=""
  for _ in $(seq 200); do
    grpc=$(python3 - "$work/daemon.log" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    try:
        f = json.loads(line).get("fields", {})
    except ValueError:
        continue
    if f.get("message") == "containarium daemon listening":
        print(f["grpc"], f["http"])
PY
)
    [ -n "$grpc" ] && break
    kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/daemon.log" >&2; return 1; }
    sleep 0.1
  done
  [ -n "$grpc" ] || { echo "the daemon did not start" >&2; return 1; }
  daemon_http="http://${grpc#* }"
  export CONTAINARIUM_SERVER="http://${grpc% *}"
}

stop_daemon() {
  if [ -n "${daemon_pid:-}" ]; then
    kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
    daemon_pid=""
  fi
}
