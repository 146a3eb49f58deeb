#!/usr/bin/env bash
# Restore-tests the newest backup of every (tenant, database) into the
# scratch tenant $CONTAINARIUM_VERIFY_TARGET, then checks that every
# database has a passed verification younger than 8 days. Exits non-zero
# on any failure. Needs python3 (for JSON) and an admin token file.
set -euo pipefail
target="${CONTAINARIUM_VERIFY_TARGET:?set CONTAINARIUM_VERIFY_TARGET to the scratch tenant}"
token="${CONTAINARIUM_TOKEN_FILE:?set CONTAINARIUM_TOKEN_FILE}"
bin="${CONTAINARIUM_BIN:-containarium}"
cli() { "$bin" backup --token-file "$token" "$@"; }

ids=$(cli list --output json | python3 -c '
import json, sys
newest = {}
for r in json.load(sys.stdin)["records"]:
    newest.setdefault((r["username"], r["database"]), r["id"])  # list is newest first
print("\n".join(newest.values()))')
status=0
for id in $ids; do
  case "$id" in "$target"-*) continue ;; esac   # never verify the scratch tenant into itself
  cli verify "$id" --target "$target" || status=1
done
cli check --max-age 26h --require-verified-within 8d || status=1
exit $status
