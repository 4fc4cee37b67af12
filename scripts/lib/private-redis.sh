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
  [ -f "$1/redis.pid" ] && kill "$(cat "$1/redis.pid")" 2>/dev/null || true
}
