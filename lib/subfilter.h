/* subfilter.h - filter options of a user-stream subscription (SPEC 4.5).
 *
 * What a filter looks at is worked out once per event, when it is
 * stamped (subfilter_facts: a few flags and a channel or file type), so
 * that checking a subscription is a mask test and at most a short list
 * compare, never a look into the object.
 *
 *   include_deleted=0         drops deletes
 *   include_directed_posts=0  drops posts whose text starts with a
 *                             mention (default 0 on /posts/stream, 1
 *                             elsewhere)
 *   include_machine=1         keeps objects with is_machine: true,
 *                             dropped by default
 *   include_incomplete=0      drops files with is_complete: false
 *   include_private=0         drops files with is_public: false
 *   channel_types=a,b         channel, message and channel_subscription
 *                             events pass only when their channel type
 *                             (meta.channel_type, or the channel's
 *                             `type`) is listed; one whose type is not
 *                             known does not pass
 *   file_types=a,b            the same for file events and the file's
 *                             `type`
 */
#ifndef SLUICE_SUBFILTER_H
#define SLUICE_SUBFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "options.h"

/* Event facts. */
#define SF_DELETED	0x01u
#define SF_DIRECTED	0x02u
#define SF_MACHINE	0x04u
#define SF_INCOMPLETE	0x08u
#define SF_PRIVATE	0x10u
#define SF_CHANNEL	0x20u	/* about a channel: channel_types applies */
#define SF_FILE		0x40u	/* a file: file_types applies */

#define SUBFILTER_MAX_TYPES	32	/* names in channel_types, file_types */
#define SUBFILTER_TYPE_MAX	128	/* bytes in one name */

struct subfilter {
	uint8_t	 drop;		/* facts that drop an event */
	char	*channel_types;	/* NULL: any. Else ",a,b," for a quick
				 * search of ",name," */
	char	*file_types;
};

/* The facts of an event of this type and action, and the channel or
 * file type it has (a pointer into data or meta, or NULL). */
uint8_t subfilter_facts(const char *type, bool deleted, const cJSON *data,
    const cJSON *meta, const char **subtype);

/* From a subscribing call's query (get as for display_parse).
 * posts_stream: the endpoint is /posts/stream, whose default for
 * include_directed_posts is 0. Returns 0, or -1 with a message naming
 * the option. */
int subfilter_parse(opt_get get, void *ctx,
    bool posts_stream, struct subfilter *f, char *err, size_t errlen);
void subfilter_clear(struct subfilter *f);
void subfilter_copy(struct subfilter *dst, const struct subfilter *src);

/* Does an event with these facts and subtype pass? */
bool subfilter_pass(const struct subfilter *f, uint8_t facts,
    const char *subtype);

/* The options as a JSON object, every one named. */
void subfilter_render(const struct subfilter *f, struct buf *b);

#endif
