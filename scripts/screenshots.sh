#!/usr/bin/env bash
# Regenerates the screenshots in docs/img/ (report.png,
# report-timeline.png, console.png) that the README and docs/report.md
# show: records a small redis-py workload and a redis-benchmark burst
# against a throwaway redis-server, replays it with a miss and --report,
# serves the console on a replay, and photographs both in headless
# Chromium (scripts/browser-venv.sh installs it).
#
#   bash scripts/screenshots.sh            # after cargo build --release
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${RESPLAY_BIN:-target/release/resplay}
[ -x "$BIN" ] || cargo build --release --quiet
PY=$(bash scripts/browser-venv.sh)
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do redis-cli -p "$1" PING >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "port $1 never answered" >&2; exit 1; }

redis_port=$(free_port)
redis-server --port "$redis_port" --save '' --appendonly no --dir "$work" >/dev/null &
pids+=($!)
wait_port "$redis_port"

cassette="$work/app.jsonl"
rec_port=$(free_port)
"$BIN" record --upstream "redis://127.0.0.1:$redis_port" --cassette "$cassette" \
  --listen "127.0.0.1:$rec_port" 2>"$work/record.log" &
rec=$!
wait_port "$rec_port"
REDIS_URL="redis://127.0.0.1:$rec_port" python3 tests/clients/app.py >/dev/null
redis-cli -p "$rec_port" DEBUG SLEEP 0.05 >/dev/null
redis-cli -p "$rec_port" BLPOP empty-queue 0.2 >/dev/null
redis-cli -p "$rec_port" LPUSH greeting x >/dev/null || true
redis-benchmark -p "$rec_port" -c 8 -n 2000 -r 500 -t set,get,lpush -q >/dev/null
kill -INT "$rec"; wait "$rec" || true

# A replay with one command the recording does not have.
rep_port=$(free_port)
"$BIN" replay --cassette "$cassette" --listen "127.0.0.1:$rep_port" \
  --report "$work/report.html" 2>"$work/replay.log" &
rep=$!
wait_port "$rep_port"
REDIS_URL="redis://127.0.0.1:$rep_port" python3 tests/clients/app.py >/dev/null || true
redis-cli -p "$rep_port" GET py:greting >/dev/null
kill -TERM "$rep"; wait "$rep" || true

# The console on a replay of the same cassette.
con_port=$(free_port)
"$BIN" replay --cassette "$cassette" --listen "127.0.0.1:$con_port" \
  --admin 127.0.0.1:0 2>"$work/console.log" &
pids+=($!)
wait_port "$con_port"
admin=$(sed -n 's/^resplay: control API on http:\/\///p' "$work/console.log" | head -1)

"$PY" scripts/screenshots.py "$work/report.html" "$admin" "$con_port" docs/img
ls -l docs/img
