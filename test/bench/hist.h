/* hist.h - a latency histogram with fixed log-linear buckets: exact
 * below 32, then 32 buckets per power of two (at most ~3% off), so a
 * sample costs one increment and nothing is stored per sample. */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS	5
#define HIST_SUB	(1 << HIST_SUB_BITS)
#define HIST_BUCKETS	((64 - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
	uint64_t	n;
	uint64_t	min;
	uint64_t	max;
	uint64_t	b[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_add(struct hist *h, uint64_t v);
void hist_merge(struct hist *dst, const struct hist *src);
/* The value below which p percent of the samples fall (p in 0..100),
 * as the middle of its bucket, within [min, max]; 0 when empty. */
uint64_t hist_pct(const struct hist *h, double p);

#endif
