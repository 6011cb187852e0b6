#!/usr/bin/env bash
# The three crates as crates.io will receive them (part of scripts/test-all.sh):
#
# 1. `cargo publish --dry-run` of percpu-rt-macros, percpu-rt and percpu-build, in dependency
#    order: each package is built from its .crate file against the others' packages.
# 2. The packages build with the oldest Rust they promise (`rust-version`), with every feature
#    and, for percpu-rt, on `core` alone.
# 3. Every test a package ships runs from the unpacked package, against the other packages
#    (a [patch] in target/package/.cargo/config.toml stands in for crates.io).
set -euo pipefail
cd "$(dirname "$0")/.."

crates=(-p percpu-rt-macros -p percpu-rt -p percpu-build)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
# Cargo unpacks the packages of its temporary registry under CARGO_HOME and reuses what a
# previous run unpacked there (same registry path, same version): remove those copies so the
# verification builds today's packages. (None of these names is published on crates.io.)
for name in percpu-rt-macros percpu-rt percpu-build; do
  rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$name-$version" \
    "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"$name-$version.crate"
done
# --allow-dirty: the test suite run before this may leave files behind (target/ aside).
cargo publish --dry-run --allow-dirty "${crates[@]}"

msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
cargo "+$msrv" check --target-dir target/msrv "${crates[@]}" --all-features
cargo "+$msrv" check --target-dir target/msrv -p percpu-rt --no-default-features

packages=target/package
mkdir -p "$packages/.cargo"
cat > "$packages/.cargo/config.toml" <<TOML
[patch.crates-io]
percpu-rt-macros = { path = "percpu-rt-macros-$version" }
percpu-rt = { path = "percpu-rt-$version" }
TOML
tests_target="$PWD/target/package-tests"  # absolute: the tests compare paths they print
for crate in percpu-rt-macros percpu-rt percpu-build; do
  (cd "$packages/$crate-$version" && cargo test --all-features --target-dir "$tests_target")
done
echo "publish-check: the packages build, on Rust $msrv too, and their tests pass"
