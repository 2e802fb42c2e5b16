#!/usr/bin/env bash
# End-to-end throughput, latency, CPU cost and memory of resplay against a
# real Redis.
#
#   scripts/bench.sh                       # full run (several minutes)
#   ROUNDS=3 REQUESTS=20000 SKIP_BIG=1 scripts/bench.sh   # quick check
#   BASELINE=b2a235f SKIP_BIG=1 scripts/bench.sh           # HEAD against b2a235f
#   BASELINE=b2a235f ONLY_INSTRUCTIONS=1 scripts/bench.sh  # instruction counts only
#   TLS=1 SKIP_BIG=1 ROUNDS=5 scripts/bench.sh             # adds the TLS targets
#   ONLY_CLUSTER=1 SKIP_BIG=1 ROUNDS=3 scripts/bench.sh    # Redis Cluster targets only
#   ONLY_MEMORY=1 HUGE=1 scripts/bench.sh                 # memory runs, with 10M interactions
#
# What it does:
#   1. `cargo build --release`.
#   2. Starts, each on a free port and in one temp dir: redis-server (no
#      persistence; TCP and a Unix socket), `resplay record` in front of it
#      over TCP (`record`) and over the Unix socket (`record-unix`), `resplay
#      replay` on a cassette recorded by a first pass of the same benchmark,
#      and, when installed, two peer proxies: haproxy in `mode tcp` (a plain
#      byte relay, one upstream connection per client, nothing recorded: the
#      ceiling for any proxy built that way) and twemproxy (`nutcracker`);
#      and, when it can be installed, a peer stand-in server: fakeredis's
#      `TcpFakeServer` (Python; `fakeredis`, in its own virtualenv, see
#      FAKEREDIS_VENV), which answers from memory as replay does. It is
#      slow, so it gets FAKEREDIS_REQUESTS requests per run; its ratio is
#      still rps / direct rps of the same round, and its CPU column is the
#      Python process's (redis-server's is ~0 there: not involved).
#      redis-benchmark's start-up CONFIG GET gets an error from it, which
#      redis-benchmark only warns about ("Could not fetch server CONFIG").
#   3. Runs `redis-benchmark -t set,get -c 50 -P {1,16} --csv` against each
#      target in alternating rounds (direct Redis first in every round), and
#      prints, per target, pipeline depth and command: the median over rounds
#      of (target rps / direct rps of the same round), and the medians of the
#      rps, p50 and p99 latency. Then, per target and pipeline depth, the
#      CPU time per request of the proxy under test and of redis-server
#      (utime+stime from /proc/PID/stat around each run, divided by the
#      requests of both tests; median over rounds): less sensitive than rps
#      to the noise of shared cores. For `direct` the proxy column is 0 and
#      redis-server's is the baseline. The statistics are in
#      scripts/bench_report.py.
#   4. With BASELINE=<git rev>: builds that revision (release) in a temporary
#      `git worktree` (removed on exit; target dir BASE_TARGET) and adds two
#      targets to the same alternating rounds: `record@base` and
#      `replay@base`, the baseline binary with the same flags (its replay
#      serves a cassette recorded by the baseline's own warm-up pass). Each
#      baseline target runs next to its HEAD counterpart (order swapped every
#      other round), and the report adds a table of HEAD / baseline ratios
#      taken within each round (rps and CPU us/request).
#   5. With INSTRUCTIONS=1: instructions per request of `resplay replay` and
#      `resplay record` (and, with BASELINE, of the baseline's), counted by
#      `valgrind --tool=callgrind` (perf has no instruction counter on every
#      machine) over a fixed load: `redis-benchmark -n INSTR_REQUESTS -c
#      CLIENTS -t get,set` at -P 1 and -P 16, counters zeroed once the proxy
#      listens and dumped after the load. Repeatable to about 0.1 % where
#      throughput on shared cores is not; prints the HEAD/base difference.
#   6. With TLS=1: makes a CA and a certificate for 127.0.0.1/localhost
#      (openssl, in the temp dir), starts a second redis-server that speaks
#      only TLS with it, and adds three targets to the same rounds, each
#      benchmarked with `redis-benchmark --tls --cacert ca.pem`: `direct-tls`
#      (that Redis), `record-tls` (`resplay record` with a TLS listener on
#      the same certificate, upstream rediss:// with --tls-ca-file) and
#      `replay-tls` (`resplay replay`, TLS listener, on a cassette recorded
#      by a warm-up pass through record-tls). Their ratios are against
#      `direct-tls` of the same round, in a table of their own.
#   7. With CLUSTER=1: starts a Redis Cluster of three primaries (no
#      replicas; `redis-server --cluster-enabled yes` on free ports whose
#      bus port, +10000, is free too, joined by `redis-cli --cluster
#      create`) and adds three targets to the same rounds, each benchmarked
#      with `redis-benchmark --cluster` (which reads the topology from the
#      node it is given and opens connections to every primary):
#      `direct-cluster` (the cluster's first node), `record-cluster`
#      (`resplay record --cluster` upstream of that node, a fresh process and
#      cassette per run: redis-benchmark sees only its listeners) and
#      `replay-cluster` (`resplay replay` of a cassette recorded by a
#      warm-up pass of the same workload through record-cluster). Their
#      ratios are against `direct-cluster` of the same round, in a table of
#      their own; their redis-server CPU is the sum over the three nodes.
#   8. Unless SKIP_BIG=1: the peak RSS (VmHWM) of `resplay record` while it
#      records two million SETs, with the cassette size; and `resplay replay`
#      loading a cassette of one million interactions (recorded through
#      `resplay record` from `redis-benchmark -r 100000 -P 16 -t set,get`):
#      seconds to listening, RSS after load and peak RSS, each also as a
#      multiple of the file size.
#   9. With HUGE=1 (after 8): the same load figures for a cassette of ten
#      million interactions (HUGE_LOAD; about 1 GiB, a minute or more to
#      record, seconds to load and several GiB of RSS), then `redis-benchmark
#      -P 16 -r 1000 -t set,get` against its replay and against the replay
#      of a small cassette (40000 interactions of the same workload), in
#      HUGE_ROUNDS alternating rounds: a large cassette should serve at the
#      rate of a small one.
#
# Knobs (environment):
#   ROUNDS=5            rounds of the alternating comparison
#   REQUESTS=100000     requests per test at -P 1 (aim for 1-2 s per run)
#   REQUESTS_P16=10x    requests per test at -P 16 (default 10 x REQUESTS)
#   CLUSTER_REQUESTS=4x requests per test of the cluster targets at -P 1 (default
#                       4 x REQUESTS): redis-benchmark --cluster runs a thread
#                       per primary and notices the end of a run on its 250 ms
#                       timer, so a run's time (and rps) is a multiple of 250
#                       ms; runs of several seconds keep that error small
#   CLUSTER_REQUESTS_P16=10x  the same at -P 16 (default 10 x CLUSTER_REQUESTS)
#   CLIENTS=50          redis-benchmark connections
#   THREADS=            resplay's runtime threads (`--threads`, 0: one per
#                       core) for every record and replay it starts; unset,
#                       resplay's default (1)
#   SKIP_BIG=0          1 skips the two-million / one-million memory runs
#   BIG_RECORD=2000000  commands recorded for the record-memory run
#   BIG_LOAD=1000000    interactions in the cassette of the load run
#   HUGE=0              1 adds the ten-million-interaction cassette (step 9)
#   HUGE_LOAD=10000000  its interactions
#   HUGE_ROUNDS=3       rounds of its huge-against-small throughput comparison
#   ONLY_MEMORY=0       1 skips the rounds: the memory runs only (steps 8, 9)
#   KEEP=0              1 keeps the temp dir (logs, cassettes) for inspection
#   FAKEREDIS=1         0 leaves fakeredis out
#   FAKEREDIS_VENV=~/.cache/resplay/fakeredis-venv  the virtualenv fakeredis is
#                       installed into (`python3 -m venv`, `pip install
#                       fakeredis`) the first time; kept between runs
#   FAKEREDIS_REQUESTS=5000   requests per test of fakeredis at -P 1 (it
#                       serves ~10k rps: about a second a run)
#   FAKEREDIS_REQUESTS_P16=4x  the same at -P 16 (default 4 x FAKEREDIS_REQUESTS)
#   BASELINE=           a git rev (e.g. b2a235f) to compare HEAD against
#   BASE_TARGET=target/bench-base   cargo target dir of the baseline build
#                       (kept between runs, so a rerun only relinks)
#   INSTRUCTIONS=0      1 adds the callgrind instruction counts (minutes)
#   INSTR_REQUESTS=20000  requests per test of the instruction-count load
#   INSTR_REPEAT=1      repetitions of each instruction count
#   ONLY_INSTRUCTIONS=0 1 skips the rounds (and memory runs): counts only
#   TLS=0               1 adds the TLS targets (direct-tls, record-tls, replay-tls)
#   ONLY_TLS=0          1 runs only the TLS targets in the rounds (implies TLS=1)
#   CLUSTER=0           1 adds the cluster targets (direct-cluster, record-cluster,
#                       replay-cluster)
#   ONLY_CLUSTER=0      1 runs only the cluster targets in the rounds (implies
#                       CLUSTER=1; with TLS=1 the TLS targets too)
#   CONFORM=0           1 adds load replay: `resplay conform --load --speed
#                       max` of a REQUESTS-command cassette (redis-benchmark
#                       GET/SET, CLIENTS connections, recorded through
#                       record) against direct redis-benchmark with the same
#                       connections, ROUNDS alternating rounds, the median
#                       ratio of commands per second
#   ONLY_CONFORM=0      1 runs only that (implies CONFORM=1)
#
# "HEAD" is the working tree of this checkout (the script says when src/ or
# Cargo.* have uncommitted changes). Both binaries are copied into the temp
# dir before use, so a cargo build running meanwhile cannot swap them.
#
# Every child is killed on exit. Needs redis-server, redis-benchmark,
# python3 (and openssl with TLS=1); haproxy and twemproxy are optional (for each, the script tries
# `apt-get install -y haproxy` / `nutcracker` once and goes on without it), and
# so is fakeredis (pip, into FAKEREDIS_VENV; without it the script says so and
# goes on).
set -euo pipefail

ROUNDS=${ROUNDS:-5}
REQUESTS=${REQUESTS:-100000}
REQUESTS_P16=${REQUESTS_P16:-$((REQUESTS * 10))}
CLUSTER_REQUESTS=${CLUSTER_REQUESTS:-$((REQUESTS * 4))}
CLUSTER_REQUESTS_P16=${CLUSTER_REQUESTS_P16:-$((CLUSTER_REQUESTS * 10))}
CLIENTS=${CLIENTS:-50}
SKIP_BIG=${SKIP_BIG:-0}
BIG_RECORD=${BIG_RECORD:-2000000}
BIG_LOAD=${BIG_LOAD:-1000000}
HUGE=${HUGE:-0}
HUGE_LOAD=${HUGE_LOAD:-10000000}
HUGE_ROUNDS=${HUGE_ROUNDS:-3}
ONLY_MEMORY=${ONLY_MEMORY:-0}
KEEP=${KEEP:-0}
FAKEREDIS=${FAKEREDIS:-1}
FAKEREDIS_VENV=${FAKEREDIS_VENV:-$HOME/.cache/resplay/fakeredis-venv}
FAKEREDIS_REQUESTS=${FAKEREDIS_REQUESTS:-5000}
FAKEREDIS_REQUESTS_P16=${FAKEREDIS_REQUESTS_P16:-$((FAKEREDIS_REQUESTS * 4))}
BASELINE=${BASELINE:-}
INSTRUCTIONS=${INSTRUCTIONS:-0}
INSTR_REQUESTS=${INSTR_REQUESTS:-20000}
ONLY_INSTRUCTIONS=${ONLY_INSTRUCTIONS:-0}
INSTR_REPEAT=${INSTR_REPEAT:-1}
TLS=${TLS:-0}
ONLY_TLS=${ONLY_TLS:-0}
CLUSTER=${CLUSTER:-0}
ONLY_CLUSTER=${ONLY_CLUSTER:-0}
CONFORM=${CONFORM:-0}
ONLY_CONFORM=${ONLY_CONFORM:-0}
[[ $ONLY_CONFORM == 1 ]] && CONFORM=1
[[ $ONLY_INSTRUCTIONS == 1 ]] && INSTRUCTIONS=1
[[ $ONLY_TLS == 1 ]] && TLS=1
[[ $ONLY_CLUSTER == 1 ]] && CLUSTER=1
# The plain targets (direct, record, replay, the peers) are left out when
# only the TLS or only the cluster targets are asked for.
PLAIN=1
[[ $ONLY_TLS == 1 || $ONLY_CLUSTER == 1 ]] && PLAIN=0

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REPORT="$ROOT/scripts/bench_report.py"
BASE_TARGET=${BASE_TARGET:-$ROOT/target/bench-base}

die() { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

for tool in redis-server redis-benchmark redis-cli python3 cargo; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (Debian: apt-get install redis-tools redis-server python3)"
done

if [[ $TLS == 1 ]]; then
    command -v openssl >/dev/null 2>&1 || die "TLS=1 needs openssl (Debian: apt-get install openssl)"
    redis-benchmark --help 2>&1 | grep -q -- '--tls' \
        || die "TLS=1: this redis-benchmark has no --tls (built without TLS support)"
fi

if [[ $INSTRUCTIONS == 1 ]] && ! command -v valgrind >/dev/null 2>&1; then
    note "valgrind not found; trying apt-get install -y valgrind"
    apt-get install -y valgrind >/dev/null 2>&1 || die "INSTRUCTIONS=1 needs valgrind"
fi

if [[ $PLAIN == 1 ]] && ! command -v nutcracker >/dev/null 2>&1; then
    note "nutcracker not found; trying apt-get install -y nutcracker"
    apt-get install -y nutcracker >/dev/null 2>&1 || note "could not install nutcracker; skipping twemproxy"
fi
if [[ $PLAIN == 1 ]] && ! command -v haproxy >/dev/null 2>&1; then
    note "haproxy not found; trying apt-get install -y haproxy"
    apt-get install -y haproxy >/dev/null 2>&1 || note "could not install haproxy; skipping it"
fi
# fakeredis lives in a virtualenv of its own (never the system's Python),
# made once and kept: a rerun needs no network.
FAKEREDIS_PY=
if [[ $PLAIN == 1 && $FAKEREDIS == 1 && $ONLY_INSTRUCTIONS != 1 && $ONLY_CONFORM != 1 && $ONLY_MEMORY != 1 ]]; then
    if ! "$FAKEREDIS_VENV/bin/python" -c 'from fakeredis import TcpFakeServer' >/dev/null 2>&1; then
        note "fakeredis not found in $FAKEREDIS_VENV; trying python3 -m venv and pip install fakeredis"
        { python3 -m venv "$FAKEREDIS_VENV" && "$FAKEREDIS_VENV/bin/pip" install -q fakeredis; } >/dev/null 2>&1 || true
    fi
    if "$FAKEREDIS_VENV/bin/python" -c 'from fakeredis import TcpFakeServer' >/dev/null 2>&1; then
        FAKEREDIS_PY=$FAKEREDIS_VENV/bin/python
    else
        note "could not install fakeredis (python3 -m venv + pip install fakeredis into $FAKEREDIS_VENV); skipping it"
    fi
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/resplay-bench.XXXXXX")
PIDS=()
BASE_TREE=

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n $BASE_TREE ]]; then
        git -C "$ROOT" worktree remove --force "$BASE_TREE" 2>/dev/null \
            || { rm -rf "$BASE_TREE"; git -C "$ROOT" worktree prune; }
    fi
    if [[ $KEEP == 1 ]]; then
        note "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

now() { date +%s.%N; }

# wait_for_line FILE PATTERN PID [SECONDS]: until FILE has PATTERN, or fail
# if PID dies or time runs out.
wait_for_line() {
    local file=$1 pattern=$2 pid=$3 limit=${4:-120}
    local deadline
    deadline=$(($(date +%s) + limit))
    until grep -q "$pattern" "$file" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || { cat "$file" >&2; die "process $pid exited before printing '$pattern'"; }
        (($(date +%s) < deadline)) || { cat "$file" >&2; die "timed out waiting for '$pattern' in $file"; }
        sleep 0.01
    done
}

# answers_ping PORT [redis-cli args]: true once a server on PORT answers
# PING (up to 5 s).
answers_ping() {
    local port=$1 _
    shift
    for _ in $(seq 100); do
        redis-cli -p "$port" "$@" ping >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    return 1
}

# add_peer NAME PORT PID LOG: a peer proxy that answers PING becomes a
# target (PID is the process whose CPU is measured); otherwise it is skipped.
add_peer() {
    if answers_ping "$2"; then
        TARGETS+=("$1:$2")
        PROXY_PID[$1]=$3
        note "$1 on $2"
    else
        note "$1 did not answer PING; skipping it (see $4)"
    fi
}

# The address from resplay's "resplay: listening on ADDR" line.
listen_port() {
    sed -n 's/^resplay: listening on .*:\([0-9]*\)$/\1/p' "$1" | head -n1
}

# stop PID: SIGTERM, wait, and forget it.
stop() {
    local pid=$1 keep=() p
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in "${PIDS[@]}"; do
        [[ $p == "$pid" ]] || keep+=("$p")
    done
    PIDS=("${keep[@]+"${keep[@]}"}")
}

vm_hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

CLK_TCK=$(getconf CLK_TCK)

# cpu_ticks PID...: utime+stime of the whole processes (all threads), in
# clock ticks, summed: fields 14 and 15 of /proc/PID/stat, counted after the
# ")" that ends the command name (which may itself hold spaces). PID 0 (no
# proxy) counts 0.
cpu_ticks() {
    local pid total=0
    for pid in "$@"; do
        [[ $pid == 0 ]] && continue
        total=$((total + $(sed 's/^.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')))
    done
    echo "$total"
}

# us_per_request TICKS REQUESTS: CPU microseconds per request, 3 decimals.
us_per_request() {
    awk -v t="$1" -v n="$2" -v hz="$CLK_TCK" 'BEGIN {printf "%.3f", t * 1e6 / hz / n}'
}

human_bytes() { numfmt --to=iec-i --suffix=B "$1"; }

# ---------------------------------------------------------------- build
note "cargo build --release"
(cd "$ROOT" && cargo build --release --quiet)
[[ -x $ROOT/target/release/resplay ]] || die "no binary at $ROOT/target/release/resplay"
BIN="$WORK/resplay"
cp "$ROOT/target/release/resplay" "$BIN"
HEAD_DESC=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
if [[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no -- src Cargo.toml Cargo.lock build.rs 2>/dev/null) ]]; then
    HEAD_DESC="$HEAD_DESC + uncommitted changes"
fi
note "HEAD binary: $HEAD_DESC"

BASE_BIN=
if [[ -n $BASELINE ]]; then
    BASE_REV=$(git -C "$ROOT" rev-parse --verify --short "$BASELINE^{commit}") \
        || die "BASELINE=$BASELINE is not a commit"
    BASE_TREE="$WORK/base-src"
    git -C "$ROOT" worktree add --detach --quiet "$BASE_TREE" "$BASE_REV"
    note "cargo build --release of $BASE_REV (worktree $BASE_TREE, target $BASE_TARGET)"
    (cd "$BASE_TREE" && CARGO_TARGET_DIR="$BASE_TARGET" cargo build --release --quiet)
    BASE_BIN="$WORK/resplay-base"
    cp "$BASE_TARGET/release/resplay" "$BASE_BIN"
    note "baseline binary: $BASE_REV"
fi

# ---------------------------------------------------------------- redis
REDIS_PORT=$(free_port)
REDIS_SOCK="$WORK/redis.sock"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK" \
    --unixsocket "$REDIS_SOCK" --unixsocketperm 700 \
    --save '' --appendonly no --daemonize no --logfile "$WORK/redis.log" &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
answers_ping "$REDIS_PORT" || die "redis-server did not start (see $WORK/redis.log)"
redis-cli -s "$REDIS_SOCK" ping >/dev/null 2>&1 || die "redis-server does not answer on $REDIS_SOCK (see $WORK/redis.log)"
note "redis-server on $REDIS_PORT and $REDIS_SOCK"

# ---------------------------------------------------------------- TLS redis
# A CA and a server certificate for 127.0.0.1 and localhost (P-256), used by
# the TLS redis-server and by resplay's TLS listeners alike.
TLS_DIR="$WORK/tls"
if [[ $TLS == 1 ]]; then
    mkdir -p "$TLS_DIR"
    (
        cd "$TLS_DIR"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout ca.key -out ca.pem -days 2 -subj /CN=resplay-bench-ca \
            -addext basicConstraints=critical,CA:TRUE \
            -addext keyUsage=critical,keyCertSign,cRLSign
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout key.pem -out server.csr -subj /CN=localhost
        printf '%s\n' basicConstraints=CA:FALSE keyUsage=critical,digitalSignature \
            extendedKeyUsage=serverAuth subjectAltName=IP:127.0.0.1,DNS:localhost >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -out cert.pem -days 2 -extfile server.ext
    ) >"$TLS_DIR/openssl.log" 2>&1 || { cat "$TLS_DIR/openssl.log" >&2; die "openssl could not make the certificates"; }
    TLS_PORT=$(free_port)
    redis-server --port 0 --tls-port "$TLS_PORT" --bind 127.0.0.1 --dir "$TLS_DIR" \
        --tls-cert-file "$TLS_DIR/cert.pem" --tls-key-file "$TLS_DIR/key.pem" \
        --tls-ca-cert-file "$TLS_DIR/ca.pem" --tls-auth-clients no \
        --save '' --appendonly no --daemonize no --logfile "$WORK/redis-tls.log" &
    TLS_REDIS_PID=$!
    PIDS+=("$TLS_REDIS_PID")
    answers_ping "$TLS_PORT" --tls --cacert "$TLS_DIR/ca.pem" \
        || die "TLS redis-server did not start (see $WORK/redis-tls.log)"
    note "TLS redis-server on $TLS_PORT"
fi

# ---------------------------------------------------------------- cluster
# Three primaries, each node in a directory of its own; the cluster bus is
# the client port + 10000, so both must be free (and the port <= 55535).
cluster_port() { # TAKEN_PORT...
    python3 - "$@" <<'PY'
import socket, sys
taken = {int(p) for p in sys.argv[1:]}
taken |= {p + 10000 for p in taken}
for _ in range(1000):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    if port > 55535 or port in taken or port + 10000 in taken:
        continue
    bus = socket.socket()
    try:
        bus.bind(("127.0.0.1", port + 10000))
    except OSError:
        continue
    print(port)
    break
else:
    sys.exit("no free port pair")
PY
}

# cluster_settled: every node says cluster_state:ok and all give the same
# CLUSTER SLOTS.
cluster_settled() {
    local port slots=() first
    for port in "${CLUSTER_PORTS[@]}"; do
        redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
        slots+=("$(redis-cli -p "$port" cluster slots 2>/dev/null)")
    done
    first=${slots[0]}
    for port in "${slots[@]}"; do
        [[ $port == "$first" ]] || return 1
    done
}

CLUSTER_PORTS=()
CLUSTER_PIDS=()
if [[ $CLUSTER == 1 ]]; then
    for _ in 1 2 3; do
        port=$(cluster_port ${CLUSTER_PORTS[@]+"${CLUSTER_PORTS[@]}"}) || die "no free cluster port"
        mkdir -p "$WORK/cluster/$port"
        redis-server --port "$port" --bind 127.0.0.1 --dir "$WORK/cluster/$port" \
            --cluster-enabled yes --cluster-config-file nodes.conf \
            --save '' --appendonly no --daemonize no --logfile "$WORK/cluster/$port/redis.log" &
        CLUSTER_PIDS+=("$!")
        PIDS+=("$!")
        answers_ping "$port" || die "cluster node did not start (see $WORK/cluster/$port/redis.log)"
        CLUSTER_PORTS+=("$port")
    done
    redis-cli --cluster create "${CLUSTER_PORTS[@]/#/127.0.0.1:}" --cluster-yes \
        >"$WORK/cluster/create.log" 2>&1 || { cat "$WORK/cluster/create.log" >&2; die "redis-cli --cluster create failed"; }
    for _ in $(seq 300); do
        cluster_settled && break
        sleep 0.1
    done
    cluster_settled || die "the cluster did not settle (see $WORK/cluster)"
    CLUSTER_SEED=${CLUSTER_PORTS[0]}
    note "Redis Cluster on ${CLUSTER_PORTS[*]}"
fi

# resplay's TLS listener and upstream flags, redis-benchmark's TLS flags.
TLS_LISTEN=(--listen-tls-cert "$TLS_DIR/cert.pem" --listen-tls-key "$TLS_DIR/key.pem")
TLS_CLIENT=(--tls --cacert "$TLS_DIR/ca.pem")

# start_record CASSETTE LOG [UPSTREAM [ARGS...]]: starts `resplay record`
# (upstream redis-server over TCP unless given; ARGS are added to resplay's);
# sets REC_PID, REC_PORT. The binary is
# $RUN (default $BIN), with the command prefix in WRAP (e.g. valgrind).
start_record() {
    # Emptied here, not by the background job's redirection: that happens
    # after the fork, and wait_for_line could meanwhile find the previous
    # run's "listening on" in a reused log.
    local cassette=$1 log=$2 upstream=${3:-redis://127.0.0.1:$REDIS_PORT}
    shift $(($# < 3 ? $# : 3))
    : >"$log"
    ${WRAP[@]+"${WRAP[@]}"} "${RUN:-$BIN}" record --upstream "$upstream" \
        --cassette "$cassette" --listen 127.0.0.1:0 ${THREADS:+--threads "$THREADS"} "$@" 2>"$log" &
    REC_PID=$!
    PIDS+=("$REC_PID")
    wait_for_line "$log" '^resplay: listening on' "$REC_PID" 300
    REC_PORT=$(listen_port "$log")
}

# start_replay CASSETTE LOG [ARGS...]: starts `resplay replay` (binary and prefix as
# for start_record); sets REP_PID, REP_PORT, REP_LOAD_S (seconds from exec to
# the listening line).
start_replay() {
    local t0 cassette=$1 log=$2
    shift 2
    t0=$(now)
    : >"$log" # (as in start_record)
    ${WRAP[@]+"${WRAP[@]}"} "${RUN:-$BIN}" replay --cassette "$cassette" --listen 127.0.0.1:0 ${THREADS:+--threads "$THREADS"} "$@" 2>"$log" &
    REP_PID=$!
    PIDS+=("$REP_PID")
    wait_for_line "$log" '^resplay: listening on' "$REP_PID" 600
    REP_LOAD_S=$(python3 -c "print(f'{$(now) - $t0:.2f}')")
    REP_PORT=$(listen_port "$log")
}

bench_cmd() { # PORT PIPELINE REQUESTS [extra args]
    local port=$1 pipe=$2 n=$3
    [[ $port =~ ^[1-9][0-9]*$ ]] || die "no port to benchmark (got '$port')"
    shift 3
    redis-benchmark -h 127.0.0.1 -p "$port" -c "$CLIENTS" -n "$n" -P "$pipe" "$@"
}

requests_for() { # PIPELINE [TARGET]
    if [[ ${2:-} == fakeredis ]]; then
        if [[ $1 == 1 ]]; then echo "$FAKEREDIS_REQUESTS"; else echo "$FAKEREDIS_REQUESTS_P16"; fi
    elif [[ ${2:-} == *-cluster ]]; then
        if [[ $1 == 1 ]]; then echo "$CLUSTER_REQUESTS"; else echo "$CLUSTER_REQUESTS_P16"; fi
    elif [[ $1 == 1 ]]; then echo "$REQUESTS"; else echo "$REQUESTS_P16"; fi
}

# ---------------------------------------------------------------- record + replay
# A first pass through `resplay record` makes the cassette replay serves: the
# default benchmark uses one fixed key and value, so every recorded GET/SET
# answers the later runs identically (replay repeats the last recording).
# The baseline records its own cassette the same way (the format may differ).
warm_cassette() { # CASSETTE LOG [tls|cluster] (binary: $RUN)
    local client=()
    if [[ ${3:-} == tls ]]; then
        start_record "$1" "$2" "rediss://127.0.0.1:$TLS_PORT" --tls-ca-file "$TLS_DIR/ca.pem" "${TLS_LISTEN[@]}"
        client=("${TLS_CLIENT[@]}")
    elif [[ ${3:-} == cluster ]]; then
        start_record "$1" "$2" "redis://127.0.0.1:$CLUSTER_SEED" --cluster
        client=(--cluster)
    else
        start_record "$1" "$2"
    fi
    for pipe in 1 16; do
        bench_cmd "$REC_PORT" "$pipe" 2000 -t get,set -q "${client[@]+"${client[@]}"}" >/dev/null 2>&1
    done
    stop "$REC_PID"
    note "recorded $1: $(grep -c '' "$1") lines; $(tail -n1 "$2")"
}
warm_cassette "$WORK/replay.jsonl" "$WORK/record-warm.log"
[[ $TLS == 1 ]] && warm_cassette "$WORK/replay-tls.jsonl" "$WORK/record-tls-warm.log" tls
[[ $CLUSTER == 1 ]] && warm_cassette "$WORK/replay-cluster.jsonl" "$WORK/record-cluster-warm.log" cluster
if [[ -n $BASE_BIN ]]; then
    RUN=$BASE_BIN warm_cassette "$WORK/replay@base.jsonl" "$WORK/record-warm@base.log"
fi

# ---------------------------------------------------------------- instructions
# instr_run LABEL BINARY MODE PIPE: instructions per request of BINARY in MODE
# (record or replay) under the fixed load, appended to $INSTR. MODE
# redis-server (LABEL redis, no BINARY) counts a redis-server of its own
# (no persistence) under the same load: what replay stands in for.
INSTR="$WORK/instructions.csv"
instr_run() {
    local label=$1 bin=$2 mode=$3 pipe=$4 rep=$5 pid port ir
    local out="$WORK/callgrind.$label.$mode.$pipe.$rep" log="$WORK/callgrind.$label.$mode.$pipe.$rep.log"
    local cassette="$WORK/replay.jsonl"
    [[ $label == base ]] && cassette="$WORK/replay@base.jsonl"
    WRAP=(valgrind --tool=callgrind --callgrind-out-file="$out")
    if [[ $mode == redis-server ]]; then
        port=$(free_port)
        "${WRAP[@]}" redis-server --port "$port" --bind 127.0.0.1 --dir "$WORK" \
            --save '' --appendonly no --daemonize no --logfile "$log" 2>"$log.valgrind" &
        pid=$!
        PIDS+=("$pid")
        # Valgrind takes seconds to start it; answers_ping waits 5.
        for _ in $(seq 600); do
            redis-cli -p "$port" ping >/dev/null 2>&1 && break
            kill -0 "$pid" 2>/dev/null || die "redis-server under valgrind exited (see $log)"
            sleep 0.1
        done
    elif [[ $mode == record ]]; then
        rm -f "$WORK/callgrind-record.jsonl"
        RUN=$bin start_record "$WORK/callgrind-record.jsonl" "$log"
        pid=$REC_PID port=$REC_PORT
    else
        RUN=$bin start_replay "$cassette" "$log"
        pid=$REP_PID port=$REP_PORT
    fi
    WRAP=()
    answers_ping "$port" || die "$label $mode under valgrind does not answer (see $log)"
    callgrind_control -z "$pid" >/dev/null || die "callgrind_control -z $pid failed"
    bench_cmd "$port" "$pipe" "$INSTR_REQUESTS" -t get,set -q >/dev/null 2>&1 \
        || die "redis-benchmark against $label $mode under valgrind failed"
    # The recorder's writer thread drains what it still has queued.
    sleep 1
    callgrind_control -d "$pid" >/dev/null || die "callgrind_control -d $pid failed"
    stop "$pid"
    # $out.1 is the dump of -d (counted from the zeroing); $out, written at
    # exit, holds only what came after it.
    ir=$(awk '/^summary:/ {print $2; exit}' "$out.1")
    [[ -n $ir ]] || die "no instruction total in $out.1"
    echo "$label,$mode,$pipe,$rep,$ir,$((2 * INSTR_REQUESTS))" >>"$INSTR"
    note "instructions: $label $mode -P $pipe (#$rep): $ir for $((2 * INSTR_REQUESTS)) requests"
}

count_instructions() {
    local label bin mode pipe rep
    echo "label,mode,pipeline,rep,instructions,requests" >"$INSTR"
    for rep in $(seq "$INSTR_REPEAT"); do
        for pipe in 1 16; do
            instr_run redis "" redis-server "$pipe" "$rep"
        done
        for mode in replay record; do
            for pipe in 1 16; do
                for label in head ${BASE_BIN:+base}; do
                    bin=$BIN
                    [[ $label == base ]] && bin=$BASE_BIN
                    instr_run "$label" "$bin" "$mode" "$pipe" "$rep"
                done
            done
        done
    done
    echo
    echo "== instructions per request (valgrind --tool=callgrind; redis-benchmark -n $INSTR_REQUESTS -c $CLIENTS -t get,set; head = $HEAD_DESC${BASE_BIN:+, base = $BASE_REV})"
    python3 "$REPORT" --instructions "$INSTR"
}

# ---------------------------------------------------------------- load replay
load_replay() {
    echo
    echo "== load replay (resplay conform --load --speed max), $REQUESTS commands, $CLIENTS connections"
    start_record "$WORK/conform.jsonl" "$WORK/conform-record.log"
    bench_cmd "$REC_PORT" 1 $((REQUESTS / 2)) -t set,get -q >/dev/null 2>&1 || die "conform cassette recording failed"
    stop "$REC_PID"
    ratios=()
    for round in $(seq 1 "$ROUNDS"); do
        direct=$(bench_cmd "$REDIS_PORT" 1 $((REQUESTS / 2)) -t set,get --csv 2>/dev/null \
            | python3 -c 'import csv,sys; r=[float(x[1]) for x in csv.reader(sys.stdin) if x and x[0] in ("SET","GET")]; print(len(r)/sum(1/x for x in r))')
        load=$("${RUN:-$BIN}" conform "$WORK/conform.jsonl" --target "redis://127.0.0.1:$REDIS_PORT" \
            --allow-nonempty --load --speed max --json 2>/dev/null \
            | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["commands_per_s"])')
        ratio=$(python3 -c "print(f'{$load / $direct:.2f}')")
        ratios+=("$ratio")
        echo "round $round: direct redis-benchmark $(printf '%.0f' "$direct") rps, load replay $(printf '%.0f' "$load") commands/s, ratio ${ratio}x"
    done
    echo "load replay / redis-benchmark, median of $ROUNDS: $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')x"
}

# ---------------------------------------------------------------- memory
# rss_kb PID: the resident set now (VmHWM is the peak).
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# times_file KB BYTES: KB as a multiple of a file's size, 1 decimal.
times_file() { python3 -c "print(f'{$1 * 1024 / $2:.1f}')"; }

# load_report CASSETTE LOG: starts `resplay replay` on CASSETTE and prints
# the load time, the RSS once it listens and the peak, each against the
# file size; leaves it running (REP_PID, REP_PORT).
load_report() {
    local cassette=$1 log=$2 size lines hwm rss
    size=$(stat -c %s "$cassette")
    lines=$(grep -c '' "$cassette")
    start_replay "$cassette" "$log"
    hwm=$(vm_hwm_kb "$REP_PID")
    rss=$(rss_kb "$REP_PID")
    echo "replay load of $lines lines ($(human_bytes "$size")): ${REP_LOAD_S}s to 'listening on'," \
        "RSS after load $(human_bytes $((rss * 1024))) ($(times_file "$rss" "$size")x the file size)," \
        "peak RSS $(human_bytes $((hwm * 1024))) ($(times_file "$hwm" "$size")x)"
}

# record_load CASSETTE LOG INTERACTIONS: records INTERACTIONS commands (half
# SET, half GET, keys from 100000: a cassette with as many distinct keys as
# an application's, rather than one key repeated) through `resplay record`.
# The file is then flushed to disk (`sync`), so the load timed next does not
# share the two cores with the kernel writing back a hundred MiB or more
# (the 1M-line load, three runs each: 0.73-0.93 s without, 0.63-0.70 s with).
record_load() {
    local t0
    start_record "$1" "$2"
    t0=$(now)
    bench_cmd "$REC_PORT" 16 $(($3 / 2)) -r 100000 -t set,get -q >/dev/null 2>&1 \
        || die "recording a $3-interaction cassette failed"
    stop "$REC_PID"
    note "recorded $3 interactions in $(python3 -c "print(f'{$(now) - $t0:.1f}')")s: $(human_bytes "$(stat -c %s "$1")")"
    sync
}

memory_runs() {
    local t0 secs hwm size huge_port small_port huge_pid small_pid round rps_huge rps_small ratios
    echo
    echo "== memory"
    # (a) Recording BIG_RECORD SETs at -P 16.
    start_record "$WORK/big-record.jsonl" "$WORK/big-record.log"
    t0=$(now)
    bench_cmd "$REC_PORT" 16 "$BIG_RECORD" -t set -q >/dev/null 2>&1 || die "big record run failed"
    secs=$(python3 -c "print(f'{$(now) - $t0:.1f}')")
    hwm=$(vm_hwm_kb "$REC_PID")
    stop "$REC_PID"
    size=$(stat -c %s "$WORK/big-record.jsonl")
    echo "record $BIG_RECORD SETs (-P 16): ${secs}s, peak RSS $(human_bytes $((hwm * 1024))), cassette $(human_bytes "$size") ($((size / BIG_RECORD)) B/interaction)"
    echo "  summary: $(grep -v 'listening on' "$WORK/big-record.log" | tail -n1)"
    rm -f "$WORK/big-record.jsonl"

    # (b) Loading a cassette of BIG_LOAD interactions.
    record_load "$WORK/big-load.jsonl" "$WORK/big-load-record.log" "$BIG_LOAD"
    load_report "$WORK/big-load.jsonl" "$WORK/big-load-replay.log"
    stop "$REP_PID"
    rm -f "$WORK/big-load.jsonl"

    [[ $HUGE == 1 ]] || return 0
    # (c) A cassette of HUGE_LOAD interactions: its load, and whether it
    # serves as fast as a small one. Both are benchmarked with keys from
    # 1000; a pass of that workload (20000 SETs and GETs, so every one of
    # the 1000 keys) is recorded first into both cassettes, so neither
    # answers a miss (an error, which stops redis-benchmark).
    echo
    echo "== huge cassette ($HUGE_LOAD interactions)"
    start_record "$WORK/huge-small.jsonl" "$WORK/huge-small-record.log"
    bench_cmd "$REC_PORT" 16 20000 -r 1000 -t set,get -q >/dev/null 2>&1 || die "recording the small cassette failed"
    stop "$REC_PID"
    start_record "$WORK/huge.jsonl" "$WORK/huge-record.log"
    t0=$(now)
    bench_cmd "$REC_PORT" 16 20000 -r 1000 -t set,get -q >/dev/null 2>&1 || die "recording the huge cassette failed"
    bench_cmd "$REC_PORT" 16 $((HUGE_LOAD / 2)) -r 100000 -t set,get -q >/dev/null 2>&1 || die "recording the huge cassette failed"
    stop "$REC_PID"
    note "recorded $HUGE_LOAD interactions in $(python3 -c "print(f'{$(now) - $t0:.1f}')")s: $(human_bytes "$(stat -c %s "$WORK/huge.jsonl")")"
    sync # (as in record_load)
    load_report "$WORK/huge.jsonl" "$WORK/huge-replay.log"
    huge_pid=$REP_PID huge_port=$REP_PORT
    start_replay "$WORK/huge-small.jsonl" "$WORK/huge-small-replay.log"
    small_pid=$REP_PID small_port=$REP_PORT
    ratios=()
    for round in $(seq "$HUGE_ROUNDS"); do
        rps_huge=$(bench_cmd "$huge_port" 16 "$REQUESTS_P16" -r 1000 -t set,get --csv 2>"$WORK/huge-bench.err" | mean_rps) \
            || { cat "$WORK/huge-bench.err" >&2; die "redis-benchmark against the huge cassette's replay failed"; }
        rps_small=$(bench_cmd "$small_port" 16 "$REQUESTS_P16" -r 1000 -t set,get --csv 2>"$WORK/huge-bench.err" | mean_rps) \
            || { cat "$WORK/huge-bench.err" >&2; die "redis-benchmark against the small cassette's replay failed"; }
        ratios+=("$(python3 -c "print(f'{$rps_huge / $rps_small:.2f}')")")
        echo "round $round: -P 16 SET+GET on the huge cassette $(printf '%.0f' "$rps_huge") rps," \
            "on a small one ($(grep -c '' "$WORK/huge-small.jsonl") lines) $(printf '%.0f' "$rps_small") rps: ${ratios[-1]}x"
    done
    echo "huge / small, median of $HUGE_ROUNDS: $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')x"
    stop "$huge_pid"
    stop "$small_pid"
    rm -f "$WORK/huge.jsonl"
}

# mean_rps: the harmonic mean of the SET and GET rps in redis-benchmark's
# --csv output on stdin (the rate of the whole run).
mean_rps() {
    python3 -c 'import csv,sys; r=[float(x[1]) for x in csv.reader(sys.stdin) if x and x[0] in ("SET","GET")]; print(len(r)/sum(1/x for x in r))'
}

if [[ $ONLY_INSTRUCTIONS == 1 ]]; then
    count_instructions
    exit 0
fi
if [[ $ONLY_MEMORY == 1 ]]; then
    memory_runs
    exit 0
fi
if [[ $ONLY_CONFORM == 1 ]]; then
    load_replay
    exit 0
fi

start_replay "$WORK/replay.jsonl" "$WORK/replay.log"
note "resplay replay on $REP_PORT"

# `record` and `record-unix` get a fresh process and cassette for every run
# (port filled in then), so the cassette does not grow across rounds. Each
# baseline target follows its HEAD counterpart (see round_targets).
TARGETS=()
if [[ $PLAIN == 1 ]]; then
    TARGETS+=("direct:$REDIS_PORT" "record:0")
    [[ -n $BASE_BIN ]] && TARGETS+=("record@base:0")
    TARGETS+=("record-unix:0" "replay:$REP_PORT")
fi
# The pid whose CPU time is the proxy's cost, per target (0: none; record's
# are filled in per run).
declare -A PROXY_PID=([direct]=0 [replay]=$REP_PID)
if [[ -n $BASE_BIN ]]; then
    head_rep_port=$REP_PORT
    RUN=$BASE_BIN start_replay "$WORK/replay@base.jsonl" "$WORK/replay@base.log"
    BASE_REP_PID=$REP_PID
    TARGETS+=("replay@base:$REP_PORT")
    PROXY_PID[replay@base]=$REP_PID
    note "baseline resplay replay on $REP_PORT"
    # HEAD's replay again, for the checks after the rounds.
    REP_PID=${PROXY_PID[replay]}
    REP_PORT=$head_rep_port
fi

if [[ $TLS == 1 ]]; then
    plain_rep_port=$REP_PORT
    start_replay "$WORK/replay-tls.jsonl" "$WORK/replay-tls.log" "${TLS_LISTEN[@]}"
    TLS_REP_PID=$REP_PID
    TLS_REP_PORT=$REP_PORT
    PROXY_PID[direct-tls]=0
    PROXY_PID[replay-tls]=$REP_PID
    note "resplay replay (TLS listener) on $REP_PORT"
    REP_PID=${PROXY_PID[replay]}
    REP_PORT=$plain_rep_port
fi

if [[ $PLAIN == 1 ]] && command -v haproxy >/dev/null 2>&1; then
    HAP_PORT=$(free_port)
    # maxconn: 10000 would need more file descriptors than the default limit.
    cat >"$WORK/haproxy.cfg" <<EOF
global
    maxconn 4000

defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s

frontend bench
    bind 127.0.0.1:$HAP_PORT
    default_backend redis

backend redis
    server redis 127.0.0.1:$REDIS_PORT
EOF
    # In the foreground (no -D), so $! is haproxy itself.
    haproxy -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
    HAP_PID=$!
    PIDS+=("$HAP_PID")
    add_peer haproxy "$HAP_PORT" "$HAP_PID" "$WORK/haproxy.log"
fi

if [[ $PLAIN == 1 ]] && command -v nutcracker >/dev/null 2>&1; then
    NUT_PORT=$(free_port)
    NUT_STATS=$(free_port)
    cat >"$WORK/nutcracker.yml" <<EOF
bench:
  listen: 127.0.0.1:$NUT_PORT
  redis: true
  hash: fnv1a_64
  distribution: ketama
  auto_eject_hosts: false
  preconnect: true
  servers:
   - 127.0.0.1:$REDIS_PORT:1
EOF
    nutcracker -c "$WORK/nutcracker.yml" -s "$NUT_STATS" -a 127.0.0.1 \
        -o "$WORK/nutcracker.log" &
    NUT_PID=$!
    PIDS+=("$NUT_PID")
    add_peer twemproxy "$NUT_PORT" "$NUT_PID" "$WORK/nutcracker.log"
fi

if [[ -n $FAKEREDIS_PY ]]; then
    FAKE_PORT=$(free_port)
    # socketserver's listen backlog is 5: 50 clients connecting at once
    # overflow it, and the dropped SYNs come back after 1 and 3 s, which
    # would be measured as fakeredis's latency (the real servers listen
    # with 511).
    cat >"$WORK/fakeredis_server.py" <<'EOF'
import sys

from fakeredis import TcpFakeServer

TcpFakeServer.request_queue_size = 511
server = TcpFakeServer(("127.0.0.1", int(sys.argv[1])), server_type="redis")
server.serve_forever()
EOF
    # $! is the Python process itself, whose CPU (all its threads) is
    # fakeredis's cost.
    "$FAKEREDIS_PY" "$WORK/fakeredis_server.py" "$FAKE_PORT" >"$WORK/fakeredis.log" 2>&1 &
    FAKE_PID=$!
    PIDS+=("$FAKE_PID")
    add_peer fakeredis "$FAKE_PORT" "$FAKE_PID" "$WORK/fakeredis.log"
fi

if [[ $CLUSTER == 1 ]]; then
    plain_rep_port=$REP_PORT
    plain_rep_pid=$REP_PID
    start_replay "$WORK/replay-cluster.jsonl" "$WORK/replay-cluster.log"
    CLUSTER_REP_PID=$REP_PID
    CLUSTER_REP_PORT=$REP_PORT
    PROXY_PID[direct-cluster]=0
    PROXY_PID[replay-cluster]=$REP_PID
    note "resplay replay of the cluster cassette on $REP_PORT ($(grep -c '^resplay: node' "$WORK/replay-cluster.log") node listeners)"
    REP_PID=$plain_rep_pid
    REP_PORT=$plain_rep_port
fi

# The TLS targets come after the plain ones, direct-tls first among them;
# then the cluster targets, direct-cluster first.
[[ $TLS == 1 ]] && TARGETS+=("direct-tls:$TLS_PORT" "record-tls:0" "replay-tls:$TLS_REP_PORT")
[[ $CLUSTER == 1 ]] && TARGETS+=("direct-cluster:$CLUSTER_SEED" "record-cluster:0" "replay-cluster:$CLUSTER_REP_PORT")

# ---------------------------------------------------------------- rounds
# round_targets ROUND: TARGETS into ROUND_TARGETS, with each X@base moved
# before its X in even rounds, so neither side always runs second.
round_targets() {
    local i=0 a b
    ROUND_TARGETS=()
    while ((i < ${#TARGETS[@]})); do
        a=${TARGETS[i]}
        b=${TARGETS[i + 1]:-}
        if (($1 % 2 == 0)) && [[ ${b%%:*} == "${a%%:*}@base" ]]; then
            ROUND_TARGETS+=("$b" "$a")
            i=$((i + 2))
        else
            ROUND_TARGETS+=("$a")
            i=$((i + 1))
        fi
    done
}

RESULTS="$WORK/results.csv"
echo "round,target,pipeline,test,rps,p50_ms,p99_ms,proxy_us_req,redis_us_req" >"$RESULTS"
for round in $(seq "$ROUNDS"); do
    round_targets "$round"
    for pipe in 1 16; do
        for entry in "${ROUND_TARGETS[@]}"; do
            name=${entry%%:*}
            port=${entry##*:}
            case $name in
            record)
                rm -f "$WORK/record.jsonl"
                start_record "$WORK/record.jsonl" "$WORK/record.log"
                ;;
            record@base)
                rm -f "$WORK/record@base.jsonl"
                RUN=$BASE_BIN start_record "$WORK/record@base.jsonl" "$WORK/record@base.log"
                ;;
            record-unix)
                rm -f "$WORK/record-unix.jsonl"
                start_record "$WORK/record-unix.jsonl" "$WORK/record-unix.log" "unix://$REDIS_SOCK"
                ;;
            record-tls)
                rm -f "$WORK/record-tls.jsonl"
                start_record "$WORK/record-tls.jsonl" "$WORK/record-tls.log" \
                    "rediss://127.0.0.1:$TLS_PORT" --tls-ca-file "$TLS_DIR/ca.pem" "${TLS_LISTEN[@]}"
                ;;
            record-cluster)
                rm -f "$WORK/record-cluster.jsonl"
                start_record "$WORK/record-cluster.jsonl" "$WORK/record-cluster.log" \
                    "redis://127.0.0.1:$CLUSTER_SEED" --cluster
                ;;
            esac
            # TLS targets: redis-benchmark --tls, and the TLS redis-server's
            # CPU; cluster targets: redis-benchmark --cluster, and the CPU of
            # all the nodes.
            client=()
            redis_pids=("$REDIS_PID")
            if [[ $name == *-tls ]]; then
                client=("${TLS_CLIENT[@]}")
                redis_pids=("$TLS_REDIS_PID")
            elif [[ $name == *-cluster ]]; then
                client=(--cluster)
                redis_pids=("${CLUSTER_PIDS[@]}")
            fi
            if [[ $name == record* ]]; then
                port=$REC_PORT
                PROXY_PID[$name]=$REC_PID
            fi
            n=$(requests_for "$pipe" "$name")
            proxy_pid=${PROXY_PID[$name]}
            proxy0=$(cpu_ticks "$proxy_pid")
            redis0=$(cpu_ticks "${redis_pids[@]}")
            out=$(bench_cmd "$port" "$pipe" "$n" -t set,get --csv "${client[@]+"${client[@]}"}" 2>"$WORK/bench.err") \
                || { cat "$WORK/bench.err" >&2; die "redis-benchmark against $name failed"; }
            # Let the recorder's writer thread drain what it still has queued,
            # so that work is counted in this run.
            sleep 0.1
            proxy1=$(cpu_ticks "$proxy_pid")
            redis1=$(cpu_ticks "${redis_pids[@]}")
            # One run is both tests: 2 x n requests.
            proxy_us=$(us_per_request $((proxy1 - proxy0)) $((2 * n)))
            redis_us=$(us_per_request $((redis1 - redis0)) $((2 * n)))
            # "test","rps","avg","min","p50","p95","p99","max"
            python3 -c '
import csv, sys
# (redis-benchmark --cluster prints the masters it found first.)
rows = [r for r in csv.reader(sys.stdin) if len(r) >= 8]
for r in rows[1:]:
    print(",".join(sys.argv[1:4] + [r[0], r[1], r[4], r[6]] + sys.argv[4:6]))
' "$round" "$name" "$pipe" "$proxy_us" "$redis_us" <<<"$out" >>"$RESULTS"
            note "round $round/$ROUNDS -P $pipe $name: $(tail -n2 "$RESULTS" | cut -d, -f4,5 | tr '\n' ' ')cpu us/req proxy $proxy_us redis $redis_us"
            if [[ $name == record* ]]; then
                stop "$REC_PID"
            fi
        done
    done
done

# A replay that answered errors would look fast; check that it hit.
if ! redis-cli -p "$REP_PORT" get key:__rand_int__ >"$WORK/replay-check.txt" 2>&1 \
    || grep -qi 'err' "$WORK/replay-check.txt"; then
    note "WARNING: replay answered GET with: $(cat "$WORK/replay-check.txt")"
fi
if [[ $TLS == 1 ]]; then
    if ! redis-cli -p "$TLS_REP_PORT" "${TLS_CLIENT[@]}" get key:__rand_int__ >"$WORK/replay-tls-check.txt" 2>&1 \
        || grep -qi 'err' "$WORK/replay-tls-check.txt"; then
        note "WARNING: replay-tls answered GET with: $(cat "$WORK/replay-tls-check.txt")"
    fi
    stop "$TLS_REP_PID"
fi

if [[ $CLUSTER == 1 ]]; then
    # redis-benchmark --cluster's key for the first hash-tag slot group.
    if ! redis-cli -c -p "$CLUSTER_REP_PORT" get 'key:{06S}:__rand_int__' >"$WORK/replay-cluster-check.txt" 2>&1 \
        || grep -qi 'err' "$WORK/replay-cluster-check.txt"; then
        note "WARNING: replay-cluster answered GET with: $(cat "$WORK/replay-cluster-check.txt")"
    fi
    stop "$CLUSTER_REP_PID"
fi

stop "$REP_PID"
[[ -n $BASE_BIN ]] && stop "$BASE_REP_PID"
echo
[[ -n $BASE_BIN ]] && echo "== HEAD = $HEAD_DESC, base = $BASELINE ($BASE_REV)"
echo "== redis-benchmark -c $CLIENTS -t set,get, $ROUNDS rounds, n=$REQUESTS (P1) / $REQUESTS_P16 (P16)${CLUSTER_PORTS[0]:+; cluster targets n=$CLUSTER_REQUESTS (P1) / $CLUSTER_REQUESTS_P16 (P16)}${FAKE_PID:+; fakeredis n=$FAKEREDIS_REQUESTS (P1) / $FAKEREDIS_REQUESTS_P16 (P16)}"
python3 "$REPORT" "$RESULTS"
echo "(CPU resolution: one clock tick is $(us_per_request 1 $((2 * REQUESTS))) us/request at -P 1, $(us_per_request 1 $((2 * REQUESTS_P16))) at -P 16)"
echo
if [[ $PLAIN == 1 ]]; then
    echo "last record run: $(grep -v 'listening on' "$WORK/record.log" | tail -n1)"
    echo "its cassette:    $(human_bytes "$(stat -c %s "$WORK/record.jsonl")") for $(grep -c '' "$WORK/record.jsonl") lines"
    echo "last record-unix run: $(grep -v 'listening on' "$WORK/record-unix.log" | tail -n1)"
    echo "replay summary:  $(grep -v 'listening on' "$WORK/replay.log" | tail -n1)"
fi
if [[ $TLS == 1 ]]; then
    echo "last record-tls run: $(grep -v 'listening on' "$WORK/record-tls.log" | tail -n1)"
    echo "replay-tls summary:  $(grep -v 'listening on' "$WORK/replay-tls.log" | tail -n1)"
fi
if [[ $CLUSTER == 1 ]]; then
    echo "last record-cluster run: $(grep -v 'listening on' "$WORK/record-cluster.log" | tail -n1)"
    echo "replay-cluster summary:  $(grep -v 'listening on' "$WORK/replay-cluster.log" | tail -n1)"
fi
if [[ -n $BASE_BIN ]]; then
    echo "last record@base run: $(grep -v 'listening on' "$WORK/record@base.log" | tail -n1)"
    echo "replay@base summary:  $(grep -v 'listening on' "$WORK/replay@base.log" | tail -n1)"
fi

if [[ $INSTRUCTIONS == 1 ]]; then
    count_instructions
fi

if [[ $CONFORM == 1 ]]; then
    load_replay
fi

# ---------------------------------------------------------------- memory
if [[ $SKIP_BIG != 1 ]]; then
    memory_runs
fi
