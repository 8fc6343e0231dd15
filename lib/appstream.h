/* appstream.h - app-stream definitions (SPEC 5): the body of POST and
 * PUT /stream/0/streams, checked, and the stream object's parts. */
#ifndef SLUICE_APPSTREAM_H
#define SLUICE_APPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define APPSTREAM_KEY_MAX	32
#define APPSTREAM_NTYPES	11
#define APPSTREAM_BODY_MAX	65536

/* The object types an app stream may ask for, in the order they are
 * listed back (pnut's list). */
extern const char *const appstream_types[APPSTREAM_NTYPES];

struct appfilter;

struct appstream_def {
	char		key[APPSTREAM_KEY_MAX + 1];	/* "" when not given */
	uint32_t	types;		/* bit i: appstream_types[i] */
	struct appfilter *filter;	/* NULL: none. Owned by whoever holds
					 * the definition (appfilter_free) */
};

/* Check a definition: a POST body (put false) or a PUT body. Returns 0
 * and fills def (a filter in it is the caller's to free), or the HTTP
 * status to answer (400) with a message naming the problem in err. */
int appstream_parse(const char *body, size_t len, bool put,
    struct appstream_def *def, char *err, size_t errlen);
/* 1-32 of [A-Za-z0-9_]. */
bool appstream_key_valid(const char *key);
/* Index in appstream_types, or -1. */
int appstream_type_index(const char *type);
/* types as a JSON array of names. */
void appstream_render_types(uint32_t types, struct buf *b);

#endif
