#!/usr/bin/env bash
# Every benchmark figure the README shows, in one run, each script printing
# its own table: the byte path against raw pg_dump/pg_restore (bytes.sh), many
# tenants at once (tenants.sh), the catalog at 100 000 records (catalog.sh),
# peak memory while a >1 GiB dump streams, clear and encrypted, to every
# store (memory.sh), and read latency under load (load.sh). Run on a quiet machine (as root, after
# ./scripts/setup.sh): every ratio is against the raw tool in the same run,
# but a busy neighbour still skews them. Environment: SCALE, RUNS (bytes.sh),
# TENANTS, SIZE_MB (tenants.sh), MIB (load.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "# containarium benchmarks, $(date -u +%F), $(nproc) cores, $(git rev-parse --short HEAD)"
for script in bytes tenants catalog memory load; do
  echo
  echo "## scripts/bench/$script.sh"
  "scripts/bench/$script.sh"
done
