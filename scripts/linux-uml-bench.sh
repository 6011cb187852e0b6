#!/usr/bin/env bash
# Measures Linux 6.1's per-CPU allocator on this machine's CPU, with the workload of
# percpu-rt's allocator benchmark: the figures its `LINUX_*` tables hold
# (percpu-rt/benches/allocator/common.rs).
#
#   ./scripts/linux-uml-bench.sh [boots]     (default 3 boots; about 15 minutes on 2 cores)
#
# Debian's linux-source-6.1 is built as User-Mode Linux (ARCH=um, defconfig, -O2) with
# benches/linux-uml/pcpu_bench.c built in: a late initcall that runs the workload with
# `__alloc_percpu` / `free_percpu` and prints ns per operation. UML has one CPU and uses
# percpu-km (32 KiB units, each chunk populated when created); the kernel runs natively as a
# process, which the calibration line checks (the same plain loop inside UML and on the host).
# Each boot is run with `init_on_alloc=1`; it stops at "no root file system" once the figures
# are printed. The medians over the boots are printed as Markdown and as a Rust table.
#
# Needs apt (Debian bookworm) for linux-source-6.1, flex, bison, bc and gcc; works in
# target/linux-uml (about 1.5 GB).
set -euo pipefail

boots="${1:-3}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$root/target/linux-uml"
src="$work/linux-source-6.1"
mkdir -p "$work"

need=()
[ -f /usr/src/linux-source-6.1.tar.xz ] || need+=(linux-source-6.1)
for tool in flex bison bc gcc make; do
    command -v "$tool" >/dev/null || need+=("$tool")
done
if [ "${#need[@]}" -gt 0 ]; then
    echo "installing ${need[*]}" >&2
    apt-get install -y "${need[@]}" >&2
fi

if [ ! -d "$src" ]; then
    echo "extracting linux-source-6.1" >&2
    tar -C "$work" -xf /usr/src/linux-source-6.1.tar.xz
fi
cp "$root/benches/linux-uml/pcpu_bench.c" "$src/mm/pcpu_bench.c"
grep -q 'pcpu_bench.o' "$src/mm/Makefile" || echo 'obj-y += pcpu_bench.o' >>"$src/mm/Makefile"
if [ ! -f "$src/.config" ]; then
    make -C "$src" ARCH=um defconfig >&2
    "$src/scripts/config" --file "$src/.config" \
        --disable CC_OPTIMIZE_FOR_SIZE --enable CC_OPTIMIZE_FOR_PERFORMANCE
    make -C "$src" ARCH=um olddefconfig >&2
fi
echo "building the UML kernel" >&2
make -C "$src" ARCH=um -j"$(nproc)" linux >&2
gcc -O2 -o "$work/calibrate" "$root/benches/linux-uml/calibrate.c"

runs="$work/runs.txt"
: >"$runs"
for i in $(seq "$boots"); do
    echo "boot $i of $boots" >&2
    (cd "$work" && timeout 1200 "$src/linux" mem=3G init_on_alloc=1 root=/dev/null </dev/null 2>&1 || true) |
        grep -a 'pcpubench' | tee -a "$runs" >&2
    "$work/calibrate" | tee -a "$runs" >&2
done
if [ "$(grep -c 'pcpubench done' "$runs")" -ne "$boots" ]; then
    echo "not every boot finished the workload; see $runs" >&2
    exit 1
fi

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' '), model $(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | cut -d: -f2 | tr -d ' '); medians of $boots boots, ns per operation"
echo
# Medians per row and column, then the Markdown table and the Rust table.
awk '
function median(list,   n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
/pcpubench [0-9]+ [0-9]+:/ {
    key = $2 " " $3; sub(":", "", key)
    if (!(key in seen)) { order[++rows] = key; seen[key] = 1 }
    for (c = 1; c <= 6; c++) cell[key, c] = cell[key, c] " " $(3 + c)
}
/pcpubench aligned:/ { al[1] = al[1] " " $3; al[2] = al[2] " " $4 }
/pcpubench calibration:/ { uml = uml " " $3 }
/host calibration:/ { host = host " " $3 }
END {
    print "| size | align | alloc r1 | alloc r2 | alloc r3 | free in order | free reverse | free alternating |"
    print "|---:|---:|---:|---:|---:|---:|---:|---:|"
    for (r = 1; r <= rows; r++) {
        split(order[r], sa, " ")
        line = "| " sa[1] " | " sa[2] " |"
        for (c = 1; c <= 6; c++) line = line sprintf(" %.1f |", median(cell[order[r], c]))
        print line
    }
    printf "| 4 (aligned) | 8 | %.1f | – | – | %.1f | – | – |\n", median(al[1]), median(al[2])
    printf "\nCalibration (200M multiply-adds): %s ms in UML, %s ms on the host.\n\nRust:\n\n    [\n", median(uml), median(host)
    for (r = 1; r <= rows; r++) {
        line = "        ["
        for (c = 1; c <= 6; c++) line = line sprintf("%.1f%s", median(cell[order[r], c]), c < 6 ? ", " : "")
        print line "],"
    }
    printf "    ],\n    [%.1f, %.1f],\n", median(al[1]), median(al[2])
}' "$runs"
