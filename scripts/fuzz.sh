#!/usr/bin/env bash
# Fuzz every parser that reads what users give us, each for a fixed budget:
#   scripts/fuzz.sh              # 300 s a target
#   FUZZ_SECONDS=30 scripts/fuzz.sh mp4 ct2
# New inputs go to target/fuzz-corpus/TARGET (the seeds in fuzz/corpus stay
# as committed); a panic, or an input that takes over 10 s, is saved under
# fuzz/artifacts/TARGET and stops the run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-300}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(pipeline timecodes mp4 ct2 ggml)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.12.0
# cargo fuzz passes nightly-only flags; this lets the stable toolchain take them.
export RUSTC_BOOTSTRAP=1
for t in "${targets[@]}"; do
    mkdir -p "target/fuzz-corpus/$t"
    log="target/fuzz-$t.log"
    echo "== $t: ${seconds}s (log: $log)"
    if ! cargo fuzz run --fuzz-dir fuzz --sanitizer none "$t" "target/fuzz-corpus/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -max_len=65536 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
        tail -40 "$log"
        echo "$t: FAILED (a crashing input is saved under fuzz/artifacts/$t)"
        exit 1
    fi
    grep -E "stat::(number_of_executed_units|new_units_added|peak_rss_mb)" "$log"
done
