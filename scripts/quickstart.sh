#!/usr/bin/env bash
# Quickstart: two throwaway tenant "containers" (network namespaces running
# their own Postgres on 127.0.0.1:5432), the containarium daemon with real
# JWT auth, and the CLI: back up, list, restore into a new database, compare
# rows, restore-test into the other tenant. Everything is removed at the end.
# Needs root (network namespaces). Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/containarium-target}"
echo "== building"
cargo build --quiet
bin="$CARGO_TARGET_DIR/debug/containarium"
work=$(mktemp -d /tmp/containarium-quickstart.XXXXXX)
chmod 755 "$work"
# shellcheck source=lib/tenants.sh
. scripts/lib/tenants.sh
cleanup() { stop_daemon; tenants_cleanup; rm -rf "$work"; }
trap cleanup EXIT

echo "== two tenants: 'shop' (with data) and 'scratch' (for restore tests)"
tenant shop
tenant scratch
sql shop postgres "CREATE DATABASE orders"
sql shop orders "CREATE TABLE orders AS SELECT g AS id, 'customer ' || g AS who, now() - g * interval '1 hour' AS at FROM generate_series(1, 5000) g"

cat > "$work/containarium.toml" <<TOML
backup-dir = "$work/backups"
[server]
grpc-listen = "127.0.0.1:0"
http-listen = "127.0.0.1:0"
[tenants.shop]
driver = "netns"
container = "$(tenant_netns shop)"
[tenants.scratch]
driver = "netns"
container = "$(tenant_netns scratch)"
scratch = true
TOML
head -c 48 /dev/urandom | base64 > "$work/jwt-secret"
chmod 600 "$work/jwt-secret"
export CONTAINARIUM_JWT_SECRET_FILE="$work/jwt-secret"

echo "== starting the daemon"
start_daemon "$work/containarium.toml"
"$bin" token mint --config "$work/containarium.toml" --username operator --roles admin --ttl 1h > "$work/token"
export CONTAINARIUM_TOKEN_FILE="$work/token"
cli() { echo "\$ containarium backup $*"; "$bin" backup --token-file "$work/token" "$@"; }

echo "== back up, list, restore, compare"
cli create shop --database orders
cli list
id=$("$bin" backup --token-file "$work/token" list shop --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"][0]["id"])')
cli get "$id"
cli restore "$id" --database orders_copy
a=$(sql shop orders "SELECT count(*) || ' rows, md5 ' || md5(string_agg(o::text, ',' ORDER BY id)) FROM orders o")
b=$(sql shop orders_copy "SELECT count(*) || ' rows, md5 ' || md5(string_agg(o::text, ',' ORDER BY id)) FROM orders o")
echo "original: $a"
echo "restored: $b"
[ "$a" = "$b" ] || { echo "MISMATCH"; exit 1; }

echo "== restore test into the scratch tenant"
cli verify "$id" --target scratch
cli check --max-age 26h --require-verified-within 8d
echo "== done: rows match, restore test passed"
