#!/usr/bin/env bash
# The REST contract, checked from outside: schemathesis (pinned in
# scripts/requirements.txt, run from .venv) generates requests from the
# daemon's own /openapi.json and runs every check against a real daemon with
# a real tenant and an existing backup — once with an admin token, once with
# the tenant's own token. Any failure fails this script; a missing
# schemathesis fails it too. Bounded: a few examples per operation, a fixed
# seed, so the run stays well under three minutes.
# Needs root (network namespaces). Not yet called by scripts/test.sh: the
# first runs found disagreements still to fix (see the end of this file).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/containarium-target}"
st=.venv/bin/schemathesis
if [ ! -x "$st" ]; then
  echo "contract.sh: $st is missing: run ./scripts/setup.sh (it installs scripts/requirements.txt)" >&2
  exit 1
fi
cargo build --quiet --bin containarium
bin="$CARGO_TARGET_DIR/debug/containarium"
work=$(mktemp -d /tmp/containarium-contract.XXXXXX)
chmod 755 "$work"
# shellcheck source=lib/tenants.sh
. scripts/lib/tenants.sh
cleanup() { stop_daemon; tenants_cleanup; rm -rf "$work"; }
trap cleanup EXIT

tenant alice
tenant scratch
sql alice postgres "CREATE DATABASE app"
sql alice app "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 100) g"
cat > "$work/containarium.toml" <<TOML
backup-dir = "$work/backups"
[server]
grpc-listen = "127.0.0.1:0"
http-listen = "127.0.0.1:0"
[tenants.alice]
driver = "netns"
container = "$(tenant_netns alice)"
[tenants.scratch]
driver = "netns"
container = "$(tenant_netns scratch)"
scratch = true
TOML
head -c 48 /dev/urandom | base64 > "$work/jwt-secret"
chmod 600 "$work/jwt-secret"
export CONTAINARIUM_JWT_SECRET_FILE="$work/jwt-secret"
start_daemon "$work/containarium.toml"
mint() { "$bin" token mint --config "$work/containarium.toml" --ttl 1h "$@"; }
admin=$(mint --username operator --roles admin)
own=$(mint --username alice --scopes 'backups:read,backups:write')
"$bin" backup --token "$admin" create alice --database app >/dev/null

failed=0
for who in admin own; do
  token=${!who}
  echo "== schemathesis --checks all, as $who"
  if ! timeout 150 "$st" run "$daemon_http/openapi.json" \
      --checks all \
      --header "Authorization: Bearer $token" \
      --max-examples "${CONTRACT_MAX_EXAMPLES:-12}" \
      --seed 16 \
      --workers 2 \
      --request-timeout 20 \
      --suppress-health-check all \
      --output-sanitize true \
      --report junit --report-dir "${CONTRACT_REPORT_DIR:-$work/report-$who}"; then
    failed=1
  fi
done
if [ "$failed" -ne 0 ]; then
  echo "contract.sh: schemathesis found disagreements between /openapi.json and the daemon (above)" >&2
  tail -n 20 "$work/daemon.log" >&2
  exit 1
fi
echo "== the daemon keeps its OpenAPI contract (admin and tenant token)"

# Disagreements found by the first runs (seed 16), still to fix before this
# joins scripts/test.sh:
# - ST201: `username` on list and prune accepts names the document's pattern
#   refuses (the server should refuse them: InvalidArgument).
# - ST202: schema-valid requests answered 400 — an unreadable pageToken, a
#   duration that matches the document's pattern but repeats units or passes
#   1000 years, create's gcsBucket/host/user values, restore with jobs 0 and
#   connection null, verify without targetUsername, rebuildIndex without a
#   configured bucket (FailedPrecondition): the document must say what the
#   server requires, or the server must accept it.
# - ST302: a create with allTenants answers records no follow-up finds.
