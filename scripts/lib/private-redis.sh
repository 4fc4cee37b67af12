# Shared by the scripts: a private redis-server in a directory of the caller's.
# shellcheck shell=bash

# Starts redis-server on a random port below Linux's ephemeral range, without
# persistence, in DIR, and waits until it answers. Sets REDIS_PORT.
start_private_redis() {
  local dir=$1
  REDIS_PORT=$((20000 + RANDOM % 12000))
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  for _ in $(seq 50); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "redis-server did not answer on port $REDIS_PORT" >&2
  return 1
}

# Stops the redis-server started in DIR, if any.
stop_private_redis() {
  stop_pidfile "$1/redis.pid"
}

# Stops the process whose pid PIDFILE holds, if any, and waits until it is gone
# (SIGKILL after 10 s): a server still exiting writes into its directory, and the
# caller removes that directory next.
stop_pidfile() {
  local pid _
  [ -f "$1" ] || return 0
  pid=$(cat "$1")
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}
