#!/usr/bin/env bash
# The dynamic allocator's benchmark (issue 18: per-CPU caches beside the global lock, against
# Linux's figures for this CPU model; memory; churn; 1 and 2 CPUs at once). Builds
# percpu-rt/benches/allocator/main.rs in release, runs it, prints its Markdown report and writes the
# tables into docs/benchmarks.md between the markers of the generated block (PERCPU_BENCH_DOC; any other
# file may be named there). Several minutes; run it on an otherwise idle machine (the report
# prints the load average and wall-clock / CPU time, so a busy run shows). The knobs of the
# benchmark (PERCPU_BENCH_N, PERCPU_BENCH_CPU_TIME, PERCPU_BENCH_REPEAT, ...) pass through.
set -euo pipefail
cd "$(dirname "$0")/.."
export PERCPU_BENCH_DOC="${PERCPU_BENCH_DOC:-docs/benchmarks.md}"
exec cargo bench --quiet -p percpu-rt --bench allocator --features hosted
