# Shared by the scripts: a private Sentinel deployment (one primary, two replicas,
# three sentinels, master name "opsmain") on loopback ports in a directory of the caller's.
# shellcheck shell=bash
# shellcheck source=private-redis.sh
source "$(dirname "${BASH_SOURCE[0]}")/private-redis.sh"

# Starts it in DIR and waits until every sentinel sees both replicas and the
# other two sentinels. Sets SENTINEL_URL (timeout=1) and PRIMARY_PORT.
start_private_sentinel() {
  local dir=$1 base=$((20000 + RANDOM % 11000)) port i
  PRIMARY_PORT=$base
  for i in 0 1 2; do
    port=$((base + i))
    mkdir -p "$dir/node$i"
    local follow=()
    [ "$i" -gt 0 ] && follow=(--replicaof 127.0.0.1 "$base")
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir/node$i" --daemonize yes \
      --pidfile "$dir/node$i/redis.pid" --logfile "$dir/node$i/redis.log" "${follow[@]}"
  done
  local sentinels=()
  for i in 0 1 2; do
    port=$((base + 100 + i))
    mkdir -p "$dir/sentinel$i"
    cat > "$dir/sentinel$i/sentinel.conf" <<CONF
port $port
bind 127.0.0.1
daemonize yes
dir $dir/sentinel$i
pidfile $dir/sentinel$i/sentinel.pid
logfile $dir/sentinel$i/sentinel.log
sentinel monitor opsmain 127.0.0.1 $base 2
sentinel down-after-milliseconds opsmain 1000
sentinel failover-timeout opsmain 5000
sentinel parallel-syncs opsmain 1
CONF
    redis-server "$dir/sentinel$i/sentinel.conf" --sentinel
    sentinels+=("127.0.0.1:$port")
  done
  SENTINEL_URL="redis-sentinel://$(IFS=,; echo "${sentinels[*]}")/0?timeout=1#opsmain"
  for _ in $(seq 200); do
    local ready=0
    for i in 0 1 2; do
      port=$((base + 100 + i))
      local seen
      seen=$(redis-cli -p "$port" sentinel master opsmain 2>/dev/null | paste - - | awk '$1=="num-slaves"||$1=="num-other-sentinels"{print $2}' | tr '\n' ' ')
      [ "$seen" = "2 2 " ] && ready=$((ready + 1))
    done
    [ "$ready" = 3 ] && return 0
    sleep 0.1
  done
  echo "the sentinels did not see the whole deployment in time" >&2
  return 1
}

# Stops every process started in DIR.
stop_private_sentinel() {
  local pidfile
  for pidfile in "$1"/*/redis.pid "$1"/*/sentinel.pid; do
    stop_pidfile "$pidfile"
  done
}
