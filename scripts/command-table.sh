#!/usr/bin/env bash
# Regenerate src/command/table.rs, resplay's one command table, from what
# the servers themselves publish: COMMAND INFO and COMMAND DOCS of Redis
# 8.2.3, Valkey 8.1.1 and Redis 7.0.15 (newest first: a command's data comes
# from the newest server that has it; one that a newer server removed is
# kept, and the table says which servers know each command).
#
#   bash scripts/command-table.sh            # fetch servers if needed, regenerate
#   KEEP_DUMPS=DIR bash scripts/command-table.sh   # also keep the JSON dumps
#
# The servers come from scripts/servers.sh (REDIS7_SERVER, REDIS8_SERVER,
# VALKEY8_SERVER override the binaries). The generator and what it derives
# from Redis's data, and the few facts it adds (OVERLAY), are in
# scripts/command_table.py.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

server_path() { # NAME: the binary scripts/servers.sh provides for NAME
    bash "$ROOT/scripts/servers.sh" "$1" | tail -n 1
}
REDIS8_SERVER=${REDIS8_SERVER:-$(server_path redis-8)}
VALKEY8_SERVER=${VALKEY8_SERVER:-$(server_path valkey-8)}
REDIS7_SERVER=${REDIS7_SERVER:-$(server_path redis-7.0)}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

dump() { # LABEL BINARY: start BINARY on a free port, dump its command table
    local label=$1 bin=$2 port
    port=$(free_port)
    mkdir -p "$WORK/$label"
    "$bin" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK/$label" \
        >"$WORK/$label/log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 50); do
        python3 "$ROOT/scripts/command_table.py" --dump "$port" "$WORK/$label.json" 2>/dev/null && break
        sleep 0.1
    done
    [[ -s $WORK/$label.json ]] || { echo "command-table: $label ($bin) did not answer" >&2; exit 1; }
    echo "command-table: $label: $("$bin" --version)" >&2
}

dump redis-8.2 "$REDIS8_SERVER"
dump valkey-8.1 "$VALKEY8_SERVER"
dump redis-7.0 "$REDIS7_SERVER"
python3 "$ROOT/scripts/command_table.py" "$ROOT/src/command/table.rs" \
    "redis-8.2=$WORK/redis-8.2.json" "valkey-8.1=$WORK/valkey-8.1.json" "redis-7.0=$WORK/redis-7.0.json"
if [[ -n ${KEEP_DUMPS:-} ]]; then mkdir -p "$KEEP_DUMPS"; cp "$WORK"/*.json "$KEEP_DUMPS"; fi
echo "command-table: wrote src/command/table.rs ($(grep -c '^    Spec {' "$ROOT/src/command/table.rs") commands)" >&2
