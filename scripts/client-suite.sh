#!/usr/bin/env bash
# Run a client library's own test suite (redis-py's) three ways, and compare
# the outcome of every test:
#
#   direct  the suite against a fresh redis-server;
#   record  the suite against `resplay record` in front of a fresh
#           redis-server (resplay relays to it and writes a cassette);
#   replay  the suite against `resplay replay` on that cassette, with no
#           redis-server at all.
#
#   bash scripts/client-suite.sh                      # the whole suite, RESP2
#   bash scripts/client-suite.sh --protocol 3         # clients speak RESP3
#   bash scripts/client-suite.sh --server redis-8     # on Redis 8.2.3
#   bash scripts/client-suite.sh tests/test_lock.py tests/test_asyncio/test_lock.py
#   MODES=replay bash scripts/client-suite.sh         # replay the last cassette
#
# The suite: redis-py's sdist from PyPI (`pip download --no-deps --no-binary
# :all: redis==REDIS_PY_VERSION`), which holds tests/ with its conftest.py
# (the default version is pinned by sha256). Should an sdist come without
# tests/, Debian's python-redis source (`apt-get source --download-only
# python-redis`, with a deb-src line added as scripts/servers.sh does) is
# used instead, and its version then is the one installed. Both are unpacked
# into CACHE, next to a virtualenv holding that redis-py, pytest,
# pytest-asyncio, pytest-timeout and what the conftest and the selected tests
# import (packaging, numpy, pybreaker). pytest runs from the unpacked sdist,
# so its conftest, markers and pytest-timeout's 30 s per test (pyproject.toml)
# apply; `-o addopts=` drops the sdist's `-s`, so a test's output is captured.
#
# --server picks the redis-server (from scripts/servers.sh): redis-7.0
# (default, the `redis-server` on PATH, Debian's 7.0.15) or redis-8 (8.2.3).
# It starts on a free port in a temp dir, without persistence, with
# `enable-debug-command yes` (the suite's DEBUG SLEEP / DEBUG ERROR tests).
# --protocol 2|3 (default 2) is the conftest's --protocol: the RESP version
# the suite's clients ask for (redis-py 8 defaults to RESP3 otherwise).
#
# What is left out, and why (none of it can run here, direct or not):
#   -m "not onlycluster": needs a Redis Cluster (the conftest sees a
#       standalone server, these would be skipped or fail);
#   -m "not redismod": needs Redis Stack modules (JSON, search, timeseries,
#       bloom) on --redis-mod-url;
#   -m "not ssl", tests/test_ssl.py: needs a TLS server on --redis-ssl-url
#       and the `cryptography` package;
#   -m "not replica": needs a replica of the server;
#   -m "not cp_integration", tests/test_credentials.py (and asyncio's):
#       Microsoft Entra ID credentials (redis-entraid, a cloud endpoint);
#   -m "not multidb_integration", tests/test_multidb: the docker "multidb"
#       profile (two clusters and two standalone servers);
#   tests/test_scenario (and asyncio's): a Redis Enterprise cluster and its
#       fault injector (REDIS_ENDPOINTS_CONFIG_PATH);
#   tests/test_sentinel*.py (and asyncio's): three Sentinels on 26379-26381;
#   tests/test_observability (and asyncio's): OpenTelemetry's SDK and
#       exporter, for a collector that is not there.
# Tests needing a newer server skip themselves (skip_if_server_version_lt).
#
# Tests are compared by pytest node id (file::Class::test[param]); a test
# passes when no junit entry of it failed, errored or was skipped. Printed:
# how many pass direct; of those, how many pass through record; of those,
# how many in replay; then each test passing direct but not in replay (and
# through record but not in replay), with the first line of its failure.
#
# Knobs (environment):
#   RESPLAY_BIN=...       resplay binary (default: `cargo build --release`
#                         once, then target/release/resplay)
#   MODES="direct record replay"   which runs to make; a mode left out uses
#                         its results of an earlier run in OUT_DIR, replay
#                         without record the cassette of an earlier run
#   REDIS_PY_VERSION=8.2.0         the redis-py release (suite and library)
#   CACHE=~/.cache/resplay/client-suite   sdists, unpacked suites, virtualenvs
#   OUT_DIR=target/client-suite/out-SERVER-respN   junit XML, pytest output,
#                         logs, cassette.jsonl, report.txt, losses.txt
#   TEST_TIMEOUT=30       pytest-timeout per test (seconds)
#   SUITE_TIMEOUT=3600    wall-clock limit of one pytest run (seconds)
#   PYTEST_ARGS=          more pytest options (e.g. "-k 'not slow'")
#   HASH_SEED=0           PYTHONHASHSEED of the three pytest runs, so that a
#                         set's order (`r.sadd("a", *{b"1", b"2", b"3"})`)
#                         is the same in each; HASH_SEED=random leaves
#                         Python's per-process random order (then test_sadd,
#                         test_pfadd, ... send their members in another order
#                         in replay than recorded, and miss)
#   RECORD_ARGS= REPLAY_ARGS=   more resplay options
#
# Layout of OUT_DIR: MODE.xml (junit), MODE.out (pytest's output),
# MODE.tests (node id TAB passed|failed|error|skipped TAB first line of the
# message), direct.redis.log / record.redis.log, record.resplay.log,
# replay.resplay.log (with replay's served / missed / unused report),
# cassette.jsonl, report.txt (what is printed) and losses.txt (the lost
# tests with their full junit messages).
#
# Exit status: 0 when the runs were made (whatever passed; this measures),
# non-zero when setup failed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REDIS_PY_VERSION=${REDIS_PY_VERSION:-8.2.0}
# sha256 of redis-8.2.0.tar.gz on PyPI; other versions are not checked.
REDIS_PY_SHA256_8_2_0=58b1493d83ba8f0e3ffe6bd781194ca5c01c91267ae03d29c1087b0b3c7d79c9
CACHE=${CACHE:-${HOME:-/root}/.cache/resplay/client-suite}
MODES=${MODES:-direct record replay}
TEST_TIMEOUT=${TEST_TIMEOUT:-30}
SUITE_TIMEOUT=${SUITE_TIMEOUT:-3600}
PYTEST_ARGS=${PYTEST_ARGS:-}
HASH_SEED=${HASH_SEED:-0}
RECORD_ARGS=${RECORD_ARGS:-}
REPLAY_ARGS=${REPLAY_ARGS:-}
RESPLAY_BIN=${RESPLAY_BIN:-}

MARKERS="not onlycluster and not redismod and not ssl and not replica and not cp_integration and not multidb_integration"
IGNORED=(tests/test_scenario tests/test_asyncio/test_scenario
    tests/test_ssl.py tests/test_asyncio/test_ssl.py
    tests/test_credentials.py tests/test_asyncio/test_credentials.py
    tests/test_sentinel.py tests/test_sentinel_managed_connection.py
    tests/test_asyncio/test_sentinel.py tests/test_asyncio/test_sentinel_managed_connection.py
    tests/test_observability tests/test_asyncio/test_observability
    tests/test_multidb tests/test_asyncio/test_multidb)
VENV_PACKAGES=(pytest pytest-asyncio pytest-timeout packaging numpy pybreaker)

SERVER=redis-7.0
PROTOCOL=2
SUITE_DIR=""   # the unpacked sdist (tests/, pyproject.toml)
VENV=""        # the virtualenv
SERVER_BIN=""
WORK=""        # temp dir for redis-server data dirs; removed on exit
PIDS=()        # every redis-server / resplay / pytest this script started
PYTEST_RC=0

SUDO=()
if [[ $(id -u) != 0 ]] && command -v sudo >/dev/null 2>&1; then SUDO=(sudo); fi

die() { echo "client-suite: $*" >&2; exit 1; }
note() { echo "client-suite: $*" >&2; }
# shellcheck source=scripts/suite-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/suite-lib.sh"
has_mode() { [[ " $MODES " == *" $1 "* ]]; }

# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------

ensure_packages() {
    local missing=()
    command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
    if [[ $SERVER == redis-7.0 ]] && ! command -v redis-server >/dev/null 2>&1; then
        missing+=(redis-server)
    fi
    python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
    if ((${#missing[@]})); then
        note "installing ${missing[*]}"
        "${SUDO[@]}" apt-get update -qq || die "apt-get update failed"
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
            || die "apt-get install ${missing[*]} failed"
    fi
}

ensure_server() {
    SERVER_BIN=$(bash "$ROOT/scripts/servers.sh" "$SERVER") || die "no $SERVER server (scripts/servers.sh $SERVER failed)"
    [[ -x $SERVER_BIN ]] || die "scripts/servers.sh $SERVER gave no binary"
    note "server: $SERVER_BIN ($("$SERVER_BIN" --version | cut -d' ' -f1-3))"
}

# fetch_sdist: CACHE/redis-VERSION/ with tests/ from PyPI's sdist; returns 1
# when the sdist has no tests/.
fetch_sdist() {
    local file=$CACHE/redis-$REDIS_PY_VERSION.tar.gz top=redis-$REDIS_PY_VERSION
    if [[ ! -f $file ]]; then
        note "pip download --no-deps --no-binary :all: redis==$REDIS_PY_VERSION"
        python3 -m pip download --quiet --no-deps --no-binary :all: \
            -d "$CACHE/.dl" "redis==$REDIS_PY_VERSION" >&2 \
            || die "pip download redis==$REDIS_PY_VERSION failed"
        mv "$CACHE/.dl/redis-$REDIS_PY_VERSION.tar.gz" "$file" || die "no redis-$REDIS_PY_VERSION.tar.gz from pip"
        rm -rf "$CACHE/.dl"
    fi
    if [[ $REDIS_PY_VERSION == 8.2.0 && $(sha256sum "$file" | cut -d' ' -f1) != "$REDIS_PY_SHA256_8_2_0" ]]; then
        die "$file: not the expected sha256 $REDIS_PY_SHA256_8_2_0"
    fi
    if [[ ! -f $CACHE/$top/tests/conftest.py ]]; then
        tar -tzf "$file" "$top/tests/conftest.py" >/dev/null 2>&1 || return 1
        rm -rf "${CACHE:?}/$top"
        tar -xzf "$file" -C "$CACHE" || die "could not unpack $file"
    fi
    SUITE_DIR=$CACHE/$top
}

# fetch_debian: the suite from Debian's python-redis source instead; sets
# REDIS_PY_VERSION to its upstream version.
fetch_debian() {
    local dir=$CACHE/debian orig version
    mkdir -p "$dir"
    if ! apt-cache showsrc python-redis 2>/dev/null | grep -q '^Version:'; then
        local deb822=/etc/apt/sources.list.d/debian.sources
        if [[ -f $deb822 ]] && grep -q '^Types: deb$' "$deb822"; then
            note "enabling deb-src in $deb822"
            "${SUDO[@]}" sed -i 's/^Types: deb$/Types: deb deb-src/' "$deb822"
        elif [[ -f /etc/apt/sources.list ]] && grep -q '^deb ' /etc/apt/sources.list; then
            grep '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' \
                | "${SUDO[@]}" tee -a /etc/apt/sources.list >/dev/null
        fi
        "${SUDO[@]}" apt-get update -qq || die "apt-get update failed"
    fi
    note "apt-get source --download-only python-redis (into $dir)"
    (cd "$dir" && apt-get source --download-only python-redis) >&2 || true
    orig=$(ls "$dir"/python-redis_*.orig.tar.* 2>/dev/null | head -n1)
    [[ -n $orig ]] || die "apt-get source python-redis fetched no orig tarball"
    version=$(basename "$orig" | sed 's/^python-redis_\(.*\)\.orig\.tar\..*/\1/')
    REDIS_PY_VERSION=$version
    SUITE_DIR=$CACHE/debian/redis-py-$version
    if [[ ! -f $SUITE_DIR/tests/conftest.py ]]; then
        mkdir -p "$SUITE_DIR"
        tar -xf "$orig" -C "$SUITE_DIR" --strip-components=1 || die "could not unpack $orig"
    fi
    [[ -f $SUITE_DIR/tests/conftest.py ]] || die "$orig has no tests/conftest.py"
}

ensure_suite() {
    mkdir -p "$CACHE"
    if ! fetch_sdist; then
        note "the sdist of redis $REDIS_PY_VERSION has no tests/; trying Debian's python-redis source"
        fetch_debian
    fi
    note "suite: $SUITE_DIR"
}

# ensure_venv: CACHE/venv-VERSION with redis==VERSION and the test tools.
ensure_venv() {
    VENV=$CACHE/venv-$REDIS_PY_VERSION
    if [[ ! -f $VENV/.complete ]]; then
        note "creating $VENV (pip install redis==$REDIS_PY_VERSION ${VENV_PACKAGES[*]})"
        rm -rf "$VENV"
        python3 -m venv "$VENV" || die "python3 -m venv failed"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check \
            "redis==$REDIS_PY_VERSION" "${VENV_PACKAGES[@]}" >&2 || die "pip install into $VENV failed"
        touch "$VENV/.complete"
    fi
}

ensure_resplay() {
    if [[ -z $RESPLAY_BIN ]]; then
        note "cargo build --release"
        (cd "$ROOT" && cargo build --release) >&2 || die "cargo build --release failed"
        RESPLAY_BIN=$ROOT/target/release/resplay
    fi
    [[ -x $RESPLAY_BIN ]] || die "resplay binary not found: $RESPLAY_BIN"
    # A copy, so that a rebuild of target/ while the suite runs (someone
    # else's cargo build) cannot give record and replay different binaries.
    cp "$RESPLAY_BIN" "$WORK/resplay" || die "could not copy $RESPLAY_BIN"
    note "resplay: $RESPLAY_BIN ($("$WORK/resplay" --version 2>/dev/null || echo '?'))"
    RESPLAY_BIN=$WORK/resplay
}

# ---------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------

# start_redis LOGFILE: a fresh redis-server; sets REDIS_PID, REDIS_PORT.
start_redis() {
    local log=$1 try dir port
    for try in 1 2 3 4 5; do
        dir=$(mktemp -d "$WORK/redis.XXXXXX")
        port=$(free_port)
        "$SERVER_BIN" --port "$port" --bind 127.0.0.1 --dir "$dir" \
            --logfile "$log" --save "" --appendonly no --daemonize no \
            --enable-debug-command yes >/dev/null 2>&1 &
        await_redis $! "$port" && return 0
        note "$SERVER did not start on port $port (try $try), see $log"
    done
    return 1
}

# run_pytest PORT MODE TESTS...: the suite against 127.0.0.1:PORT; writes
# OUT_DIR/MODE.xml and MODE.out; sets PYTEST_RC. In the background, so that
# Ctrl-C reaches the trap.
run_pytest() {
    local port=$1 mode=$2 pid ign=()
    shift 2
    local p
    for p in "${IGNORED[@]}"; do ign+=("--ignore=$p"); done
    local args=(-p no:cacheprovider -q -rA -o addopts= --timeout "$TEST_TIMEOUT"
        --redis-url "redis://127.0.0.1:$port/0" --protocol "$PROTOCOL"
        -m "$MARKERS" "${ign[@]}" --junitxml "$OUT_DIR/$mode.xml")
    # shellcheck disable=SC2206 # PYTEST_ARGS is split on purpose
    args+=($PYTEST_ARGS)
    rm -f "$OUT_DIR/$mode.xml"
    local env=(env)
    [[ $HASH_SEED == random ]] || env+=("PYTHONHASHSEED=$HASH_SEED")
    (cd "$SUITE_DIR" && exec "${env[@]}" timeout -k 30 "$SUITE_TIMEOUT" "$VENV/bin/python" -m pytest "${args[@]}" "$@") \
        >"$OUT_DIR/$mode.out" 2>&1 </dev/null &
    pid=$!
    PIDS+=("$pid")
    PYTEST_RC=0
    wait "$pid" || PYTEST_RC=$?
    forget "$pid"
}

run_mode() {
    local mode=$1 start=$SECONDS cassette=$OUT_DIR/cassette.jsonl
    shift
    note "$mode"
    rm -f "$OUT_DIR/$mode".{out,xml,tests,redis.log,resplay.log}
    case $mode in
        direct)
            start_redis "$OUT_DIR/direct.redis.log" || die "redis-server did not start"
            run_pytest "$REDIS_PORT" direct "$@"
            stop_pid "$REDIS_PID"
            ;;
        record)
            rm -f "$cassette"
            start_redis "$OUT_DIR/record.redis.log" || die "redis-server did not start"
            # shellcheck disable=SC2086 # RECORD_ARGS is split on purpose
            start_resplay "$OUT_DIR/record.resplay.log" record \
                --upstream "redis://127.0.0.1:$REDIS_PORT" --cassette "$cassette" $RECORD_ARGS \
                || die "resplay record did not start"
            run_pytest "$RESPLAY_PORT" record "$@"
            stop_pid "$RESPLAY_PID" 120 # flushes the cassette
            stop_pid "$REDIS_PID"
            ;;
        replay)
            [[ -s $cassette ]] || die "no cassette $cassette to replay (run record first)"
            # shellcheck disable=SC2086 # REPLAY_ARGS is split on purpose
            start_resplay "$OUT_DIR/replay.resplay.log" replay --cassette "$cassette" $REPLAY_ARGS \
                || die "resplay replay did not start"
            run_pytest "$RESPLAY_PORT" replay "$@"
            stop_pid "$RESPLAY_PID" 120 # prints served / missed / unused
            ;;
    esac
    note "$mode: pytest exit $PYTEST_RC after $((SECONDS - start)) s ($(tail -n1 "$OUT_DIR/$mode.out" | sed 's/=//g; s/^ *//'))"
    parse_junit "$mode"
}

# parse_junit MODE: MODE.xml into MODE.tests (node id, status, first line).
parse_junit() {
    local mode=$1
    if [[ ! -f $OUT_DIR/$mode.xml ]]; then
        note "$mode: no junit XML (pytest exit $PYTEST_RC; see $OUT_DIR/$mode.out)"
        : >"$OUT_DIR/$mode.tests"
        return 0
    fi
    "$VENV/bin/python" - "$OUT_DIR/$mode.xml" "$OUT_DIR/$mode.tests" "$OUT_DIR/$mode.messages.json" <<'EOF'
import json, sys, xml.etree.ElementTree as ET

xml_file, out_file, msg_file = sys.argv[1:]
rank = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}
tests, messages = {}, {}
for case in ET.parse(xml_file).getroot().iter("testcase"):
    cls, name = case.get("classname", ""), case.get("name", "")
    # classname is dotted (tests.test_asyncio.test_lock.TestLock): the module
    # path is the part up to the first capitalised component.
    parts = cls.split(".")
    mod = []
    while parts and not parts[0][:1].isupper():
        mod.append(parts.pop(0))
    node = "/".join(mod) + ".py" + "".join("::" + p for p in parts) + "::" + name
    status, msg = "passed", ""
    for child in case:
        if child.tag in ("failure", "error", "skipped"):
            status = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
            msg = (child.get("message") or "").strip() or (child.text or "").strip()
            full = (child.text or "").strip()
            messages.setdefault(node, []).append(f"{status}: {child.get('message') or ''}\n{full}")
            break
    old = tests.get(node)
    if old is None or rank[status] > rank[old[0]]:
        first = msg.splitlines()[0] if msg else ""
        tests[node] = (status, first.replace("\t", " ")[:300])
with open(out_file, "w") as f:
    for node, (status, first) in tests.items():
        f.write(f"{node}\t{status}\t{first}\n")
with open(msg_file, "w") as f:
    json.dump(messages, f)
EOF
}

# report: counts and lost tests; to stdout and OUT_DIR/report.txt,
# full messages to OUT_DIR/losses.txt.
report() {
    "$VENV/bin/python" - "$OUT_DIR" "$SERVER" "$PROTOCOL" "$REDIS_PY_VERSION" <<'EOF'
import json, os, re, sys

out, server, protocol, version = sys.argv[1:]

def load(mode):
    path = os.path.join(out, mode + ".tests")
    tests = {}
    if os.path.exists(path):
        for line in open(path):
            node, status, first = (line.rstrip("\n").split("\t") + ["", ""])[:3]
            tests[node] = (status, first)
    return tests

def messages(mode):
    path = os.path.join(out, mode + ".messages.json")
    return json.load(open(path)) if os.path.exists(path) else {}

d, r, p = load("direct"), load("record"), load("replay")
ok = lambda t: {n for n, (s, _) in t.items() if s == "passed"}
dp, rp, pp = ok(d), ok(r), ok(p)
lines = [f"redis-py {version}'s suite on {server}, RESP{protocol}"]
if not d:
    # no direct run: record stands in as the reference
    d, dp = r, rp
    lines.append("(no direct results: record's passes are the reference)")
def count(t):
    c = {}
    for s, _ in t.values():
        c[s] = c.get(s, 0) + 1
    return ", ".join(f"{k} {c[k]}" for k in ("passed", "failed", "error", "skipped") if k in c)
lines.append(f"direct: {len(dp)} pass ({count(d)})")
lines.append(f"record: {len(dp & rp)}/{len(dp)} of the direct passes pass through record ({count(r)})")
lines.append(f"replay: {len(rp & pp)}/{len(dp & rp)} of those pass in replay; "
             f"{len(dp & pp)}/{len(dp)} of the direct passes ({count(p)})")
order = list(d)
def why(t, n):
    s, first = t.get(n, ("did not run", ""))
    return f"{s}: {first}" if first else s
m_r, m_p = messages("record"), messages("replay")
losses = []
lost_r = [n for n in order if n in dp and n not in rp]
lost_p = [n for n in order if n in dp and n not in pp]
if lost_r:
    lines.append("")
    lines.append(f"=== {len(lost_r)} pass direct, not through record")
    for n in lost_r:
        lines.append(f"{n}\n    {why(r, n)}")
        losses.append(f"## record: {n}\n" + "\n".join(m_r.get(n, [why(r, n)])))
if lost_p:
    lines.append("")
    lines.append(f"=== {len(lost_p)} pass direct, not in replay"
                 " (* : passed through record too)")
    for n in lost_p:
        lines.append(f"{'*' if n in rp else ' '} {n}\n    {why(p, n)}")
        losses.append(f"## replay: {n}\n" + "\n".join(m_p.get(n, [why(p, n)])))
log = os.path.join(out, "replay.resplay.log")
if os.path.exists(log):
    summary = [l.rstrip() for l in open(log) if re.match(r"^resplay: replayed ", l)]
    if summary:
        lines.append("")
        lines.append(summary[-1])
text = "\n".join(lines) + "\n"
sys.stdout.write(text)
open(os.path.join(out, "report.txt"), "w").write(text)
open(os.path.join(out, "losses.txt"), "w").write("\n\n".join(losses) + "\n")
EOF
}

main() {
    local tests=()
    while (($#)); do
        case $1 in
            --server) (($# >= 2)) || die "--server needs a name"; SERVER=$2; shift 2 ;;
            --server=*) SERVER=${1#--server=}; shift ;;
            --protocol) (($# >= 2)) || die "--protocol needs 2 or 3"; PROTOCOL=$2; shift 2 ;;
            --protocol=*) PROTOCOL=${1#--protocol=}; shift ;;
            -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
            -*) die "unknown option '$1' (test paths go as they are, pytest options in PYTEST_ARGS)" ;;
            *) tests+=("$1"); shift ;;
        esac
    done
    case $SERVER in redis-7.0 | redis-8) ;; *) die "unknown server '$SERVER' (redis-7.0, redis-8)" ;; esac
    case $PROTOCOL in 2 | 3) ;; *) die "--protocol is 2 or 3" ;; esac
    ((${#tests[@]})) || tests=(tests)
    local mode
    for mode in $MODES; do
        case $mode in direct | record | replay | none) ;; *) die "unknown mode '$mode' in MODES" ;; esac
    done
    OUT_DIR=${OUT_DIR:-$ROOT/target/client-suite/out-$SERVER-resp$PROTOCOL}
    mkdir -p "$OUT_DIR"

    ensure_packages
    ensure_server
    ensure_suite
    ensure_venv
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/client-suite.XXXXXX")
    if has_mode record || has_mode replay; then ensure_resplay; fi
    note "output: $OUT_DIR; modes: $MODES; tests: ${tests[*]}"

    for mode in direct record replay; do
        if has_mode "$mode"; then run_mode "$mode" "${tests[@]}"; fi
    done
    for mode in direct record replay; do
        # results of an earlier run, when this one did not make them
        if ! has_mode "$mode" && [[ -f $OUT_DIR/$mode.xml && ! -f $OUT_DIR/$mode.tests ]]; then parse_junit "$mode"; fi
    done
    report
}

# In braces, so bash has read all of it before it runs.
{
    main "$@"
    exit
}
