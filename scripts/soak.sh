#!/usr/bin/env bash
# Repeated fault runs, kept out of `npm test`: the Redis-restart test N times in a row (in each of
# the three Redis modes), then M more with a CPU burner holding one core, then the Sentinel and
# Redis Cluster failover tests N times, the fault suite 3 times, the 25 s outage in every mode.
# Usage: scripts/soak.sh [N=10] [M=3]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10}
m=${2:-3}
npm run build >/dev/null
ROOMCAST_RESTART_RUNS=$n ROOMCAST_RESTART_MODES=url,sentinel,cluster npx vitest run test/cluster/restarts.test.ts
node -e 'const end = Date.now() + 3_600_000; while (Date.now() < end) {}' &
burner=$!
trap 'kill $burner 2>/dev/null || true' EXIT
ROOMCAST_RESTART_RUNS=$m npx vitest run test/cluster/restarts.test.ts
kill $burner 2>/dev/null || true
# The Sentinel and Redis Cluster failovers (SIGKILL and graceful) and the slot migration under a
# stream, N times each.
for i in $(seq 1 "$n"); do
  npx vitest run test/cluster/sentinel.test.ts test/cluster/redis-cluster.test.ts
done
# The fault suite in all three modes, 3 times; the 25 s outage once in each mode.
for i in 1 2 3; do
  npx vitest run test/cluster/faults.test.ts
done
ROOMCAST_OUTAGE_MODES=url,sentinel,cluster npx vitest run test/cluster/outage.test.ts
