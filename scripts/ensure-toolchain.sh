#!/usr/bin/env bash
# Makes sure every tool the test suite needs is present; installs what is missing.
#
# Host side: cargo (rustup), the toolchain of the crates' `rust-version` (rustup, minimal
# profile: the publish check builds the crates with it), objdump (binutils). Bare-metal side
# (TOOLCHAIN.md): Debian's rustc-web + rust-web-src (a rustc whose library source `-Zbuild-std`
# can compile), the LLVM tools of the same LLVM (llvm-22: llvm-objdump-22 and llvm-nm-22 read
# and disassemble every architecture's kernel, LSE, Zacas and Zabha included), lld, and QEMU for
# x86_64, aarch64 and riscv64 from bookworm-backports (the machine's qemu-utils comes from
# backports and conflicts with the main suite's QEMU 7.2; qemu-system-riscv pulls OpenSBI 1.5
# from backports, whose generic fw_dynamic firmware `-bios default` loads). loongarch64:
# qemu-system-misc from backports (it ships qemu-system-loongarch64), and lld-19 (`ld.lld-19`:
# Debian's default LLD 14 cannot link LoongArch; llvm-objdump-22 already disassembles it).
#
# With CI=true a tool that is still missing after the install attempt is a failure; without it,
# the same message is printed and the script still fails: nothing is ever skipped silently.
set -euo pipefail

say() { printf 'ensure-toolchain: %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

missing_pkgs=()
need_pkg() { # need_pkg <command-or-path> <debian-package>
  if ! command -v "$1" >/dev/null 2>&1 && [ ! -e "$1" ]; then missing_pkgs+=("$2"); fi
}

need_pkg objdump binutils
need_pkg /usr/bin/rustc rustc-web
need_pkg /usr/lib/rustlib/src/rust/library/core/Cargo.toml rust-web-src
need_pkg llvm-objdump-22 llvm-22
need_pkg llvm-nm-22 llvm-22
need_pkg ld.lld lld
need_pkg qemu-system-x86_64 qemu-system-x86
need_pkg qemu-system-aarch64 qemu-system-arm
need_pkg qemu-system-riscv64 qemu-system-riscv
need_pkg /usr/share/qemu/qboot.rom qemu-system-data
need_pkg /usr/share/qemu/opensbi-riscv64-generic-fw_dynamic.bin qemu-system-riscv
need_pkg qemu-system-loongarch64 qemu-system-misc
need_pkg ld.lld-19 lld-19

if [ ${#missing_pkgs[@]} -gt 0 ]; then
  say "installing: ${missing_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # The backports suite, on the same archive as the machine's existing Debian source.
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    uri=$(grep -rhs '^URIs:' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1 | awk '{print $2}')
    uri=${uri:-http://deb.debian.org/debian}
    say "adding bookworm-backports from $uri"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" \
      | $SUDO tee /etc/apt/sources.list.d/percpu-backports.sources >/dev/null
  fi
  $SUDO apt-get update -qq
  host_pkgs=(); qemu_pkgs=()
  for p in $(printf '%s\n' "${missing_pkgs[@]}" | sort -u); do
    case "$p" in qemu-*) qemu_pkgs+=("$p");; *) host_pkgs+=("$p");; esac
  done
  if [ ${#host_pkgs[@]} -gt 0 ]; then $SUDO apt-get install -y -qq "${host_pkgs[@]}" >/dev/null; fi
  if [ ${#qemu_pkgs[@]} -gt 0 ]; then
    # Backports for all of them (and their common files), so that the versions agree.
    $SUDO apt-get install -y -qq -t bookworm-backports "${qemu_pkgs[@]}" qemu-system-data >/dev/null
  fi
fi

# The oldest Rust the crates promise (`rust-version` in the workspace's Cargo.toml).
msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' "$(dirname "$0")/../Cargo.toml")
if ! rustup run "$msrv" rustc --version >/dev/null 2>&1; then
  say "installing Rust $msrv (rust-version) with rustup"
  rustup toolchain install "$msrv" --profile minimal >/dev/null 2>&1 || true
fi

# Verify; a tool still missing is an error, never a skip.
fail=0
check() { if ! "$@" >/dev/null 2>&1; then say "MISSING: $* failed"; fail=1; fi; }
check cargo --version
check rustup run "$msrv" rustc --version
check objdump --version
check /usr/bin/rustc --version
check test -f /usr/lib/rustlib/src/rust/library/core/Cargo.toml
check llvm-objdump-22 --version
check llvm-nm-22 --version
check ld.lld --version
check qemu-system-x86_64 --version
check qemu-system-aarch64 --version
check qemu-system-riscv64 --version
check test -f /usr/share/qemu/qboot.rom
check test -f /usr/share/qemu/opensbi-riscv64-generic-fw_dynamic.bin
check qemu-system-loongarch64 --version
check ld.lld-19 --version
if [ "$fail" != 0 ]; then
  if [ "${CI:-}" = true ]; then say "CI=true: a required tool is missing; failing."; else say "a required tool is missing."; fi
  exit 1
fi
say "ok: $(/usr/bin/rustc --version), $(qemu-system-x86_64 --version | head -n1)"
