/* fdio.h - whole writes to a file descriptor, for the programs that
 * feed an ingest socket (sluice-pub, sluice-bench) */
#ifndef SLUICE_FDIO_H
#define SLUICE_FDIO_H

#include <errno.h>
#include <stddef.h>
#include <unistd.h>

/* Write all n bytes, across short writes and EINTR: 0, or -1 (errno). */
static inline int
fdio_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

#endif
