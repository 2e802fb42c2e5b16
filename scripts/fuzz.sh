#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets/) for SECONDS each
# (default 600), starting from its committed seed corpus (fuzz/corpus/<target>/).
# Usage: scripts/fuzz.sh [SECONDS] [--ci] [TARGET...]
#
# Without --ci: cargo-fuzz (installed when missing) with AddressSanitizer;
# what a run finds is kept in fuzz/target/corpus/<target>/ (not committed)
# and the next run goes on from there. With --ci (what .ci/run does): a
# plain cargo build with libFuzzer's coverage flags (no cargo-fuzz, no
# sanitizer: minutes less on a fresh machine), and every target starts
# from its seed corpus alone, in a fresh directory.
#
# Prints a table (target, runs, runs/s, corpus, result) and exits non-zero if
# any target crashes (the input is in fuzz/artifacts/<target>/; reproduce
# with `cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-…` in fuzz/).
set -euo pipefail

seconds=600
ci=0
targets=()
for arg in "$@"; do
    case "$arg" in
        --ci) ci=1 ;;
        *[!0-9]*) targets+=("$arg") ;;
        *) seconds="$arg" ;;
    esac
done
cd "$(dirname "$0")/../fuzz"

if [ "${#targets[@]}" -eq 0 ]; then
    mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^resplay-fuzz$')
fi

build_start=$(date +%s)
if [ "$ci" = 1 ]; then
    # CI: no cargo-fuzz to install (minutes on a fresh machine) and no
    # AddressSanitizer (an 11-minute single-unit build there): libFuzzer's
    # own coverage flags, as cargo-fuzz sets them, on a plain build with
    # debug assertions. Rust panics, overflows and hangs are what the
    # targets look for; the sanitizer adds little over safe code, and the
    # longer runs below (without --ci) keep it.
    export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth \
--cfg fuzzing -Cdebug-assertions -Coverflow-checks"
    # With --target the flags reach the targets only, not build scripts
    # and proc macros (which libFuzzer's runtime does not link into).
    host=$(rustc -vV | sed -n 's/^host: //p')
    CARGO_PROFILE_DEV_OPT_LEVEL=1 cargo build --quiet --bins --target "$host" --target-dir target/ci \
        || { echo "fuzz: build failed" >&2; exit 1; }
    fuzz_run() { "target/ci/$host/debug/$1" "${@:2}"; }
else
    if ! command -v cargo-fuzz >/dev/null 2>&1; then
        # From crates.io into ~/.cargo/bin (a few minutes on two cores),
        # kept there for the next run.
        echo "fuzz: installing cargo-fuzz" >&2
        cargo install --locked --quiet cargo-fuzz
    fi
    # cargo fuzz needs nightly-only flags (-Zsanitizer); on a stable
    # toolchain RUSTC_BOOTSTRAP=1 unlocks them. Harmless on nightly.
    export RUSTC_BOOTSTRAP=1
    # One build of every target (AddressSanitizer, release with debug
    # assertions): the runs below reuse it.
    cargo fuzz build 2>&1 | grep -v '^\s*Compiling ' >&2 || { echo "fuzz: build failed" >&2; exit 1; }
    fuzz_run() { cargo fuzz run "$1" "$2" "$3" -- "${@:4}"; }
fi
build_secs=$(( $(date +%s) - build_start ))
echo "fuzz: built ${#targets[@]} targets in ${build_secs}s" >&2

logs=target/fuzz-logs
mkdir -p "$logs"
failed=()
rows=()
for target in "${targets[@]}"; do
    seeds="corpus/$target"
    if [ ! -d "$seeds" ] || [ -z "$(ls -A "$seeds")" ]; then
        echo "fuzz: $target has no seed corpus in fuzz/$seeds" >&2
        failed+=("$target")
        continue
    fi
    work="target/corpus/$target"
    if [ "$ci" = 1 ]; then
        rm -rf "$work"
    fi
    mkdir -p "$work"
    echo "=== fuzzing $target for ${seconds}s" >&2
    log="$logs/$target.log"
    mkdir -p "artifacts/$target"
    result=ok
    # The first directory is where new inputs go; the seeds are only read.
    if ! fuzz_run "$target" "$work" "$seeds" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="artifacts/$target/" >"$log" 2>&1; then
        result=CRASH
        failed+=("$target")
        grep -E 'panicked at|ERROR: |SUMMARY|Test unit written' "$log" | head -8 >&2 || true
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    corpus=$(ls "$work" | wc -l)
    rows+=("$(printf '%-16s %12s %9s %8s  %s' "$target" "${runs:-?}" "${rate:-?}" "$corpus" "$result")")
done

printf '\n%-16s %12s %9s %8s  %s\n' target runs runs/s corpus result
printf '%s\n' "${rows[@]}"
printf '(%ss each; build %ss)\n' "$seconds" "$build_secs"

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: crashes (or no seeds) in: ${failed[*]} (inputs under fuzz/artifacts/, logs in fuzz/$logs/)" >&2
    exit 1
fi
echo "fuzz: no crashes in ${targets[*]}" >&2
