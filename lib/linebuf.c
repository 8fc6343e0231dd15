/* linebuf.c - split a byte stream into lines of bounded length.
 * Complete lines inside the input are passed to the callback without
 * copying; only a line that spans reads is buffered. */
#include "linebuf.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

void
linebuf_init(struct linebuf *lb, size_t max)
{
	memset(lb, 0, sizeof(*lb));
	lb->max = max;
}

void
linebuf_free(struct linebuf *lb)
{
	free(lb->buf);
	memset(lb, 0, sizeof(*lb));
}

static void
linebuf_append(struct linebuf *lb, const char *p, size_t n)
{
	if (lb->len + n > lb->cap) {
		size_t cap = lb->cap ? lb->cap : 4096;
		while (cap < lb->len + n)
			cap *= 2;
		lb->buf = realloc(lb->buf, cap);
		if (lb->buf == NULL)
			fatal("%s: out of memory", __func__);
		lb->cap = cap;
	}
	memcpy(lb->buf + lb->len, p, n);
	lb->len += n;
}

void
linebuf_feed(struct linebuf *lb, const char *p, size_t n, linebuf_cb cb,
    void *arg)
{
	const char *end = p + n;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t seg = (size_t)((nl ? nl : end) - p);

		if (lb->discarding) {
			if (nl != NULL)
				lb->discarding = false;
		} else if (lb->len + seg > lb->max) {
			/* too long: report once, skip to the next \n */
			lb->len = 0;
			cb(arg, NULL, 0);
			lb->discarding = nl == NULL;
		} else if (nl != NULL && lb->len == 0) {
			cb(arg, p, seg);
		} else {
			linebuf_append(lb, p, seg);
			if (nl != NULL) {
				cb(arg, lb->buf, lb->len);
				lb->len = 0;
			}
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	/* do not keep a large buffer around after one big line */
	if (lb->len == 0 && lb->cap > 65536) {
		free(lb->buf);
		lb->buf = NULL;
		lb->cap = 0;
	}
}

bool
linebuf_reset(struct linebuf *lb)
{
	bool partial = lb->len > 0;	/* a skipped long line was counted */

	lb->len = 0;
	lb->discarding = false;
	return partial;
}
