#!/usr/bin/env bash
# `opscore bench` on a private single server, a private 3-primary (no replica) loopback
# Cluster and a 1-primary Cluster (one node serving every slot, reached through the
# same routing), alternately (machine speed swings), then once more on the 3-primary
# Cluster while the 16 partitions' slots move from primary to primary, key by key:
# what routing costs, what spreading the slots over three Redis processes on this
# machine costs (client and server CPU per operation), and what a resharding costs
# (redirections followed, p99).
# Usage: scripts/bench-cluster.sh [BINARY] [SECONDS per run, default 2]
set -euo pipefail
bin=${1:-.build/release/opscore}
seconds=${2:-2}
dir=$(mktemp -d)
# shellcheck source=lib/private-redis.sh
source "$(dirname "$0")/lib/private-redis.sh"
# shellcheck source=lib/private-cluster.sh
source "$(dirname "$0")/lib/private-cluster.sh"
trap 'stop_private_redis "$dir"; stop_private_cluster "$dir"; stop_private_cluster "$dir" one; rm -rf "$dir"' EXIT
start_private_redis "$dir"
start_private_cluster "$dir" 0 1 one
one_primary=$CLUSTER_URL
# No replicas: the single server has none either, so the comparison is the routing's cost.
start_private_cluster "$dir" 0
single="redis://127.0.0.1:$REDIS_PORT/0"
bench() { "$bin" --redis-url "$1" --format json bench --connections 8 --duration "$seconds" >> "$2"; }
for round in 1 2; do
  bench "$single" "$dir/single.jsonl"
  bench "$CLUSTER_URL" "$dir/cluster.jsonl"
  bench "$one_primary" "$dir/one.jsonl"
done
# A resharding under load: the slots of the 16 partitions (`{0}` … `{f}`), each
# moved to the next primary, key by key, again and again while the bench runs.
(
  sleep "$(python3 -c "print($seconds * 6)")"
  end=$((SECONDS + 60))
  while [ -f "$dir/resharding" ] && [ "$SECONDS" -lt "$end" ]; do
    for label in 0 1 2 3 4 5 6 7 8 9 a b c d e f; do
      [ -f "$dir/resharding" ] || break
      slot=$(redis-cli -p "${CLUSTER_PORTS[0]}" cluster keyslot "{$label}")
      from=$(slot_owner_port "$slot")
      to=${CLUSTER_PORTS[$(( ( $(printf '%s\n' "${CLUSTER_PORTS[@]:0:3}" | grep -n "^$from$" | cut -d: -f1) ) % 3 ))]}
      move_slot "$slot" "$from" "$to"
      echo "moved $slot $from -> $to" >> "$dir/reshard.log"
    done
  done
) &
reshard=$!
touch "$dir/resharding"
bench "$CLUSTER_URL" "$dir/reshard.jsonl"
rm -f "$dir/resharding"
wait "$reshard"
echo "slots moved during the run: $(wc -l < "$dir/reshard.log")"
python3 - "$dir" <<'PY'
import json, statistics, sys
d = sys.argv[1]
def rows(name):
    return [json.loads(line) for line in open(f"{d}/{name}.jsonl")]
def median(rs, run, field):
    return statistics.median(r[field] for r in rs if r["run"] == run and r["connections"] == 8)
single, cluster, one, reshard = rows("single"), rows("cluster"), rows("one"), rows("reshard")
for run in ("start", "get", "update", "end"):
    s, c, o = (median(rs, run, "ops_per_sec") for rs in (single, cluster, one))
    print(f"{run:>7} ×8: single {s:>6.0f}/s   3-primary cluster {c:>6.0f}/s ({c / s:.2f})   "
          f"1-primary cluster {o:>6.0f}/s ({o / s:.2f})")
for name, rs in (("single", single), ("3-primary cluster", cluster), ("1-primary cluster", one)):
    print(f"update ×8 CPU per update on {name}: client {median(rs, 'update', 'cpu_us_per_op'):.0f} µs, "
          f"Redis (primaries summed) {median(rs, 'update', 'server_cpu_us_per_op'):.0f} µs")
update = [r for r in reshard if r["run"] == "update" and r["connections"] == 8][0]
followed = [r for r in reshard if r["run"] == "cluster"][0]["redirections_followed"]
print(f"while the partitions' slots move: update ×8 {update['ops_per_sec']}/s, p99 {update['p99_us']} µs, max {update['max_us']} µs; {followed} redirections followed")
PY
