#!/usr/bin/env bash
# Restore-tests the newest backup of every (tenant, database) into the
# scratch tenant $CONTAINARIUM_VERIFY_TARGET, then checks that every
# database has a passed verification younger than 8 days. Exits non-zero
# on any failure. Needs python3 (for JSON) and an admin token file.
#
# The target must be declared `scratch = true` in the daemon config (verify
# refuses any other tenant). Each verify restores as a role made for it
# alone (no superuser, createdb, createrole, no membership) into a database
# that role owns, then drops both: the connection the daemon uses for the
# scratch server (default user postgres) only creates and drops them, so it
# must be a superuser there, and the scratch server must accept password
# (or trust) logins over TCP from its own loopback for the per-verify role.
set -euo pipefail
target="${CONTAINARIUM_VERIFY_TARGET:?set CONTAINARIUM_VERIFY_TARGET to the scratch tenant}"
token="${CONTAINARIUM_TOKEN_FILE:?set CONTAINARIUM_TOKEN_FILE}"
bin="${CONTAINARIUM_BIN:-containarium}"
cli() { "$bin" backup --token-file "$token" "$@"; }

# Newest first; the scratch tenant's own backups (if any) are never verified
# into itself.
ids=$(cli list --output json | TARGET="$target" python3 -c '
import json, os, sys
newest = {}
for r in json.load(sys.stdin)["records"]:
    if r["username"] == os.environ["TARGET"]:
        continue
    newest.setdefault((r["username"], r["database"]), r["id"])  # list is newest first
print("\n".join(newest.values()))')
status=0
for id in $ids; do
  cli verify "$id" --target "$target" || status=1
done
cli check --max-age 26h --require-verified-within 8d || status=1
exit $status
