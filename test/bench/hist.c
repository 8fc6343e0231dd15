/* hist.c - log-linear latency histogram (see hist.h). */
#include "hist.h"

#include <string.h>

void
hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

static unsigned
bucket_of(uint64_t v)
{
	unsigned e;

	if (v < HIST_SUB)
		return (unsigned)v;
	e = 63 - (unsigned)__builtin_clzll(v);		/* >= HIST_SUB_BITS */
	return (e - HIST_SUB_BITS + 1) * HIST_SUB +
	    (unsigned)((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

/* the middle of bucket i */
static uint64_t
bucket_mid(unsigned i)
{
	unsigned e, m;
	uint64_t width;

	if (i < HIST_SUB)
		return i;
	e = i / HIST_SUB + HIST_SUB_BITS - 1;
	m = i % HIST_SUB;
	width = (uint64_t)1 << (e - HIST_SUB_BITS);
	return ((uint64_t)(HIST_SUB + m) << (e - HIST_SUB_BITS)) + (width - 1) / 2;
}

void
hist_add(struct hist *h, uint64_t v)
{
	h->b[bucket_of(v)]++;
	h->n++;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void
hist_merge(struct hist *dst, const struct hist *src)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->n += src->n;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t
hist_pct(const struct hist *h, double p)
{
	uint64_t want, seen = 0, v;

	if (h->n == 0)
		return 0;
	want = (uint64_t)(p / 100.0 * (double)h->n + 0.5);
	if (want < 1)
		want = 1;
	if (want > h->n)
		want = h->n;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want) {
			v = bucket_mid(i);
			if (v < h->min)
				v = h->min;
			if (v > h->max)
				v = h->max;
			return v;
		}
	}
	return h->max;
}
