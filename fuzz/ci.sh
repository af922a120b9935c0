#!/usr/bin/env bash
# make fuzz-ci: every libFuzzer target for FUZZ_SECONDS, two at a time (the
# CI machine has two cores), each from a COPY of fuzz/corpus/<name> (what
# the run finds is kept under build/, never in the repository), with its
# dictionary if there is one. Fails when any target crashes, leaks, times
# out or does not run; prints each target's executions.
#
#   FUZZ_DIR=build/fuzz FUZZ_SECONDS=20 bash fuzz/ci.sh NAME...
#   FUZZ_JOBS  targets at a time (2)
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FUZZ_DIR=${FUZZ_DIR:-$REPO/build/fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-20}
JOBS=${FUZZ_JOBS:-2}
CI=$FUZZ_DIR/ci
[ $# -gt 0 ] || { echo "usage: $0 NAME..." >&2; exit 2; }

rm -rf "$CI"
mkdir -p "$CI/corpus" "$CI/artifacts" "$CI/logs"

# symbolized stacks in the report when llvm-symbolizer is there
for s in /usr/lib/llvm-14/bin/llvm-symbolizer /usr/bin/llvm-symbolizer; do
    [ -x "$s" ] && export ASAN_SYMBOLIZER_PATH=$s && break
done
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_one() {   # name
    local n=$1 dict=()
    cp -r "$REPO/fuzz/corpus/$n" "$CI/corpus/$n" 2>/dev/null || mkdir -p "$CI/corpus/$n"
    [ -f "$REPO/fuzz/dict/$n.dict" ] && dict=(-dict="$REPO/fuzz/dict/$n.dict")
    "$FUZZ_DIR/fuzz_$n" -max_total_time="$SECONDS_EACH" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" \
        -artifact_prefix="$CI/artifacts/fuzz_$n-" \
        "$CI/corpus/$n" > "$CI/logs/$n.log" 2>&1
}

echo "# fuzz-ci: ${#@} targets, ${SECONDS_EACH}s each, $JOBS at a time"
declare -A PID
for n in "$@"; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
        wait -n
    done
    run_one "$n" &
    PID[$n]=$!
done

fail=0
printf '%-20s %12s %10s %8s  %s\n' target execs exec/s corpus result
for n in "$@"; do
    wait "${PID[$n]}"
    rc=$?
    log=$CI/logs/$n.log
    execs=$(awk -F: '/stat::number_of_executed_units/ {gsub(/ /, "", $NF); print $NF}' "$log")
    rate=$(awk -F: '/stat::average_exec_per_sec/ {gsub(/ /, "", $NF); print $NF}' "$log")
    units=$(ls "$CI/corpus/$n" | wc -l)
    result=ok
    if [ "$rc" -ne 0 ] || [ -z "$execs" ] || [ "${execs:-0}" -eq 0 ]; then
        result="FAIL (exit $rc)"
        fail=1
    fi
    printf '%-20s %12s %10s %8s  %s\n' "fuzz_$n" "${execs:-?}" "${rate:-?}" "$units" "$result"
done

if [ "$fail" -ne 0 ]; then
    for n in "$@"; do
        log=$CI/logs/$n.log
        grep -qE '^==[0-9]+==ERROR|^SUMMARY|runtime error|Timeout|DEADLYSIGNAL|out-of-memory' "$log" \
            || ! grep -q stat::number_of_executed_units "$log" || continue
        echo "---- fuzz_$n ($log)"
        grep -nE 'ERROR|SUMMARY|runtime error|Test unit written|Timeout|out-of-memory' "$log" | head -20
        sed -n '/^==[0-9]*==ERROR/,/^SUMMARY/p' "$log" | head -40
    done
    echo "fuzz-ci: FAILED; reproduce with $FUZZ_DIR/fuzz_<name> $CI/artifacts/<file>"
    exit 1
fi
echo "fuzz-ci: all ${#@} targets ran clean"
