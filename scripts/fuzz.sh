#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ (cargo-fuzz, libFuzzer) for SECONDS each (default 60),
# one after another, then minimises each corpus (cargo fuzz cmin) and prints a summary:
# executions, executions per second, corpus entries and artifacts (crashing, hanging or
# over-allocating inputs) per target. libFuzzer stops a target at its first artifact.
#
#   scripts/fuzz.sh [SECONDS]
#
# cargo-fuzz needs nightly flags (-Zsanitizer, ...): on a stable toolchain this script
# sets RUSTC_BOOTSTRAP=1. Environment:
#   SANITIZER         address (default) or none
#   CARGO_TARGET_DIR  where to build (default: fuzz/target, ignored by git)
#   TARGETS           the targets to run (default: all five)
# Crashing inputs go to fuzz/artifacts/<target>/ (ignored by git); new corpus entries to
# fuzz/corpus/<target>/ (committed, after cmin). Logs go to $LOG_DIR (default a temp dir).
set -euo pipefail

seconds=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
sanitizer=${SANITIZER:-address}
targets=${TARGETS:-"raft_log_record peer_frame grpc_request gateway_json bolt_file"}
log_dir=${LOG_DIR:-$(mktemp -d /tmp/etcd-rs-fuzz.XXXXXX)}
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cd "$root/fuzz"
if [ ! -d corpus ]; then
    # Seeds made with the crate's own encoders.
    cargo run --example write_seeds
fi
cargo fuzz build -s "$sanitizer"

summary=()
for target in $targets; do
    log="$log_dir/$target.log"
    flags=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512
        -print_final_stats=1)
    if [ -f "$target.dict" ]; then
        flags+=(-dict="$target.dict")
    fi
    echo "== $target: $seconds s (sanitizer: $sanitizer, log: $log)"
    status=0
    cargo fuzz run -s "$sanitizer" "$target" -- "${flags[@]}" >"$log" 2>&1 || status=$?
    tail -n 15 "$log"
    cargo fuzz cmin -s "$sanitizer" "$target" >"$log_dir/$target.cmin.log" 2>&1
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    entries=$(find "corpus/$target" -type f | wc -l)
    found=$(find "artifacts/$target" -type f 2>/dev/null | wc -l)
    summary+=("$target: ${runs:-?} executions, ${rate:-?} exec/s, $entries corpus entries, $found artifacts (crashes, timeouts, OOMs), exit $status")
done

echo "== summary ($seconds s per target, sanitizer $sanitizer)"
printf '%s\n' "${summary[@]}"
