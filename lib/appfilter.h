/* appfilter.h - app-stream filters (SPEC 5, App.net's design): which
 * events of an app stream reach the app.
 *
 * A filter is a JSON object:
 *
 *	{"match_policy": "include_any", "name": "mine",
 *	 "clauses": [{"object_type": "post", "operator": "equals",
 *	              "field": "/data/user/id", "value": "12"}]}
 *
 * Members: match_policy and clauses are required; name (a string of at
 * most 64 bytes, or null for none) is optional and only kept and listed
 * back. clauses is a non-empty list of at most 64 clauses; each clause
 * has exactly object_type, operator, field and value. Any other member,
 * or a member given twice, is an error.
 *
 * Which events are judged: a filter judges only events whose type is
 * named by the object_type of at least one clause (one of
 * appstream_types); an event of any other type passes unfiltered. An
 * event of type T is judged by the clauses with object_type T alone:
 *	include_any	passes if any of them matches
 *	include_all	passes if all of them match
 *	exclude_any	passes if none of them matches
 *	exclude_all	passes unless all of them match
 *
 * field is a JSON Pointer (RFC 6901) into the outgoing message
 * {"meta": {...}, "data": ...}: non-empty, starting with "/", at most
 * 512 bytes. In a segment ~0 stands for "~", ~1 for "/" and ~2 for a
 * literal "*" (a member named "*"); any other "~" is an error. A segment
 * that is exactly "*" (unescaped) selects every element of a list, and
 * nothing on anything else: /data/entities/hashtags/ * /name (without
 * the blanks). On a list any other segment must be a decimal index
 * without leading zeros ("0", "7", not "07") and selects that element,
 * or nothing. On an object a segment is a member name, exact and
 * case-sensitive ("0" and "*" written ~2 included). A clause matches if
 * any value the pointer selects satisfies the operator; a field that is
 * missing (or a path through a missing member, or through a string)
 * selects nothing, so the clause does not match, whatever the operator
 * and the match policy.
 *
 * Operators and their value:
 *	equals	a string, number, boolean or null. Strings are equal when
 *		byte for byte equal, numbers when numerically equal; a string
 *		equals a number when it is the number's canonical decimal
 *		form ("12" equals 12, "012" and "12.0" do not; a number is
 *		taken exactly as the double it parsed to); true, false and
 *		null equal only themselves. Objects and lists equal nothing.
 *	matches	a non-empty string: the field is a string containing it
 *		(case-sensitive substring).
 *	lt, le, gt, ge
 *		a number or string; the clause reads "field op value". When
 *		both sides are integers (integral numbers, or strings of
 *		digits with an optional leading "-"; leading zeros ignored)
 *		they compare as integers of any length, since ids exceed
 *		2^53; otherwise two numbers compare numerically and two
 *		strings by their bytes (strcmp); otherwise (a string against
 *		a non-integral number, a boolean, ...) there is no match.
 *	one_of	a non-empty list of at most 1024 strings, numbers, booleans
 *		or nulls: the field equals one of them, by the rules of
 *		equals.
 * A string value is at most 1024 bytes. Numbers must be finite.
 *
 * The value "$authorized_userids" (the whole value of equals or one_of,
 * not an element of a list; with any other operator it is an error)
 * stands for the users who authorized this app: the field, a string id
 * or an integral number written in decimal, matches if the authorized
 * callback of appfilter_pass says so.
 *
 * Errors name the member at fault by its path, clauses counted from 0:
 * "filter.clauses[2].operator: must be one of equals, matches, lt, le,
 * gt, ge, one_of".
 *
 * A parsed filter is immutable: any number of threads may call
 * appfilter_pass on it at once; appfilter_pass does not allocate. */
#ifndef SLUICE_APPFILTER_H
#define SLUICE_APPFILTER_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define APPFILTER_CLAUSES_MAX	64
#define APPFILTER_NAME_MAX	64
#define APPFILTER_FIELD_MAX	512
#define APPFILTER_STRING_MAX	1024
#define APPFILTER_ONE_OF_MAX	1024

struct appfilter;

/* Compile a filter from its JSON object. NULL on error, with a message
 * starting with the path of the member at fault in err. */
struct appfilter *appfilter_parse(const cJSON *obj, char *err, size_t errlen);
void appfilter_free(struct appfilter *f);
/* Does f judge events of this type (an index into appstream_types)?
 * When not, the event passes and its message need not be parsed. */
bool appfilter_applies(const struct appfilter *f, int type_index);
/* Does an event of type type_index pass, msg being its outgoing message
 * as parsed by cJSON? authorized(ctx, user_id) tells whether that user
 * authorized this app (for "$authorized_userids"); when authorized is
 * NULL no user has. */
bool appfilter_pass(const struct appfilter *f, int type_index, const cJSON *msg,
    bool (*authorized)(void *ctx, const char *user_id), void *ctx);
/* Append f as a JSON object, normalised: match_policy, clauses (each
 * with object_type, operator, field, value), then name if it has one.
 * What this writes parses back to the same filter. */
void appfilter_render(const struct appfilter *f, struct buf *b);

#endif
