/* display.h - display options (SPEC 4.5): which fields of the objects
 * in `data` a user-stream connection receives.
 *
 * A connection's options are a small mask, and so is what an event's
 * objects hold that options can remove. Their intersection is the
 * event's "variant": every connection with the same variant gets the
 * same bytes, rendered once per event (event_variant). Most events
 * carry no raw or annotations at all, and then every connection shares
 * the default rendering whatever it asked for.
 *
 * Defaults: `html` fields are kept; `raw` and `annotations` are removed.
 * include_html=0 removes every `html` member. include_raw=1 keeps `raw`
 * on every object; include_<kind>_raw=1 keeps it on objects of that
 * kind and on their children (pnut's rule: a post's user keeps its raw
 * when include_post_raw=1). Likewise for annotations. A per-object 0
 * does not take back what include_raw=1 gave. Nothing inside a kept
 * `raw` or `annotations` value is touched: it is the app's own data. */
#ifndef SLUICE_DISPLAY_H
#define SLUICE_DISPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "options.h"

/* The kinds of object a per-object option names. An object's kind comes
 * from the member holding it (`user`, `owner`, `channel`, `files`...)
 * or, for `data` itself, from the event type; an object under any other
 * member belongs to its parent. */
enum display_kind {
	DK_POST, DK_USER, DK_CHANNEL, DK_MESSAGE, DK_FILE, DK_POLL,
	DK_NKINDS
};

/* Mask bits. RAW and ANNOT have a bit per kind and one (DK_NKINDS) for
 * objects no kind covers, which only include_raw=1 reaches. */
#define DISPLAY_NO_HTML		0x0001u
#define DISPLAY_RAW(k)		(0x0002u << (k))	/* bits 1-7 */
#define DISPLAY_ANNOT(k)	(0x0100u << (k))	/* bits 8-14 */
#define DISPLAY_RAW_ALL		0x00feu
#define DISPLAY_ANNOT_ALL	0x7f00u
/* every field kept: what an app stream gets */
#define DISPLAY_FULL		(DISPLAY_RAW_ALL | DISPLAY_ANNOT_ALL)

typedef uint16_t display_t;

/* The kind of the `data` object of an event of this type; -1: none. */
int display_root_kind(const char *type);

/* A connection's options from its query: get(ctx, name) returns the
 * value of a query argument or NULL. Values are 0/1 (or true/false).
 * Returns 0 and the mask, or -1 with a message naming the option. */
int display_parse(opt_get get, void *ctx,
    display_t *out, char *err, size_t errlen);
/* The options back as query arguments ("include_html=0&..."), "" for
 * the defaults; for listings. */
void display_render(display_t d, struct buf *b);

/* What options can change in this data: the bits of every mask that
 * would render it differently from the default. 0: all masks alike. */
display_t display_affects(const cJSON *data, int root_kind);
/* Remove from data, in place, what mask d does not keep. */
void display_apply(cJSON *data, int root_kind, display_t d);

#endif
