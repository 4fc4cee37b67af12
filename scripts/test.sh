#!/usr/bin/env bash
# Runs every OpsCore test: unit and integration tests against real redis-server
# processes the tests start themselves, the CLI end-to-end tests (then both again on
# a Redis Cluster), the Redis client
# under the address sanitizer (leaks included), the system tests on pytest and
# redis-py (durability, restart, stall, least privilege, hostile input, soak,
# worker stop, and the multi-host test in network namespaces, which needs root),
# libFuzzer runs of the parsers, and a short smoke run of `opscore bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --with-system-tests

step() { printf '\n==> %s\n' "$*"; }
status=0

step "build (debug, with tests)"
swift build --build-tests 2>&1 | tee .build-warnings.log | grep -vE '^\[[0-9]+/[0-9]+\]' || true
if grep -E 'warning:' .build-warnings.log | grep -v '/.build/checkouts/' | grep -q .; then
  echo "build has warnings (see above)"; status=1
fi
rm -f .build-warnings.log
[ -x .build/debug/opscore ] || { echo "build failed"; exit 1; }

step "tests (Swift Testing, real redis-server)"
swift test --skip-build || status=1

step "the session, event and CLI tests again, on a 3-primary Redis Cluster the tests start"
OPSCORE_TEST_TOPOLOGY=cluster swift test --skip-build --filter 'OpsCoreTests\.|OpsCoreCLITests\.' || status=1

step "Redis client and JSON tests under the address sanitizer (leaks included)"
# (ld.gold's "Cannot export local symbol '__asan_…'" lines come from the sanitizer runtime itself.)
swift build --build-tests --sanitize=address --scratch-path .build-asan 2>&1 | grep -E 'error|warning:' | grep -v "Cannot export local symbol '__asan" || true
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 \
LSAN_OPTIONS="suppressions=$PWD/scripts/lsan-suppressions.txt" \
  swift test --skip-build --sanitize=address --scratch-path .build-asan --filter 'RedisTests\.|OpsCoreTests\.JSON|OpsCoreTests\.Fuzz' || status=1

step "a shorter soak of the worker under the address sanitizer (no leak, no report)"
scripts/asan-soak.sh .build-asan/debug/opscore || status=1

step "system tests (pytest + redis-py: Tests/System; the multi-host module needs root for ip netns)"
OPSCORE_BIN="$PWD/.build/debug/opscore" python3 -m pytest -c Tests/System/pytest.ini Tests/System || status=1

step "libFuzzer targets: JSON + merge patch, worker request lines, session hashes (FUZZ_SECONDS each)"
FUZZ_SECONDS=${FUZZ_SECONDS:-20} scripts/fuzz.sh || status=1

step "bench smoke runs: single server, Sentinel (with a failover), Cluster (with a resharding); no speed assertion"
scripts/bench-smoke.sh .build/debug/opscore || status=1
scripts/bench-sentinel.sh .build/debug/opscore --duration 0.2 --format json > /dev/null || status=1
scripts/bench-cluster.sh .build/debug/opscore 0.2 || status=1

exit $status
