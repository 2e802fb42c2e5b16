#!/usr/bin/env bash
# Re-records examples/cassettes/quickstart.jsonl from a real redis-server:
# the cassette the README's first command replays. Needs redis-server and
# redis-cli (Debian: redis-server, redis-tools).
set -euo pipefail
cd "$(dirname "$0")/.."
out=examples/cassettes/quickstart.jsonl
work=$(mktemp -d)
cleanup() { kill "${rec_pid:-}" "${srv_pid:-}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cargo build --quiet --release
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >/dev/null &
srv_pid=$!
until redis-cli -p "$redis_port" PING >/dev/null 2>&1; do sleep 0.05; done

proxy_port=$(free_port)
target/release/resplay record --upstream "redis://127.0.0.1:$redis_port" \
  --cassette "$work/quickstart.jsonl" --listen "127.0.0.1:$proxy_port" 2>"$work/record.log" &
rec_pid=$!
until grep -q "listening on" "$work/record.log" 2>/dev/null; do sleep 0.05; done

cli() { redis-cli -p "$proxy_port" "$@" >/dev/null; }
cli SET greeting "hello from resplay"
cli GET greeting
cli HSET user:1 name Ada lang Rust
cli HGETALL user:1
cli RPUSH queue job-1 job-2
cli LRANGE queue 0 -1
cli INCR visits
cli INCR visits
cli GET visits
cli -3 HGETALL user:1
cli ZADD scores 1.5 ada 2 bob
cli ZRANGE scores 0 -1 WITHSCORES

kill -TERM "$rec_pid"; wait "$rec_pid" || true
cp "$work/quickstart.jsonl" "$out"
echo "wrote $out ($(wc -l < "$out") lines)"
