// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Built into a User-Mode Linux kernel by scripts/linux-uml-bench.sh (not part of percpu-rt).
 *
 * Times Linux's per-CPU allocator with the workload of percpu-rt's allocator benchmark:
 * for each size, N allocations freed in order, N freed in reverse, N freed alternating
 * (even indexes, then odd); then N allocations of 4 bytes aligned to 8, freed in order.
 * ns per operation = loop time / N. Runs once at boot (late initcall) and prints its figures.
 */
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/percpu.h>
#include <linux/vmalloc.h>
#include <linux/ktime.h>
#include <linux/sched.h>
#include <linux/delay.h>
#include <linux/string.h>

#define PB_N 1000000UL

static void __percpu **pb_ptrs;

static u64 pb_alloc(size_t size, size_t align)
{
	u64 t0 = ktime_get_ns();
	unsigned long i;

	for (i = 0; i < PB_N; i++) {
		pb_ptrs[i] = __alloc_percpu(size, align);
		if (!pb_ptrs[i]) {
			pr_err("pcpubench: allocation %lu of %zu failed\n", i, size);
			return 0;
		}
		if ((i & 4095) == 0)
			cond_resched();
	}
	return ktime_get_ns() - t0;
}

/* order 0: in order, 1: reverse, 2: alternating (even indexes, then odd) */
static u64 pb_free(int order)
{
	u64 t0 = ktime_get_ns();
	unsigned long i, k = 0;

	for (i = 0; i < PB_N; i++) {
		unsigned long j;

		if (order == 0)
			j = i;
		else if (order == 1)
			j = PB_N - 1 - i;
		else
			j = i < (PB_N + 1) / 2 ? 2 * i : 2 * (i - (PB_N + 1) / 2) + 1;
		free_percpu(pb_ptrs[j]);
		if ((++k & 4095) == 0)
			cond_resched();
	}
	return ktime_get_ns() - t0;
}

/* A plain loop (a dependent multiply-add chain), to compare UML's speed with the host's. */
static u64 pb_calibrate(void)
{
	u64 t0 = ktime_get_ns(), x = 1;
	unsigned long i;

	for (i = 0; i < 200000000UL; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		barrier();
	}
	if (x == 42)
		pr_info("pcpubench: unlikely\n");
	return ktime_get_ns() - t0;
}

static void pb_pause(void)
{
	msleep(500);
}

static int __init pcpu_bench_init(void)
{
	static const size_t sizes[5][2] = { { 4, 4 }, { 16, 8 }, { 64, 8 }, { 256, 8 }, { 1024, 8 } };
	size_t prefault = 1536UL << 20;
	char *touch;
	int s, r;

	/* Fault in the guest's memory once, so that the host's first touches are not timed. */
	touch = vmalloc(prefault);
	if (touch) {
		memset(touch, 1, prefault);
		vfree(touch);
	}
	{
		u64 c = pb_calibrate();

		pr_info("pcpubench calibration: %llu ms for 200M multiply-adds\n", c / 1000000);
	}
	pb_ptrs = vmalloc(PB_N * sizeof(*pb_ptrs));
	if (!pb_ptrs)
		return -ENOMEM;
	for (s = 0; s < 5; s++) {
		u64 t[6];

		for (r = 0; r < 3; r++) {
			t[r] = pb_alloc(sizes[s][0], sizes[s][1]);
			pb_pause();
			t[3 + r] = pb_free(r);
			pb_pause();
		}
		pr_info("pcpubench %zu %zu: %llu.%llu %llu.%llu %llu.%llu %llu.%llu %llu.%llu %llu.%llu\n",
			sizes[s][0], sizes[s][1],
			t[0] * 10 / PB_N / 10, t[0] * 10 / PB_N % 10, t[1] * 10 / PB_N / 10, t[1] * 10 / PB_N % 10,
			t[2] * 10 / PB_N / 10, t[2] * 10 / PB_N % 10, t[3] * 10 / PB_N / 10, t[3] * 10 / PB_N % 10,
			t[4] * 10 / PB_N / 10, t[4] * 10 / PB_N % 10, t[5] * 10 / PB_N / 10, t[5] * 10 / PB_N % 10);
	}
	{
		u64 a = pb_alloc(4, 8), f;

		pb_pause();
		f = pb_free(0);
		pr_info("pcpubench aligned: %llu.%llu %llu.%llu\n",
			a * 10 / PB_N / 10, a * 10 / PB_N % 10, f * 10 / PB_N / 10, f * 10 / PB_N % 10);
	}
	vfree(pb_ptrs);
	pr_info("pcpubench done\n");
	return 0;
}
late_initcall(pcpu_bench_init);
