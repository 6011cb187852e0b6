#!/usr/bin/env bash
# Every test of the project, on a fresh machine: the README's test command, and what CI runs.
#
# 1. Installs or checks every tool the suite needs (scripts/ensure-toolchain.sh: objdump, the
#    Debian bare-metal Rust toolchain, lld, QEMU). With CI=true a tool that is still missing
#    fails the run; nothing is skipped.
# 2. Formatting, lints and documentation (rustfmt, clippy and rustdoc with -D warnings).
# 3. The whole workspace's tests with every feature: unit, integration, doc and compile-fail
#    tests, the release codegen check, the percpu-build integration tests, and the QEMU boots
#    of the example kernels.
#    percpu-rt without its default `alloc` feature (`core` only) gets its own lints, documentation
#    and tests on the host; its bare-metal builds with -Zbuild-std=core (x86_64 and aarch64, and
#    the core-only kernel booted under QEMU) are part of the QEMU harness.
# 4. The outside crate (examples/outside, not a workspace member): formatting, lints, tests.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/ensure-toolchain.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
cargo clippy -p percpu-rt --no-default-features --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc -p percpu-rt --no-deps --no-default-features --quiet
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --quiet
cargo test --workspace --all-features
cargo test -p percpu-rt --no-default-features
# A crate outside the workspace, as a user writes one: the three crates by path, public API only
# (examples/outside: every way safe code once broke the runtime, each now refused).
outside=(--manifest-path examples/outside/Cargo.toml)
cargo fmt "${outside[@]}" -- --check
cargo clippy "${outside[@]}" --all-targets --target-dir target -- -D warnings
cargo test "${outside[@]}" --target-dir target
echo "test-all: every test passed"
