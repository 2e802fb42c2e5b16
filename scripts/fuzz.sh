#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 600).
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
# Exits non-zero if any target finds a crash (see fuzz/artifacts/<target>/).
set -euo pipefail

seconds="${1:-600}"
shift || true
cd "$(dirname "$0")/../fuzz"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz
fi

# cargo fuzz needs nightly-only flags (-Zsanitizer); on a stable toolchain
# RUSTC_BOOTSTRAP=1 unlocks them. Harmless on nightly.
export RUSTC_BOOTSTRAP=1

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

failed=()
for target in "${targets[@]}"; do
    echo "=== fuzzing $target for ${seconds}s" >&2
    mkdir -p "corpus/$target"
    if ! cargo fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048; then
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "crashes found in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
    exit 1
fi
echo "no crashes in ${targets[*]}" >&2
