/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The same dependent multiply-add chain as pcpu_bench.c's calibration, on the host: UML runs
 * plain code at the host's speed when the two agree. */
#include <stdio.h>
#include <stdint.h>
#include <time.h>
int main(void)
{
	struct timespec a, b;
	uint64_t x = 1;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (unsigned long i = 0; i < 200000000UL; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		__asm__ volatile("" ::: "memory");
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("host calibration: %ld ms for 200M multiply-adds (%lu)\n",
	       (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000, (unsigned long)(x == 42));
	return 0;
}
