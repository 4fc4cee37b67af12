#!/usr/bin/env bash
# The OpsCore demo: two worker "hosts" update shared sessions while `opscore watch`
# prints the events, then one session is shown as plain `redis-cli HGETALL`.
# Uses the Redis at OPSCORE_REDIS_URL (default redis://127.0.0.1:6379/0) when it
# answers; otherwise starts a private redis-server for the demo and stops it after.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
echo "==> building opscore"
swift build --product opscore 2>&1 | grep -E 'error|warning:|Compiling opscore|Build complete' || true
bin="$PWD/.build/debug/opscore"
# shellcheck source=lib/private-redis.sh
source scripts/lib/private-redis.sh

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  stop_private_redis "$work"
  rm -rf "$work"
}
trap cleanup EXIT

url=${OPSCORE_REDIS_URL:-redis://127.0.0.1:6379/0}
if ! "$bin" --redis-url "$url" --namespace opscore-demo agent list >/dev/null 2>&1; then
  start_private_redis "$work"
  echo "==> no Redis answers at $url; started one on 127.0.0.1:$REDIS_PORT for the demo"
  url="redis://127.0.0.1:$REDIS_PORT/0"
fi
export OPSCORE_REDIS_URL="$url" OPSCORE_NAMESPACE=opscore-demo
cli_args=()
case "$url" in redis://*) hostport=${url#redis://}; hostport=${hostport##*@}; hostport=${hostport%%/*}
  cli_args=(-h "${hostport%%:*}" -p "${hostport##*:}");; esac

echo "==> registering agent demo-agent"
"$bin" --format text agent register demo-agent

echo "==> watching events (opscore watch)"
"$bin" --format text watch --agent demo-agent 2>"$work/watch.log" &
pids+=($!)
sleep 0.5

echo "==> starting three sessions"
ids=()
for workflow in build test deploy; do
  ids+=("$("$bin" --format json session start --agent demo-agent --workflow "$workflow" --metadata '{"stage":"queued"}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["session_id"])')")
done

echo "==> two workers (host-a, host-b) update the same sessions concurrently"
requests() {
  local host=$1
  for step in 1 2 3 4; do
    for id in "${ids[@]}"; do
      printf '{"id":"%s-%s-%s","op":"update","session_id":"%s","metadata":{"%s_step":%s}}\n' "$host" "$step" "${id:0:8}" "$id" "$host" "$step"
    done
    sleep 0.2
  done
  printf '{"id":"%s-pause","op":"update","session_id":"%s","status":"paused"}\n' "$host" "${ids[2]}"
}
requests host-a | "$bin" --format json --origin host-a worker --concurrency 2 >"$work/host-a.out" 2>"$work/host-a.log" &
worker_a=$!
requests host-b | "$bin" --format json --origin host-b worker --concurrency 2 >"$work/host-b.out" 2>"$work/host-b.log" &
worker_b=$!
wait "$worker_a" "$worker_b"
echo "    host-a: $(grep -c '"ok":true' "$work/host-a.out") ok, $(grep -c '"ok":false' "$work/host-a.out" || true) refused;" \
     "host-b: $(grep -c '"ok":true' "$work/host-b.out") ok, $(grep -c '"ok":false' "$work/host-b.out" || true) refused"

echo "==> ending the sessions"
"$bin" --format json session end "${ids[0]}" >/dev/null
"$bin" --format json session end "${ids[1]}" --status failed >/dev/null
"$bin" --format json session end "${ids[2]}" --status cancelled >/dev/null
sleep 0.3
kill -TERM "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true; pids=()

echo "==> the agent's sessions (opscore session list)"
"$bin" --format text session list --agent demo-agent --limit 3

key="opscore-demo:{${ids[0]:0:1}}:session:${ids[0]}"
echo "==> redis-cli HGETALL '$key'"
redis-cli "${cli_args[@]}" HGETALL "$key"
stream="opscore-demo:{${ids[0]:0:1}}:events"
echo "==> redis-cli XREVRANGE '$stream' + - COUNT 1   (the session's partition's event stream)"
redis-cli "${cli_args[@]}" XREVRANGE "$stream" + - COUNT 1
