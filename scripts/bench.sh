#!/usr/bin/env bash
# The benchmarks of issue 7, side by side with what kernel authors use instead, in one report:
# builds benches/percpu-bench and benches/arceos-bench in release, runs them (hosted mode: threads
# act as CPUs, each pinned to a core), counts instructions with objdump, prints one Markdown
# report (docs/benchmarks.md's tables), then runs percpu-rt's dynamic-allocation benchmark if
# asked to (--alloc). Options: --quick (short smoke run), --alloc, --out FILE (keep the report).
# Figures only, no assertions; run it on an idle machine for numbers worth quoting.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --release --quiet -p bench-report -- "$@"
