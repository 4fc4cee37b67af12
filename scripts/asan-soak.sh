#!/usr/bin/env bash
# A shorter soak under the address sanitizer: the ASan build of `opscore worker`
# applies SOAK_REQUESTS (default 20000) updates against a private redis-server and
# must answer every one and exit without any AddressSanitizer or LeakSanitizer report.
set -euo pipefail
bin=${1:-.build-asan/debug/opscore}
count=${SOAK_REQUESTS:-20000}
dir=$(mktemp -d)
# shellcheck source=lib/private-redis.sh
source "$(dirname "$0")/lib/private-redis.sh"
trap 'stop_private_redis "$dir"; rm -rf "$dir"' EXIT
start_private_redis "$dir"
port=$REDIS_PORT
export OPSCORE_REDIS_URL="redis://127.0.0.1:$port/0" ASAN_OPTIONS=detect_leaks=1
"$bin" agent register soak-agent >/dev/null
ids=()
for _ in 1 2 3 4 5; do
  ids+=("$("$bin" --format json session start --agent soak-agent --workflow soak | python3 -c 'import json,sys; print(json.load(sys.stdin)["session_id"])')")
done
python3 - "$count" "${ids[@]}" > "$dir/requests" <<'PY'
import json, sys
count, ids = int(sys.argv[1]), sys.argv[2:]
for n in range(count):
    print(json.dumps({"id": n, "op": "update", "session_id": ids[n % len(ids)], "metadata": {"k": n % 50}}))
PY
"$bin" worker --concurrency 4 < "$dir/requests" > "$dir/replies" 2> "$dir/worker.err"
ok=$(grep -c '"ok":true' "$dir/replies" || true)
reports=$(grep -cE 'AddressSanitizer|LeakSanitizer' "$dir/worker.err" || true)
failed=0
[ "$ok" = "$count" ] || { echo "asan-soak: $ok of $count updates acknowledged"; failed=$((failed + 1)); }
[ "$reports" = "0" ] || { grep -A20 -E 'Sanitizer' "$dir/worker.err" | head -40; failed=$((failed + 1)); }
echo "asan-soak: $count updates through the ASan worker, $reports sanitizer reports"
echo "asan-soak: $((2 - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
