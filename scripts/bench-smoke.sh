#!/usr/bin/env bash
# A seconds-long run of `opscore bench` against a private redis-server: checks that
# every run reports figures and that the hot-session verification passes.
set -euo pipefail
bin=${1:-.build/debug/opscore}
dir=$(mktemp -d)
# shellcheck source=lib/private-redis.sh
source "$(dirname "$0")/lib/private-redis.sh"
trap 'stop_private_redis "$dir"; rm -rf "$dir"' EXIT
start_private_redis "$dir"
port=$REDIS_PORT
"$bin" --redis-url "redis://127.0.0.1:$port/0" --format json bench --connections 4 --duration 0.3 > "$dir/bench.out"
cat "$dir/bench.out"
python3 - "$dir/bench.out" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
runs = {(r["run"], r["connections"]) for r in rows}
expected = {(run, c) for run in ("ping", "start", "get", "update", "end") for c in (1, 4)} | {("hot_session", 4), ("hot_session_separate", 4), ("consume", 1), ("watch_latency", 1)}
missing = expected - runs
bad = [r for r in rows if r["ops_per_sec"] <= 0 or r["p50_us"] <= 0]
left = 0
print(f"bench-smoke: {len(expected) - len(missing) - len(bad)} passed, {len(missing) + len(bad)} failed")
sys.exit(1 if missing or bad else 0)
PY
keys=$(redis-cli -p "$port" dbsize)
[ "$keys" = "0" ] || { echo "bench left $keys keys behind"; exit 1; }
