#!/usr/bin/env bash
# shellcheck disable=SC2317  # cleanup runs from a trap
# Reliability tests for OpsCore against redis-servers this script starts itself
# (127.0.0.1, random free ports, directories under one temporary run directory).
#
# Usage (from anywhere):
#
#   scripts/reliability-test.sh                         # binary: <repo>/.build/debug/opscore
#   OPSCORE_BIN=/path/to/opscore scripts/reliability-test.sh
#   RELIABILITY_CHECKS="stall soak" SOAK_REQUESTS=50000 scripts/reliability-test.sh
#
# Checks (details in scripts/reliability_check.py, which does the work):
#   durability       kill -9 Redis (AOF, appendfsync always) under ~2000 paced worker
#                    updates and restart it: one reply per request, acked updates
#                    survive, versions gap-free, unknown outcomes accounted for
#   restart          SIGTERM and SIGKILL restarts under a worker (a get every 200 ms)
#                    and a watcher: no silence, redis_unavailable during the outage,
#                    first success < 5 s after Redis is back, outage on stderr
#   stall            SIGSTOP Redis: CLI exits 69 "timed out" within 3 s, worker gets
#                    redis_timeout within the 1 s command timeout (+0.5 s); SIGCONT heals
#   least_privilege  the README's ACL user runs the whole CLI surface + worker + watch;
#                    without +hset: exit 77 NOPERM, nothing written; wrong password:
#                    exit 77, the password never printed (also --log-level trace)
#   hostile_input    odd ids round-trip exactly, keys only of the documented forms;
#                    control characters and bad metadata refused (64), nothing changes
#   soak             SOAK_REQUESTS updates (default 200000) through one worker:
#                    RSS growth after 20000 warm-up requests <= 20 MiB, throughput
#
# Environment:
#   OPSCORE_BIN              opscore binary (default <repo>/.build/debug/opscore;
#                            a relative path is taken relative to the repo root)
#   RELIABILITY_CHECKS       space-separated subset of the checks above (default: all)
#   SOAK_REQUESTS            soak request count (default 200000, ~60 s in a debug build)
#   SOAK_MAX_SECONDS         soak time limit (default 150)
#   RELIABILITY_MAX_RUNTIME  hard deadline for the whole run in seconds (default 230)
#   RELIABILITY_KEEP=1       keep the run directory (logs, worker/watch stderr)
#
# Prints one `PASS name: …` / `FAIL name: …` line per check, then exactly one line
# `reliability: N passed, M failed`; exits 0 only when M is 0. An EXIT/INT/TERM
# trap kills every process the run started (by recorded pid and start time) and
# removes the run directory, also on failure.

set -uo pipefail
export PYTHONIOENCODING=utf-8 PYTHONDONTWRITEBYTECODE=1

SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
SCRIPT_DIR=$(dirname "$SCRIPT_PATH")
REPO_ROOT=$(dirname "$SCRIPT_DIR")
CHECKER="$SCRIPT_DIR/reliability_check.py"
ALL_CHECKS=(durability restart stall least_privilege hostile_input soak)
read -r -a CHECKS <<< "${RELIABILITY_CHECKS:-${ALL_CHECKS[*]}}"
MAX_RUNTIME=${RELIABILITY_MAX_RUNTIME:-230}

BIN=${OPSCORE_BIN:-.build/debug/opscore}
[[ $BIN == /* ]] || BIN="$REPO_ROOT/$BIN"

preflight_fail() {
    echo "FAIL preflight: $1"
    echo "reliability: 0 passed, 1 failed"
    exit 1
}

for tool in redis-server python3 timeout; do
    command -v "$tool" >/dev/null 2>&1 || preflight_fail "required tool '$tool' not found"
done
[[ -x $BIN ]] || preflight_fail "opscore binary '$BIN' not found or not executable (build it or set OPSCORE_BIN)"
for check in "${CHECKS[@]}"; do
    [[ " ${ALL_CHECKS[*]} " == *" $check "* ]] || preflight_fail "unknown check '$check' (known: ${ALL_CHECKS[*]})"
done

RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/opscore-reliability.XXXXXX") || preflight_fail "mktemp failed"
CHECKER_PID=""

# The start time (field 22 of /proc/PID/stat) of a process, to tell it from a recycled pid.
start_time() {
    local stat rest fields
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    rest=${stat##*) }
    read -r -a fields <<< "$rest"
    echo "${fields[19]}"
}

cleanup() {
    trap '' INT TERM
    if [[ -n $CHECKER_PID ]] && kill -0 "$CHECKER_PID" 2>/dev/null; then
        kill -TERM "$CHECKER_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$CHECKER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$CHECKER_PID" 2>/dev/null
    fi
    # Everything the checker started, even if it died before cleaning up itself.
    if [[ -f $RUN_DIR/pids ]]; then
        local pid started now
        while read -r pid started; do
            [[ $pid =~ ^[0-9]+$ ]] || continue
            now=$(start_time "$pid") || continue
            if [[ $now == "$started" ]]; then
                kill -CONT "$pid" 2>/dev/null
                kill -KILL "$pid" 2>/dev/null
            fi
        done < "$RUN_DIR/pids"
    fi
    if [[ ${RELIABILITY_KEEP:-0} == 1 ]]; then
        echo "reliability: run directory kept: $RUN_DIR" >&2
    else
        rm -rf "$RUN_DIR"
    fi
}
INTERRUPTED=""
# INT/TERM: stop the checker (it kills what it started), then still print the summary.
on_signal() {
    INTERRUPTED=$1
    [[ -n $CHECKER_PID ]] && kill -TERM "$CHECKER_PID" 2>/dev/null
}
trap cleanup EXIT
trap 'on_signal SIGINT' INT
trap 'on_signal SIGTERM' TERM

began=$SECONDS
echo "reliability: binary $BIN, checks: ${CHECKS[*]}" >&2
timeout -k 5 "$MAX_RUNTIME" python3 "$CHECKER" --bin "$BIN" --run-dir "$RUN_DIR" "${CHECKS[@]}" &
CHECKER_PID=$!
status=0
while kill -0 "$CHECKER_PID" 2>/dev/null; do
    wait "$CHECKER_PID"     # returns early when a trapped signal arrives
    status=$?
done
CHECKER_PID=""

passed=0
failed=0
for check in "${CHECKS[@]}"; do
    line=$(grep -E "^(PASS|FAIL) $check: " "$RUN_DIR/results.txt" 2>/dev/null | tail -n 1)
    case $line in
        PASS*) passed=$((passed + 1)) ;;
        FAIL*) failed=$((failed + 1)) ;;
        *)
            failed=$((failed + 1))
            if [[ -n $INTERRUPTED ]]; then
                echo "FAIL $check: not run: interrupted by $INTERRUPTED"
            elif [[ $status == 124 ]] || ((status == 137 && SECONDS - began >= MAX_RUNTIME)); then
                echo "FAIL $check: not run: the whole run hit RELIABILITY_MAX_RUNTIME=${MAX_RUNTIME}s"
            else
                echo "FAIL $check: no result (checker exited with status $status)"
            fi
            ;;
    esac
done
echo "reliability: run took $((SECONDS - began)) s" >&2
echo "reliability: $passed passed, $failed failed"
[[ $failed == 0 && -z $INTERRUPTED ]]
