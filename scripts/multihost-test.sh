#!/usr/bin/env bash
# shellcheck disable=SC2317  # cleanup, summary and on_signal run from traps
# Multi-host test for OpsCore: three `opscore worker` hosts and one
# `opscore watch` host talk to one redis-server across a bridged network made of
# Linux network namespaces; host 2 is cut off for a few seconds mid-run.
#
# Usage (as root, from the repository root):
#
#   scripts/multihost-test.sh                     # binary: .build/debug/opscore
#   OPSCORE_BIN=/path/to/opscore scripts/multihost-test.sh
#   MULTIHOST_DRY=1 scripts/multihost-test.sh     # network + redis only, no opscore
#
# Needs: bash 5, iproute2 (`ip netns`), redis-server, redis-cli, python3,
# coreutils `timeout`. Everything it creates is named oc<PID>… (namespaces
# oc<PID>r, oc<PID>h1, …; links oc<PID>br, oc<PID>h1e/oc<PID>h1p, …) and lives
# only inside namespaces it creates: the veth pairs are created inside the
# redis namespace with their far end placed straight into the client namespace,
# so the root namespace's network is never touched. Addresses are 10.213.0.0/24
# and exist only inside those namespaces. An EXIT/INT/TERM trap kills every
# process started and deletes every link and namespace, also on failure.
#
# Tunables (environment):
#   OPSCORE_BIN              opscore binary (default <repo>/.build/debug/opscore)
#   MULTIHOST_DRY=1          set up namespaces + redis, ping, flap host 2, clean up
#   MULTIHOST_REQUESTS       requests per worker host (default 300, minimum 300)
#   MULTIHOST_PACE           seconds between request lines (default 0.03 ≈ 9 s)
#   MULTIHOST_CONCURRENCY    worker --concurrency (default 4)
#   MULTIHOST_PARTITION_AT   seconds after the start to cut host 2 off (default 3)
#   MULTIHOST_PARTITION_FOR  seconds host 2 stays cut off (default 3)
#   MULTIHOST_PARTITION      how host 2 is cut off: `down` (default: its veth
#                            link goes down, so sockets fail at once) or `drop`
#                            (an nftables table inside host 2's namespace
#                            silently drops traffic to and from redis, so
#                            commands time out and EXEC outcomes can be unknown)
#   MULTIHOST_KEEP=1         keep the run directory even when everything passed
#   MULTIHOST_MAX_RUNTIME    hard deadline for the whole script (default 58 s)
#
# Output ends with exactly one line `multihost: N passed, M failed`; the exit
# status is 0 only when M is 0.

set -uo pipefail
export LC_ALL=C

SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
SCRIPT_DIR=$(dirname "$SCRIPT_PATH")
REPO_ROOT=$(dirname "$SCRIPT_DIR")
CHECKER="$SCRIPT_DIR/multihost_check.py"

# ------------------------------------------------------------------ preflight

if [[ $(id -u) -ne 0 ]]; then
    echo "multihost: must run as root: it creates network namespaces and veth links (ip netns add)" >&2
    echo "multihost: 0 passed, 1 failed"
    exit 1
fi
TOOLS=(ip redis-server redis-cli python3 timeout mkfifo)
[[ ${MULTIHOST_PARTITION:-down} == drop ]] && TOOLS+=(nft)
for tool in "${TOOLS[@]}"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "multihost: required tool '$tool' not found" >&2
        echo "multihost: 0 passed, 1 failed"
        exit 1
    fi
done
if ! ip netns list >/dev/null 2>&1; then
    echo "multihost: 'ip netns' is not available (iproute2 without netns support, or no permission)" >&2
    echo "multihost: 0 passed, 1 failed"
    exit 1
fi

# A hard deadline for the whole run: re-run this script under timeout(1). On
# expiry the inner script gets SIGTERM, and its trap cleans up.
MAX_RUNTIME=${MULTIHOST_MAX_RUNTIME:-58}
if [[ -z "${MULTIHOST_UNDER_DEADLINE:-}" ]]; then
    export MULTIHOST_UNDER_DEADLINE=1
    exec timeout --foreground -k 10 "$MAX_RUNTIME" bash "$SCRIPT_PATH" "$@"
fi

DRY=${MULTIHOST_DRY:-0}
REQUESTS=${MULTIHOST_REQUESTS:-300}
PACE=${MULTIHOST_PACE:-0.03}
CONCURRENCY=${MULTIHOST_CONCURRENCY:-4}
PARTITION_AT=${MULTIHOST_PARTITION_AT:-3}
PARTITION_FOR=${MULTIHOST_PARTITION_FOR:-3}
PARTITION_MODE=${MULTIHOST_PARTITION:-down}
SESSION_COUNT=5
AGENT=multihost-agent
(( REQUESTS >= 300 )) || REQUESTS=300

P=$$
SUBNET=10.213.0
REDIS_IP=$SUBNET.1
REDIS_PORT=6379
NS_REDIS="oc${P}r"
BRIDGE="oc${P}br"
WORKER_HOSTS=(h1 h2 h3)
WATCH_HOST=wa
CTL_HOST=ct
CLIENT_HOSTS=("${WORKER_HOSTS[@]}" "$WATCH_HOST" "$CTL_HOST")
declare -A HOST_IP=([h1]=$SUBNET.11 [h2]=$SUBNET.12 [h3]=$SUBNET.13 [wa]=$SUBNET.20 [ct]=$SUBNET.30)
ns_of() { echo "oc${P}$1"; }      # namespace of a client host
dev_of() { echo "oc${P}$1e"; }    # its veth end, inside its namespace
peer_of() { echo "oc${P}$1p"; }   # the other end, a bridge port in the redis namespace

RUN=$(mktemp -d "${TMPDIR:-/tmp}/opscore-multihost.XXXXXX")
RESULTS="$RUN/results.txt"
: >"$RESULTS"
CREATED_NS=()
PIDS=()
CLEANED=0

log() { printf '%s multihost: %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2; }
pass() { printf 'PASS %s\n' "$*" >>"$RESULTS"; printf '[PASS] %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*" >>"$RESULTS"; printf '[FAIL] %s\n' "$*"; }
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
track() { PIDS+=("$1"); }

# Waits up to $2 seconds for background child $1 to exit. Returns 0 when it
# exited (its status is then in WAIT_RC) and 1 when it is still running.
WAIT_RC=0
wait_pid() {
    local pid=$1 deadline=$(( $(now_ms) + $2 * 1000 ))
    while kill -0 "$pid" 2>/dev/null; do
        if (( $(now_ms) >= deadline )); then
            return 1
        fi
        sleep 0.05
    done
    wait "$pid"
    WAIT_RC=$?
    return 0
}

# ------------------------------------------------------------------- cleanup

# Sets PASSED and FAILED from the results file; true when nothing failed.
count_results() {
    PASSED=$(grep -c '^PASS ' "$RESULTS" 2>/dev/null)
    FAILED=$(grep -c '^FAIL ' "$RESULTS" 2>/dev/null)
    [[ ${FAILED:-0} -eq 0 && ${PASSED:-0} -gt 0 ]]
}

cleanup() {
    local rc=$?
    (( CLEANED )) && return
    CLEANED=1
    # Finish cleaning even if another INT/TERM arrives (e.g. the deadline).
    trap '' INT TERM
    local pid ns tag i left

    # 1. Every process this script started, by id: TERM, a moment, then KILL.
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for i in $(seq 20); do
        left=0
        for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && left=1; done
        (( left )) || break
        sleep 0.1
    done
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
    # Anything still inside our namespaces was started by us (e.g. a child that
    # outlived a timeout(1) wrapper): kill those by id as well.
    for ns in "${CREATED_NS[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    done
    wait 2>/dev/null

    # 2. Links, then namespaces (deleting a namespace also removes its links).
    if ip netns list 2>/dev/null | grep -qw "$NS_REDIS"; then
        for tag in "${CLIENT_HOSTS[@]}"; do
            ip -n "$NS_REDIS" link del "$(peer_of "$tag")" 2>/dev/null
        done
        ip -n "$NS_REDIS" link del "$BRIDGE" 2>/dev/null
    fi
    for ns in "${CREATED_NS[@]}"; do ip netns del "$ns" 2>/dev/null; done
    if ip netns list 2>/dev/null | grep -q "^oc${P}[a-z0-9]*\( \|$\)"; then
        fail "cleanup: namespaces left behind: $(ip netns list | grep "^oc${P}" | tr '\n' ' ')"
    fi
    if ip -o link show 2>/dev/null | grep -q ": oc${P}[a-z0-9]*[@:]"; then
        fail "cleanup: links left in the root namespace: $(ip -o link show | grep -o "oc${P}[a-z0-9]*" | tr '\n' ' ')"
    fi
    rm -f "$RUN/redis/auth.conf" "$RUN"/*.fifo

    # 3. Report.
    local ok=0
    count_results || ok=1
    if (( ok != 0 )); then
        local f
        for f in "$RUN"/*.err "$RUN"/redis/redis.log; do
            [[ -s $f ]] || continue
            echo "--- last lines of ${f#"$RUN"/} ---"
            tail -n 8 "$f"
        done
    fi
    if (( ok == 0 )) && [[ ${MULTIHOST_KEEP:-0} != 1 ]]; then
        rm -rf "$RUN"
    else
        echo "multihost: run files kept in $RUN"
    fi
    echo "multihost: ${PASSED:-0} passed, ${FAILED:-0} failed"
    if (( ok != 0 )); then
        exit $(( rc != 0 ? rc : 1 ))
    fi
    exit 0
}

on_signal() {
    fail "interrupted by SIG$1"
    if [[ $1 == INT ]]; then exit 130; else exit 143; fi
}
trap cleanup EXIT
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM

# ---------------------------------------------------------------- the network

# Redis host: a namespace with a bridge carrying 10.213.0.1. Every client host:
# a namespace with one veth end (10.213.0.x); the other end is a bridge port.
setup_network() {
    local tag ns
    ip netns add "$NS_REDIS" || return 1
    CREATED_NS+=("$NS_REDIS")
    ip -n "$NS_REDIS" link set lo up || return 1
    ip -n "$NS_REDIS" link add "$BRIDGE" type bridge || return 1
    ip -n "$NS_REDIS" addr add "$REDIS_IP/24" dev "$BRIDGE" || return 1
    ip -n "$NS_REDIS" link set "$BRIDGE" up || return 1
    for tag in "${CLIENT_HOSTS[@]}"; do
        ns=$(ns_of "$tag")
        ip netns add "$ns" || return 1
        CREATED_NS+=("$ns")
        ip -n "$ns" link set lo up || return 1
        # Created inside the redis namespace, far end straight into the client's.
        ip -n "$NS_REDIS" link add "$(peer_of "$tag")" type veth \
            peer name "$(dev_of "$tag")" netns "$ns" || return 1
        ip -n "$NS_REDIS" link set "$(peer_of "$tag")" master "$BRIDGE" up || return 1
        ip -n "$ns" addr add "${HOST_IP[$tag]}/24" dev "$(dev_of "$tag")" || return 1
        ip -n "$ns" link set "$(dev_of "$tag")" up || return 1
    done
}

PASSWORD=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')

# redis-cli from namespace $1, given at most ${RCLI_TIMEOUT:-5} s; the password
# travels in the environment, not argv.
rcli() {
    local ns=$1
    shift
    REDISCLI_AUTH=$PASSWORD timeout "${RCLI_TIMEOUT:-5}" ip netns exec "$ns" \
        redis-cli --no-auth-warning -h "$REDIS_IP" -p "$REDIS_PORT" "$@"
}

start_redis() {
    mkdir -p "$RUN/redis"
    chmod 700 "$RUN/redis"
    # requirepass comes from a 0600 file so the password is not in `ps` output.
    (umask 077 && printf 'requirepass %s\n' "$PASSWORD" >"$RUN/redis/auth.conf")
    ip netns exec "$NS_REDIS" redis-server "$RUN/redis/auth.conf" \
        --bind "$REDIS_IP" --port "$REDIS_PORT" --protected-mode no \
        --save '' --appendonly no --dir "$RUN/redis" --daemonize no \
        --logfile "$RUN/redis/redis.log" >/dev/null 2>&1 &
    REDIS_PID=$!
    track "$REDIS_PID"
    local i
    for i in $(seq 100); do
        if ! kill -0 "$REDIS_PID" 2>/dev/null; then
            return 1
        fi
        if [[ $(rcli "$NS_REDIS" ping 2>/dev/null) == PONG ]]; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

ping_from_all() {
    local tag reply
    for tag in "${CLIENT_HOSTS[@]}"; do
        reply=$(rcli "$(ns_of "$tag")" ping 2>&1)
        if [[ $reply == PONG ]]; then
            pass "setup: redis reachable from $tag (${HOST_IP[$tag]} -> $REDIS_IP)"
        else
            fail "setup: redis not reachable from $tag: $reply"
        fi
    done
}

case $PARTITION_MODE in
    down | drop) ;;
    *) fail "setup: MULTIHOST_PARTITION must be 'down' or 'drop', not '$PARTITION_MODE'"; exit 1 ;;
esac

# The binary (not needed for a dry run): checked before anything is set up.
BIN=${OPSCORE_BIN:-$REPO_ROOT/.build/debug/opscore}
BIN=$(readlink -f "$BIN" 2>/dev/null || echo "$BIN")
if [[ $DRY != 1 ]]; then
    if [[ ! -x $BIN ]]; then
        fail "setup: opscore binary $BIN not found or not executable (build it, or set OPSCORE_BIN)"
        exit 1
    fi
    if ! timeout 10 "$BIN" --help 2>&1 | grep -qw worker; then
        fail "setup: $BIN --help lists no 'worker' command (is the CLI built yet?)"
        exit 1
    fi
fi

log "run directory $RUN; namespaces oc${P}*"
if ! setup_network; then
    fail "setup: could not create namespaces/links (see errors above)"
    exit 1
fi
pass "setup: namespaces $NS_REDIS $(for t in "${CLIENT_HOSTS[@]}"; do printf '%s ' "$(ns_of "$t")"; done)with bridge $BRIDGE"
if ! start_redis; then
    fail "setup: redis-server did not come up on $REDIS_IP:$REDIS_PORT in $NS_REDIS"
    exit 1
fi
pass "setup: redis-server (pid $REDIS_PID) answers on $REDIS_IP:$REDIS_PORT with a password"
ping_from_all
if grep -q '^FAIL ' "$RESULTS"; then
    exit 1
fi

H2_NS=$(ns_of h2)
H2_DEV=$(dev_of h2)

# Cut host 2 off from redis, and reconnect it. Only host 2's namespace changes.
partition_start() {
    case $PARTITION_MODE in
        drop)
            ip netns exec "$H2_NS" nft -f - <<EOF
table inet ocpartition {
    chain out { type filter hook output priority 0; ip daddr $REDIS_IP drop; }
    chain in { type filter hook input priority 0; ip saddr $REDIS_IP drop; }
}
EOF
            ;;
        *) ip -n "$H2_NS" link set "$H2_DEV" down ;;
    esac
}
partition_end() {
    case $PARTITION_MODE in
        drop) ip netns exec "$H2_NS" nft delete table inet ocpartition ;;
        *) ip -n "$H2_NS" link set "$H2_DEV" up ;;
    esac
}

if [[ $DRY == 1 ]]; then
    # Cut host 2 off the way the real run does and see that it matters.
    partition_start
    reply=$(RCLI_TIMEOUT=2 rcli "$H2_NS" ping 2>&1)
    status=$?
    if [[ $reply == PONG ]]; then
        fail "partition ($PARTITION_MODE): h2 still reaches redis"
    elif (( status == 124 )) || [[ $reply == *"Could not connect"* || $reply == *nreachable* ]]; then
        pass "partition ($PARTITION_MODE): h2 cut off (${reply:-no answer in 2 s})"
    else
        fail "partition ($PARTITION_MODE): unexpected redis-cli result from h2: status $status: $reply"
    fi
    if reply=$(rcli "$(ns_of h1)" ping 2>&1) && [[ $reply == PONG ]]; then
        pass "partition: h1 unaffected while h2 is down"
    else
        fail "partition: h1 lost redis while h2 was down: $reply"
    fi
    partition_end
    back=0
    for _ in $(seq 30); do
        if [[ $(RCLI_TIMEOUT=1 rcli "$H2_NS" ping 2>/dev/null) == PONG ]]; then back=1; break; fi
        sleep 0.1
    done
    if (( back )); then pass "partition: h2 reaches redis again afterwards"; else fail "partition: h2 did not come back"; fi
    exit 0
fi

# ------------------------------------------------------------------ opscore

export OPSCORE_REDIS_URL="redis://:${PASSWORD}@${REDIS_IP}:${REDIS_PORT}/0?timeout=1&connect_timeout=1"
unset OPSCORE_NAMESPACE OPSCORE_LOG_LEVEL
CTL_NS=$(ns_of "$CTL_HOST")

# One-shot opscore command from the control host.
ctl() { timeout 15 ip netns exec "$CTL_NS" "$BIN" "$@"; }

# DESIGN.md puts --format before the command; if this build only takes it after
# the command (a subcommand option), use that form everywhere.
FORMAT_FIRST=1
ctl --format json agent list >/dev/null 2>"$RUN/ctl.err"
if [[ $? -eq 64 ]] && ctl agent list --format json >/dev/null 2>>"$RUN/ctl.err"; then
    FORMAT_FIRST=0
    log "this opscore takes --format after the command; using that form"
fi
# json ARGS...: an opscore command line with --format json in the right place.
json() {
    if (( FORMAT_FIRST )); then
        printf '%s\0' --format json "$@"
    else
        printf '%s\0' "$@" --format json
    fi
}
ctl_json() {
    local args=()
    mapfile -d '' args < <(json "$@")
    ctl "${args[@]}"
}
session_id_of() { python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["session_id"])'; }

if ! ctl agent register "$AGENT" >>"$RUN/ctl.out" 2>>"$RUN/ctl.err"; then
    fail "setup: opscore agent register $AGENT failed: $(tail -n 1 "$RUN/ctl.err")"
    exit 1
fi

# The watcher, on its own host.
mapfile -d '' WATCH_ARGS < <(json watch)
ip netns exec "$(ns_of "$WATCH_HOST")" "$BIN" "${WATCH_ARGS[@]}" >"$RUN/watch.out" 2>"$RUN/watch.err" &
WATCH_PID=$!
track "$WATCH_PID"

# Wait until the watcher is subscribed: poke a probe session until its event shows up.
if ! PROBE=$(ctl_json session start --agent "$AGENT" --workflow wf-probe 2>>"$RUN/ctl.err" | session_id_of); then
    fail "setup: opscore session start failed: $(tail -n 1 "$RUN/ctl.err")"
    exit 1
fi
subscribed=0
for i in $(seq 40); do
    if grep -q "$PROBE" "$RUN/watch.out" 2>/dev/null; then subscribed=1; break; fi
    ctl session update "$PROBE" --metadata "{\"probe\":$i}" >/dev/null 2>>"$RUN/ctl.err"
    sleep 0.1
done
if (( subscribed )); then
    pass "setup: watcher (pid $WATCH_PID) receives events"
else
    fail "setup: watcher printed no event for the probe session within 4 s"
fi

: >"$RUN/sessions.txt"
for i in $(seq "$SESSION_COUNT"); do
    if ! sid=$(ctl_json session start --agent "$AGENT" --workflow wf 2>>"$RUN/ctl.err" | session_id_of) || [[ -z $sid ]]; then
        fail "setup: opscore session start #$i failed: $(tail -n 1 "$RUN/ctl.err")"
        exit 1
    fi
    echo "$sid" >>"$RUN/sessions.txt"
done
SESSIONS_CSV=$(paste -sd, "$RUN/sessions.txt")
log "sessions: $SESSIONS_CSV"

# Request streams, one per worker host.
for h in "${WORKER_HOSTS[@]}"; do
    python3 "$CHECKER" gen --host "$h" --sessions "$SESSIONS_CSV" --count "$REQUESTS" >"$RUN/$h.requests.jsonl"
done

FEED_SECONDS=$(awk -v n="$REQUESTS" -v p="$PACE" 'BEGIN { printf "%d", n * p + 0.999 }')
FEED_LIMIT=$(( FEED_SECONDS + 10 ))
WORKER_LIMIT=$(( FEED_SECONDS + 20 ))   # hard cap per worker process (timeout exit 124)

declare -A WORKER_PID FEED_PID WORKER_START
START_MS=$(now_ms)
for h in "${WORKER_HOSTS[@]}"; do
    mkfifo "$RUN/$h.fifo"
    timeout -k 3 "$WORKER_LIMIT" ip netns exec "$(ns_of "$h")" \
        "$BIN" worker --concurrency "$CONCURRENCY" \
        <"$RUN/$h.fifo" >"$RUN/$h.out" 2>"$RUN/$h.err" &
    WORKER_PID[$h]=$!
    WORKER_START[$h]=$(now_ms)
    track "${WORKER_PID[$h]}"
done
for h in "${WORKER_HOSTS[@]}"; do
    timeout -k 3 "$FEED_LIMIT" python3 "$CHECKER" feed --pace "$PACE" "$RUN/$h.requests.jsonl" \
        >"$RUN/$h.fifo" 2>"$RUN/$h.feed.err" &
    FEED_PID[$h]=$!
    track "${FEED_PID[$h]}"
done
log "3 workers x $REQUESTS requests over ~${FEED_SECONDS}s, --concurrency $CONCURRENCY"

# The partition: host 2 is cut off mid-run, then comes back.
sleep "$PARTITION_AT"
if partition_start; then
    log "h2 cut off ($PARTITION_MODE)"
else
    fail "setup: could not cut h2 off ($PARTITION_MODE)"
fi
echo "cut $(( $(now_ms) - START_MS ))" >"$RUN/partition.txt"
sleep "$PARTITION_FOR"
partition_end
log "h2 reconnected"
echo "restored $(( $(now_ms) - START_MS ))" >>"$RUN/partition.txt"

# Feeders end when their streams are written; workers then drain and exit 0.
for h in "${WORKER_HOSTS[@]}"; do
    if ! wait_pid "${FEED_PID[$h]}" $(( FEED_LIMIT + 5 )); then
        log "feeder for $h did not finish"
    elif (( WAIT_RC != 0 )); then
        log "feeder for $h exited $WAIT_RC: $(tail -n 1 "$RUN/$h.feed.err")"
    fi
done
problems_e=()
for h in "${WORKER_HOSTS[@]}"; do
    remaining=$(( WORKER_LIMIT + 4 - ($(now_ms) - WORKER_START[$h]) / 1000 ))
    if ! wait_pid "${WORKER_PID[$h]}" $(( remaining > 1 ? remaining : 1 )); then
        problems_e+=("worker $h still running ${WORKER_LIMIT}s after start")
    elif (( WAIT_RC == 124 || WAIT_RC == 137 )); then
        problems_e+=("worker $h hung: killed by timeout after ${WORKER_LIMIT}s (status $WAIT_RC)")
    elif (( WAIT_RC != 0 )); then
        problems_e+=("worker $h exited $WAIT_RC")
    else
        log "worker $h exited 0 after $(( ($(now_ms) - WORKER_START[$h]) / 1000 ))s"
    fi
done

# Final state of every session, read from the control host.
: >"$RUN/final.jsonl"
while read -r sid; do
    if ! ctl_json session get "$sid" >>"$RUN/final.jsonl" 2>>"$RUN/ctl.err"; then
        log "session get $sid failed: $(tail -n 1 "$RUN/ctl.err")"
    fi
done <"$RUN/sessions.txt"

# Let the watcher catch up with the last events (bounded), then stop it.
for _ in $(seq 50); do
    python3 "$CHECKER" seen --dir "$RUN" && break
    sleep 0.1
done
kill -TERM "$WATCH_PID" 2>/dev/null
stop_ms=$(now_ms)
if ! wait_pid "$WATCH_PID" 5; then
    problems_e+=("watcher still running 5 s after SIGTERM")
elif (( WAIT_RC != 0 )); then
    problems_e+=("watcher exited $WAIT_RC on SIGTERM (expected 0)")
else
    log "watcher exited 0 $(( $(now_ms) - stop_ms )) ms after SIGTERM"
fi

if (( ${#problems_e[@]} == 0 )); then
    pass "e no process hung: 3 workers exited 0 at end of input, watcher exited 0 on SIGTERM within 5 s"
else
    fail "e no process hung: $(IFS=';'; echo "${problems_e[*]}")"
fi

log "h2 partition (ms since start): $(tr '\n' ' ' <"$RUN/partition.txt")"
python3 "$CHECKER" check --dir "$RUN" --hosts "$(IFS=,; echo "${WORKER_HOSTS[*]}")" --results "$RESULTS"
exit 0   # the EXIT trap cleans up, prints the summary and sets the status
