#!/usr/bin/env bash
# The benchmark command: builds and runs every benchmark (current-CPU operations beside
# `thread_local!`, shared atomics, the ArceOS `percpu` crate and `ax-percpu`; scaling; remote
# sums; first-chunk setup; counters and reference counts; instruction counts on every
# architecture; the dynamic allocator against Linux's figures), prints one Markdown report and
# writes it to docs/benchmarks.md. Options: --quick (a short smoke run), --no-alloc (without the
# allocator benchmark), --out FILE (write there; a --quick or --no-alloc run writes a file only
# with --out). Figures only, no assertions; run it on an idle machine for numbers worth quoting
# (the report shows the load average). About ten minutes after the build.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --release --quiet -p bench-report -- "$@"
