#!/usr/bin/env bash
# The soak: a mixed redis-py and ioredis workload (pipelines, MULTI, EVAL,
# BLPOP with timeouts, slow pub/sub subscribers, 200+ connections that come
# and go) through `resplay record --admin`, while redis-server is killed and
# restarted every few minutes and the mode is switched record <-> passthrough;
# then the cassette replayed under 1000 clients (redis-benchmark) as long.
# Prints a table; exits non-zero on a lost exchange, a hang, a leak (RSS
# +20 MB, fds +20), a panic or a warning it cannot explain.
#
# Usage: scripts/soak.sh [MINUTES]   (default 60; .ci/run runs 2)
# Env: RESPLAY_BIN (default target/debug/resplay, built when missing),
#      SOAK_DIR (default a temp dir; logs, cassette and table are kept there).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-60}"
bin="${RESPLAY_BIN:-target/debug/resplay}"
[ -x "$bin" ] || cargo build --quiet --bin resplay
for tool in redis-server redis-cli redis-benchmark node python3; do
    command -v "$tool" >/dev/null || { echo "soak: $tool is missing" >&2; exit 1; }
done
python3 -c "import redis" || { echo "soak: redis-py is missing (pip install redis)" >&2; exit 1; }
[ -d tests/clients/node/node_modules/ioredis ] ||
    npm ci --prefix tests/clients/node --no-audit --no-fund --loglevel=error
dir="${SOAK_DIR:-$(mktemp -d /tmp/resplay-soak.XXXXXX)}"
mkdir -p "$dir"
# A copy: a rebuild of target/ during the soak must not swap the binary.
cp "$bin" "$dir/resplay"
# 1000 replay clients and 200-connection bursts need the descriptors.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "soak: ${minutes} minute(s), logs in $dir" >&2
exec python3 scripts/soak/soak.py "$minutes" "$dir/resplay" "$dir"
