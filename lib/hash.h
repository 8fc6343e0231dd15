/* hash.h - FNV-1a over strings, for the small hash tables of lib/ and
 * server/ (keys are ids and tokens' hashes: no adversary chooses them
 * to collide, connection_ids are random) */
#ifndef SLUICE_HASH_H
#define SLUICE_HASH_H

#include <stdint.h>

#define HASH_INIT	1469598103934665603ULL

/* Continue hash h over s; start from HASH_INIT. */
static inline uint64_t
hash_str(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

#endif
