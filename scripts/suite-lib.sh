# Shared by scripts/redis-suite.sh and scripts/client-suite.sh, which
# source it: process bookkeeping, free ports, and starting redis-server and
# resplay on them. The sourcing script defines `note` (its own prefix) and
# the PIDS array, and sets RESPLAY_BIN.

# forget PID: drop a process we stopped ourselves from the cleanup list.
forget() {
    local pid=$1 kept=() p
    for p in "${PIDS[@]}"; do
        [[ $p == "$pid" ]] || kept+=("$p")
    done
    PIDS=("${kept[@]}")
}

# stop_pid PID [GRACE]: SIGTERM, wait up to GRACE seconds, then SIGKILL; reap.
stop_pid() {
    local pid=$1 grace=${2:-30} i
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < grace * 10; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    forget "$pid"
}

# free_port: print a TCP port nothing listens on, in 22000-31999: below
# Linux's ephemeral range (32768-60999, where an outgoing connection can hold
# the port) and above runtest's own ports (its test server sits near 21079).
free_port() {
    local port
    while true; do
        port=$((22000 + RANDOM % 10000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
}

# await_redis PID PORT: waits for the redis-server just started as PID to
# answer PING on PORT (10 s at most); sets REDIS_PID and REDIS_PORT, or
# stops it and fails.
await_redis() {
    local pid=$1 port=$2 i
    PIDS+=("$pid")
    for ((i = 0; i < 100; i++)); do
        if [[ $(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null) == PONG ]]; then
            REDIS_PID=$pid
            REDIS_PORT=$port
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    stop_pid "$pid" 5
    return 1
}

# start_resplay LOGFILE ARGS...: start resplay listening on a free port; its
# stderr (and stdout) go to LOGFILE. Reads the port from the one line
# `resplay: listening on 127.0.0.1:PORT`. Sets RESPLAY_PID and RESPLAY_PORT.
start_resplay() {
    local log=$1 pid i port
    shift
    : >"$log"
    "$RESPLAY_BIN" "$@" --listen 127.0.0.1:0 >"$log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for ((i = 0; i < 600; i++)); do
        port=$(sed -n 's/^resplay: listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$log" | head -n1)
        if [[ -n $port ]]; then
            RESPLAY_PID=$pid
            RESPLAY_PORT=$port
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    note "resplay $1 did not start, see $log"
    stop_pid "$pid" 5
    return 1
}

# ---------------------------------------------------------------------------
# Running one unit in one mode
# ---------------------------------------------------------------------------

# unit_dir UNIT: the unit's output directory.

# cleanup: stops every process still in PIDS and removes WORK (the EXIT
# trap of the sourcing script).
# shellcheck disable=SC2317 # invoked by the EXIT trap only
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    sleep 0.5
    for pid in "${PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n $WORK ]]; then rm -rf "$WORK"; fi
}
