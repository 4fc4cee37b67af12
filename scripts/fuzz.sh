#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/ (with the address sanitizer) and runs each
# for FUZZ_SECONDS (default 20) from the seed corpus in Fuzz/corpus/. A crash, a
# failed invariant, a leak or a hang (> 5 s on one input) fails the run.
#   FUZZ_SECONDS=300 scripts/fuzz.sh            # longer runs
#   scripts/fuzz.sh json                        # one target: json, request, hash
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-20}
out=.build-fuzz
mkdir -p "$out"
flags=(-sanitize=fuzzer,address -parse-as-library -O -g -swift-version 6
       -enable-upcoming-feature ExistentialAny -enable-upcoming-feature InternalImportsByDefault)
quiet() { grep -vE "Cannot export local symbol|^$" || true; }

json=(Sources/OpsCore/JSON/*.swift)
model=(Sources/OpsCore/Model/*.swift)

build() {
  case "$1" in
    json)
      swiftc "${flags[@]}" Fuzz/FuzzJSONMergePatch.swift "${json[@]}" -o "$out/fuzz-json" 2>&1 | quiet ;;
    request)
      swiftc "${flags[@]}" -module-name OpsCore Fuzz/FuzzWorkerRequest.swift "${json[@]}" \
        Sources/OpsCore/Model/SessionID.swift Sources/OpsCore/Model/SessionStatus.swift \
        Sources/OpsCore/Model/SessionUpdate.swift Sources/OpsCore/Worker/WorkerRequest.swift \
        -o "$out/fuzz-request" 2>&1 | quiet ;;
    hash)
      # swift-metrics' CoreMetrics (the Redis client counts reconnects and failovers),
      # from the checkout `swift build` made, then the Redis client as its own module
      # (the reply decoder uses hiredis's reader).
      swiftc -sanitize=fuzzer,address -parse-as-library -O -g -module-name CoreMetrics -package-name swift_metrics -emit-module \
        -emit-module-path "$out/CoreMetrics.swiftmodule" -emit-library -static \
        .build/checkouts/swift-metrics/Sources/CoreMetrics/*.swift -o "$out/libCoreMetrics.a" 2>&1 | quiet
      swiftc "${flags[@]}" -module-name Redis -emit-module -emit-module-path "$out/Redis.swiftmodule" \
        -emit-library -static -I "$out" -I Sources/CHiredis Sources/Redis/*.swift -o "$out/libRedis.a" 2>&1 | quiet
      swiftc "${flags[@]}" -module-name OpsCore -I "$out" -I Sources/CHiredis -L "$out" -lRedis -lCoreMetrics -lhiredis -lswiftSynchronization \
        Fuzz/FuzzSessionHash.swift "${json[@]}" "${model[@]}" Sources/OpsCore/Store/SessionHash.swift \
        Sources/OpsCore/OpsCoreError.swift -o "$out/fuzz-hash" 2>&1 | quiet ;;
  esac
}

targets=("${@:-json request hash}")
read -r -a targets <<< "${targets[*]}"
passed=0
failed=0
for target in "${targets[@]}"; do
  echo "==> fuzz $target (${seconds}s)"
  build "$target"
  corpus=$(mktemp -d)
  cp Fuzz/corpus/"$target"/* "$corpus"/
  if ASAN_OPTIONS=detect_leaks=1 "$out/fuzz-$target" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$out/$target-" "$corpus" > "$out/$target.log" 2>&1; then
    runs=$(grep -E '^stat::number_of_executed_units' "$out/$target.log" | awk '{print $2}')
    echo "fuzz $target: $runs inputs, no crash, no leak"
    passed=$((passed + 1))
  else
    tail -30 "$out/$target.log"
    echo "fuzz $target: FAILED (artifact in $out/)"
    failed=$((failed + 1))
  fi
  rm -rf "$corpus"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
