# Shared by the scripts: a private Redis Cluster (3 primaries, replicas optional) on
# loopback ports in a directory of the caller's.
# shellcheck shell=bash
# shellcheck source=private-redis.sh
source "$(dirname "${BASH_SOURCE[0]}")/private-redis.sh"

# Starts PRIMARIES primaries (default 3; 1 means one node serving every slot, with
# no replica) and REPLICAS replicas each (default 1) in DIR, joins them and waits
# for cluster_state:ok. Sets CLUSTER_URL (timeout=1) and CLUSTER_PORTS (the
# primaries first). NAME (default cluster) names the nodes' directories.
start_private_cluster() {
  local dir=$1 replicas=${2:-1} primaries=${3:-3} name=${4:-cluster} base=$((20000 + RANDOM % 2000)) port i
  # The cluster bus listens on port + 10000: keep both below the ephemeral range.
  CLUSTER_PORTS=()
  [ "$primaries" = 1 ] && replicas=0
  for i in $(seq 0 $((primaries + primaries * replicas - 1))); do
    port=$((base + i))
    mkdir -p "$dir/$name$i"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir/$name$i" --daemonize yes \
      --pidfile "$dir/$name$i/redis.pid" --logfile "$dir/$name$i/redis.log" \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000
    CLUSTER_PORTS+=("$port")
  done
  for port in "${CLUSTER_PORTS[@]}"; do
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
  if [ "$primaries" = 1 ]; then
    redis-cli -p "${CLUSTER_PORTS[0]}" cluster addslotsrange 0 16383 >"$dir/$name-create.log" 2>&1
  else
    redis-cli --cluster create $(printf '127.0.0.1:%s ' "${CLUSTER_PORTS[@]}") --cluster-replicas "$replicas" --cluster-yes >"$dir/$name-create.log" 2>&1
  fi
  for _ in $(seq 100); do
    local ok=0
    for port in "${CLUSTER_PORTS[@]}"; do
      redis-cli -p "$port" cluster info 2>/dev/null | grep -q 'cluster_state:ok' && ok=$((ok + 1))
    done
    if [ "$ok" = "${#CLUSTER_PORTS[@]}" ]; then
      CLUSTER_URL="redis-cluster://$(printf '127.0.0.1:%s\n' "${CLUSTER_PORTS[@]:0:2}" | paste -sd,)?timeout=1"
      return 0
    fi
    sleep 0.1
  done
  echo "the cluster did not reach cluster_state:ok" >&2
  return 1
}

# Stops every server started in DIR (under NAME, default cluster).
stop_private_cluster() {
  local pidfile
  for pidfile in "$1"/"${2:-cluster}"*/redis.pid; do
    stop_pidfile "$pidfile"
  done
}

# Moves one slot between two of the cluster's ports, key by key, the way a
# resharding does (IMPORTING, MIGRATING, MIGRATE, NODE), so clients meet ASK and MOVED.
move_slot() {
  local slot=$1 from=$2 to=$3 from_id to_id keys port
  from_id=$(redis-cli -p "$from" cluster myid)
  to_id=$(redis-cli -p "$to" cluster myid)
  redis-cli -p "$to" cluster setslot "$slot" importing "$from_id" >/dev/null
  redis-cli -p "$from" cluster setslot "$slot" migrating "$to_id" >/dev/null
  while true; do
    keys=$(redis-cli -p "$from" cluster getkeysinslot "$slot" 100)
    [ -z "$keys" ] && break
    # shellcheck disable=SC2086
    redis-cli -p "$from" migrate 127.0.0.1 "$to" "" 0 5000 keys $keys >/dev/null
  done
  for port in "${CLUSTER_PORTS[@]}"; do
    redis-cli -p "$port" cluster setslot "$slot" node "$to_id" >/dev/null 2>&1 || true
  done
}

# The port of the primary serving SLOT (from CLUSTER NODES).
slot_owner_port() {
  redis-cli -p "${CLUSTER_PORTS[0]}" cluster nodes | python3 -c '
import sys
slot = int(sys.argv[1])
for line in sys.stdin:
    fields = line.split()
    if "master" not in fields[2].split(","):
        continue
    for spec in fields[8:]:
        if spec.startswith("["):
            continue
        start, _, end = spec.partition("-")
        if int(start) <= slot <= int(end or start):
            print(fields[1].split("@")[0].rsplit(":", 1)[1])
' "$1"
}
