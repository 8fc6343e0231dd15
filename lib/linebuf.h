/* linebuf.h - split a byte stream into lines of bounded length */
#ifndef SLUICE_LINEBUF_H
#define SLUICE_LINEBUF_H

#include <stdbool.h>
#include <stddef.h>

struct linebuf {
	char	*buf;
	size_t	 len;
	size_t	 cap;
	size_t	 max;		/* longest line accepted, without the \n */
	bool	 discarding;	/* inside a line that was too long */
};

/* Called for each complete line (without its \n; a trailing \r is kept).
 * line is NULL when a line longer than max was skipped. */
typedef void (*linebuf_cb)(void *arg, const char *line, size_t len);

void linebuf_init(struct linebuf *lb, size_t max);
void linebuf_free(struct linebuf *lb);
void linebuf_feed(struct linebuf *lb, const char *p, size_t n,
    linebuf_cb cb, void *arg);
/* The stream ended: drop what is buffered. Returns true if a partial
 * line was lost. */
bool linebuf_reset(struct linebuf *lb);

#endif
