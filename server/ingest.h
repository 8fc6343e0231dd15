/* ingest.h - where records come from: a Unix socket with any number of
 * producers (the default), a named pipe, or stdin. One small interface
 * so that another source (Redis Streams, DESIGN.md) can stand beside
 * these. */
#ifndef SLUICE_INGEST_H
#define SLUICE_INGEST_H

#include <stddef.h>
#include <stdint.h>

/* Anything registered in the dispatcher's epoll set. */
struct pollable {
	int	fd;
	void	(*fn)(struct pollable *p, uint32_t events);
};

/* line == NULL: a line longer than the limit was skipped. */
typedef void (*ingest_line_fn)(const char *line, size_t len);
/* A producer went away in the middle of a line. */
typedef void (*ingest_truncated_fn)(void);

struct ingest;

struct ingest *ingest_open(const char *spec, size_t max_line, int epfd,
    ingest_line_fn on_line, ingest_truncated_fn on_truncated,
    char *err, size_t errlen);
void ingest_set_max_line(struct ingest *in, size_t max_line);
size_t ingest_producers(const struct ingest *in);
void ingest_close(struct ingest *in);

#endif
