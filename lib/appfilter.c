/* appfilter.c - app-stream filters. A filter is compiled once, when an
 * app creates or replaces a stream, then judges every event of the
 * stream's types on the dispatcher's threads at once; so whatever can
 * be done at parse time is (pointers split and unescaped, numbers given
 * their decimal form), and judging only reads the filter and the
 * message, on the stack. The semantics are in appfilter.h. */
#include "appfilter.h"
#include "decimal.h"
#include "json.h"
#include "alloc.h"
#include "appstream.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum policy { INCLUDE_ANY, INCLUDE_ALL, EXCLUDE_ANY, EXCLUDE_ALL, NPOLICIES };
static const char *const policies[NPOLICIES] = {
	"include_any", "include_all", "exclude_any", "exclude_all",
};

enum op { OP_EQUALS, OP_MATCHES, OP_LT, OP_LE, OP_GT, OP_GE, OP_ONE_OF, NOPS };
static const char *const ops[NOPS] = {
	"equals", "matches", "lt", "le", "gt", "ge", "one_of",
};

#define AUTHORIZED	"$authorized_userids"

#define DEC_MAX		JSON_INTEGER_MAX

enum kind { K_STRING, K_NUMBER, K_BOOL, K_NULL };

struct scalar {
	enum kind	 kind;
	char		*str;		/* the string; for an integral number
					 * its decimal form, else NULL */
	double		 num;
	bool		 b;
	bool		 integer;	/* str is -?[0-9]+ */
	bool		 written;	/* a number: str is its text, an
					 * integer no double holds for sure */
};

struct seg {
	const char	*name;		/* unescaped, in clause.names */
	int		 index;		/* as a list index, or -1 */
	bool		 star;
};

struct clause {
	int		 type;
	enum op		 op;
	char		*field;		/* as given, to render */
	char		*names;		/* the segments' names, one block */
	struct seg	*segs;
	size_t		 nsegs;
	bool		 authorized;	/* value "$authorized_userids" */
	struct scalar	*vals;		/* one value, or one_of's list */
	size_t		 nvals;
};

struct appfilter {
	enum policy	 policy;
	uint32_t	 types;		/* bit i: a clause has type i */
	bool		 has_name;
	char		 name[APPFILTER_NAME_MAX + 1];
	size_t		 nclauses;
	struct clause	 clauses[];
};

static void __attribute__((format(printf, 3, 4)))
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const char *
fstr(const cJSON *f)
{
	return cJSON_IsString(f) ? f->valuestring : NULL;
}

static bool
equal(const cJSON *f, const struct scalar *v)
{
	char dec[DEC_MAX];
	const char *s, *fi;

	switch (v->kind) {
	case K_STRING:
		if ((s = fstr(f)) != NULL)
			return strcmp(s, v->str) == 0;
		return v->integer &&
		    (fi = json_integer_text(f, dec, sizeof(dec))) != NULL &&
		    strcmp(fi, v->str) == 0;
	case K_NUMBER:
		/* integers as written: a double cannot tell every pair of
		 * ids beyond 2^53 apart */
		if (v->integer &&
		    (fi = json_integer_text(f, dec, sizeof(dec))) != NULL)
			return strcmp(fi, v->str) == 0;
		if (cJSON_IsNumber(f))
			return f->valuedouble == v->num;
		return v->str != NULL && (s = fstr(f)) != NULL &&
		    strcmp(s, v->str) == 0;
	case K_BOOL:
		return v->b ? cJSON_IsTrue(f) : cJSON_IsFalse(f);
	case K_NULL:
		return cJSON_IsNull(f);
	}
	return false;
}

/* "f op v" for lt, le, gt, ge. */
static bool
ordered(const cJSON *f, const struct scalar *v, enum op op)
{
	char dec[DEC_MAX];
	const char *fi = json_integer_text(f, dec, sizeof(dec)), *s = fstr(f);
	int c;

	if (fi == NULL && s != NULL && decimal_is_integer(s))
		fi = s;
	if (fi != NULL && v->integer)
		c = decimal_cmp(fi, v->str);
	else if (cJSON_IsNumber(f) && v->kind == K_NUMBER)
		c = (f->valuedouble > v->num) - (f->valuedouble < v->num);
	else if (s != NULL && v->kind == K_STRING)
		c = strcmp(s, v->str);
	else
		return false;
	switch (op) {
	case OP_LT:
		return c < 0;
	case OP_LE:
		return c <= 0;
	case OP_GT:
		return c > 0;
	case OP_GE:
		return c >= 0;
	default:
		return false;
	}
}

static bool
authorized_id(const cJSON *f, bool (*authorized)(void *, const char *),
    void *ctx)
{
	char dec[DEC_MAX];
	const char *s;

	if (authorized == NULL)
		return false;
	if ((s = fstr(f)) != NULL)
		return authorized(ctx, s);
	if ((s = json_integer_text(f, dec, sizeof(dec))) != NULL)
		return authorized(ctx, s);
	return false;
}

/* Does the value f, selected by c's pointer, satisfy c's operator? */
static bool
satisfies(const struct clause *c, const cJSON *f,
    bool (*authorized)(void *, const char *), void *ctx)
{
	const char *s;

	switch (c->op) {
	case OP_EQUALS:
	case OP_ONE_OF:
		if (c->authorized)
			return authorized_id(f, authorized, ctx);
		for (size_t i = 0; i < c->nvals; i++)
			if (equal(f, &c->vals[i]))
				return true;
		return false;
	case OP_MATCHES:
		return (s = fstr(f)) != NULL && strstr(s, c->vals[0].str) != NULL;
	default:
		return ordered(f, &c->vals[0], c->op);
	}
}

/* Walk c's pointer from segment i at node: true if any value it selects
 * satisfies c. Recursion happens only at a "*". */
static bool
walk(const struct clause *c, size_t i, const cJSON *node,
    bool (*authorized)(void *, const char *), void *ctx)
{
	const cJSON *it;

	for (; i < c->nsegs; i++) {
		const struct seg *sg = &c->segs[i];

		if (sg->star) {
			if (!cJSON_IsArray(node))
				return false;
			cJSON_ArrayForEach(it, node)
				if (walk(c, i + 1, it, authorized, ctx))
					return true;
			return false;
		}
		if (cJSON_IsArray(node)) {
			int n = sg->index;

			if (n < 0)
				return false;
			for (it = node->child; it != NULL && n > 0; it = it->next)
				n--;
		} else if (cJSON_IsObject(node)) {
			for (it = node->child; it != NULL; it = it->next)
				if (it->string != NULL &&
				    strcmp(it->string, sg->name) == 0)
					break;
		} else
			return false;
		if ((node = it) == NULL)
			return false;
	}
	return satisfies(c, node, authorized, ctx);
}

bool
appfilter_applies(const struct appfilter *f, int type_index)
{
	if (f == NULL || type_index < 0 || type_index >= APPSTREAM_NTYPES)
		return false;
	return (f->types & (1u << type_index)) != 0;
}

bool
appfilter_pass(const struct appfilter *f, int type_index, const cJSON *msg,
    bool (*authorized)(void *ctx, const char *user_id), void *ctx)
{
	if (!appfilter_applies(f, type_index))
		return true;
	/* The _any policies are decided by the first clause that matches,
	 * the _all ones by the first that does not. */
	for (size_t i = 0; i < f->nclauses; i++) {
		const struct clause *c = &f->clauses[i];
		bool m;

		if (c->type != type_index)
			continue;
		m = msg != NULL && walk(c, 0, msg, authorized, ctx);
		switch (f->policy) {
		case INCLUDE_ANY:
			if (m)
				return true;
			break;
		case INCLUDE_ALL:
			if (!m)
				return false;
			break;
		case EXCLUDE_ANY:
			if (m)
				return false;
			break;
		case EXCLUDE_ALL:
			if (!m)
				return true;
			break;
		default:
			break;
		}
	}
	return f->policy == INCLUDE_ALL || f->policy == EXCLUDE_ANY;
}

static void
clause_free(struct clause *c)
{
	for (size_t i = 0; i < c->nvals; i++)
		free(c->vals[i].str);
	free(c->vals);
	free(c->segs);
	free(c->names);
	free(c->field);
}

void
appfilter_free(struct appfilter *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->nclauses; i++)
		clause_free(&f->clauses[i]);
	free(f);
}

/* Split and unescape a JSON Pointer into c->segs. */
static int
parse_pointer(const char *path, const cJSON *it, struct clause *c,
    char *err, size_t errlen)
{
	const char *s, *p;
	size_t len, n = 0;
	char *o;

	if (!cJSON_IsString(it) || it->valuestring[0] != '/') {
		errf(err, errlen, "%s.field: must be a JSON Pointer, a string "
		    "starting with / such as \"/data/user/id\"", path);
		return -1;
	}
	s = it->valuestring;
	if ((len = strlen(s)) > APPFILTER_FIELD_MAX) {
		errf(err, errlen, "%s.field: longer than %d bytes", path,
		    APPFILTER_FIELD_MAX);
		return -1;
	}
	for (p = s; *p; p++)
		if (*p == '/')
			n++;
	c->field = xstrdup(s);
	c->segs = xcalloc(n, sizeof(*c->segs));
	/* unescaping only shrinks, and each '/' makes room for a NUL */
	o = c->names = xcalloc(len + 1, 1);
	c->nsegs = n;
	for (size_t i = 0; i < n; i++) {
		struct seg *sg = &c->segs[i];
		const char *end;
		long v;

		s++;	/* the '/' */
		end = s + strcspn(s, "/");
		sg->star = end - s == 1 && *s == '*';
		sg->name = o;
		for (; s < end; s++) {
			if (*s != '~') {
				*o++ = *s;
				continue;
			}
			if (s + 1 < end && (s[1] == '0' || s[1] == '1' ||
			    s[1] == '2')) {
				*o++ = s[1] == '0' ? '~' : s[1] == '1' ? '/' : '*';
				s++;
				continue;
			}
			if (s + 1 < end)
				errf(err, errlen, "%s.field: \"~%c\" is not an "
				    "escape (~0 is ~, ~1 is /, ~2 is a literal *)",
				    path, s[1]);
			else
				errf(err, errlen, "%s.field: a ~ must be followed "
				    "by 0, 1 or 2 (~0 is ~, ~1 is /, ~2 is a "
				    "literal *)", path);
			return -1;
		}
		*o++ = '\0';
		/* a list index: decimal digits, no leading zero, fits an int
		 * (cJSON's lists cannot be longer) */
		sg->index = -1;
		if (decimal_is_integer(sg->name) && sg->name[0] != '-' &&
		    (sg->name[0] != '0' || sg->name[1] == '\0') &&
		    strlen(sg->name) <= 10 &&
		    (v = strtol(sg->name, NULL, 10)) <= INT_MAX)
			sg->index = (int)v;
	}
	return 0;
}

enum scalar_err { SC_OK, SC_TYPE, SC_LONG, SC_INFINITE };

/* One value of equals, one_of's list or an ordering operator (which
 * takes no boolean or null). */
static enum scalar_err
parse_scalar(const cJSON *it, struct scalar *v, bool ordering)
{
	char dec[DEC_MAX];
	const char *s;

	if (cJSON_IsString(it)) {
		if (strlen(it->valuestring) > APPFILTER_STRING_MAX)
			return SC_LONG;
		v->kind = K_STRING;
		v->str = xstrdup(it->valuestring);
		v->integer = decimal_is_integer(v->str);
		return SC_OK;
	}
	if (cJSON_IsNumber(it)) {
		double a = it->valuedouble < 0 ? -it->valuedouble : it->valuedouble;

		/* cJSON reads 1e999 as inf, which could not be rendered */
		if (!(a <= 1.7976931348623157e308))
			return SC_INFINITE;
		v->kind = K_NUMBER;
		v->num = it->valuedouble;
		if ((s = json_integer_text(it, dec, sizeof(dec))) != NULL) {
			v->str = xstrdup(s);
			v->integer = true;
			v->written = s == it->valuestring;
		}
		return SC_OK;
	}
	if (!ordering && cJSON_IsBool(it)) {
		v->kind = K_BOOL;
		v->b = cJSON_IsTrue(it);
		return SC_OK;
	}
	if (!ordering && cJSON_IsNull(it)) {
		v->kind = K_NULL;
		return SC_OK;
	}
	return SC_TYPE;
}

static void
scalar_error(enum scalar_err e, const char *path, const char *what,
    char *err, size_t errlen)
{
	if (e == SC_LONG)
		errf(err, errlen, "%s: a string longer than %d bytes", path,
		    APPFILTER_STRING_MAX);
	else if (e == SC_INFINITE)
		errf(err, errlen, "%s: not a finite number", path);
	else
		errf(err, errlen, "%s: %s", path, what);
}

static int
parse_value(const char *path, const cJSON *it, struct clause *c,
    char *err, size_t errlen)
{
	char vpath[64];
	enum scalar_err e;
	const cJSON *el;
	size_t n;

	snprintf(vpath, sizeof(vpath), "%s.value", path);
	if (cJSON_IsString(it) && strcmp(it->valuestring, AUTHORIZED) == 0) {
		if (c->op != OP_EQUALS && c->op != OP_ONE_OF) {
			errf(err, errlen, "%s: \"" AUTHORIZED "\" goes only "
			    "with equals and one_of", vpath);
			return -1;
		}
		c->authorized = true;
		return 0;
	}
	switch (c->op) {
	case OP_MATCHES:
		if (!cJSON_IsString(it) || it->valuestring[0] == '\0') {
			errf(err, errlen, "%s: matches takes a non-empty string",
			    vpath);
			return -1;
		}
		if (strlen(it->valuestring) > APPFILTER_STRING_MAX) {
			scalar_error(SC_LONG, vpath, NULL, err, errlen);
			return -1;
		}
		c->vals = xcalloc(1, sizeof(*c->vals));
		c->nvals = 1;
		c->vals[0].kind = K_STRING;
		c->vals[0].str = xstrdup(it->valuestring);
		return 0;
	case OP_ONE_OF:
		n = cJSON_IsArray(it) ? (size_t)cJSON_GetArraySize(it) : 0;
		if (n == 0 || n > APPFILTER_ONE_OF_MAX) {
			errf(err, errlen, "%s: one_of takes a list of 1 to %d "
			    "strings, numbers, booleans or nulls, or \""
			    AUTHORIZED "\"", vpath, APPFILTER_ONE_OF_MAX);
			return -1;
		}
		c->vals = xcalloc(n, sizeof(*c->vals));
		cJSON_ArrayForEach(el, it) {
			/* counted as they fill, so a failure frees just those */
			if ((e = parse_scalar(el, &c->vals[c->nvals], false))) {
				snprintf(vpath, sizeof(vpath), "%s.value[%zu]",
				    path, c->nvals);
				scalar_error(e, vpath, "one_of's list holds only "
				    "strings, numbers, booleans and nulls", err,
				    errlen);
				return -1;
			}
			c->nvals++;
		}
		return 0;
	default:
		c->vals = xcalloc(1, sizeof(*c->vals));
		if ((e = parse_scalar(it, &c->vals[0], c->op != OP_EQUALS))) {
			scalar_error(e, vpath, c->op == OP_EQUALS ?
			    "equals takes a string, number, boolean or null" :
			    "lt, le, gt and ge take a number or a string", err,
			    errlen);
			return -1;
		}
		c->nvals = 1;
		return 0;
	}
}

static int
parse_clause(const cJSON *obj, size_t idx, struct clause *c, char *err,
    size_t errlen)
{
	static const char *const names[] = {
		"object_type", "operator", "field", "value",
	};
	const cJSON *m[4] = { NULL }, *it;
	char path[48];
	size_t i;

	snprintf(path, sizeof(path), "filter.clauses[%zu]", idx);
	if (!cJSON_IsObject(obj)) {
		errf(err, errlen, "%s: must be an object with object_type, "
		    "operator, field and value", path);
		return -1;
	}
	cJSON_ArrayForEach(it, obj) {
		for (i = 0; i < 4; i++)
			if (strcmp(it->string, names[i]) == 0)
				break;
		if (i == 4) {
			errf(err, errlen, "%s.%.64s: unknown member (a clause "
			    "has object_type, operator, field and value)", path,
			    it->string);
			return -1;
		}
		if (m[i] != NULL) {
			errf(err, errlen, "%s.%s: given twice", path, names[i]);
			return -1;
		}
		m[i] = it;
	}
	for (i = 0; i < 4; i++)
		if (m[i] == NULL) {
			errf(err, errlen, "%s.%s: required", path, names[i]);
			return -1;
		}
	if (!cJSON_IsString(m[0]) ||
	    (c->type = appstream_type_index(m[0]->valuestring)) < 0) {
		errf(err, errlen, "%s.object_type: must be one of post, bookmark, "
		    "follow, mute, block, message, channel, channel_subscription, "
		    "token, user, file", path);
		return -1;
	}
	for (i = 0; i < NOPS; i++)
		if (cJSON_IsString(m[1]) && strcmp(m[1]->valuestring, ops[i]) == 0)
			break;
	if (i == NOPS) {
		errf(err, errlen, "%s.operator: must be one of equals, matches, "
		    "lt, le, gt, ge, one_of", path);
		return -1;
	}
	c->op = (enum op)i;
	if (parse_pointer(path, m[2], c, err, errlen) < 0 ||
	    parse_value(path, m[3], c, err, errlen) < 0)
		return -1;
	return 0;
}

struct appfilter *
appfilter_parse(const cJSON *obj, char *err, size_t errlen)
{
	const cJSON *policy = NULL, *clauses = NULL, *name = NULL, *it;
	const cJSON **slot;
	struct appfilter *f;
	size_t n, i;

	if (!cJSON_IsObject(obj)) {
		errf(err, errlen, "filter: must be an object with match_policy "
		    "and clauses");
		return NULL;
	}
	cJSON_ArrayForEach(it, obj) {
		if (strcmp(it->string, "match_policy") == 0)
			slot = &policy;
		else if (strcmp(it->string, "clauses") == 0)
			slot = &clauses;
		else if (strcmp(it->string, "name") == 0)
			slot = &name;
		else {
			errf(err, errlen, "filter.%.64s: unknown member (a filter "
			    "has match_policy, clauses and name)", it->string);
			return NULL;
		}
		if (*slot != NULL) {
			errf(err, errlen, "filter.%s: given twice", it->string);
			return NULL;
		}
		*slot = it;
	}
	for (i = 0; i < NPOLICIES; i++)
		if (cJSON_IsString(policy) &&
		    strcmp(policy->valuestring, policies[i]) == 0)
			break;
	if (i == NPOLICIES) {
		errf(err, errlen, "filter.match_policy: %s one of include_any, "
		    "include_all, exclude_any, exclude_all",
		    policy == NULL ? "required," : "must be");
		return NULL;
	}
	if (name != NULL && !cJSON_IsNull(name) && (!cJSON_IsString(name) ||
	    strlen(name->valuestring) > APPFILTER_NAME_MAX)) {
		errf(err, errlen, "filter.name: must be a string of at most %d "
		    "bytes", APPFILTER_NAME_MAX);
		return NULL;
	}
	n = cJSON_IsArray(clauses) ? (size_t)cJSON_GetArraySize(clauses) : 0;
	if (n == 0 || n > APPFILTER_CLAUSES_MAX) {
		errf(err, errlen, "filter.clauses: %s a list of 1 to %d clauses",
		    clauses == NULL ? "required," : "must be",
		    APPFILTER_CLAUSES_MAX);
		return NULL;
	}

	f = xcalloc(1, sizeof(*f) + n * sizeof(f->clauses[0]));
	f->policy = (enum policy)i;
	f->nclauses = n;	/* all zeroed, so free may run at any point */
	if (name != NULL && cJSON_IsString(name)) {
		f->has_name = true;
		strcpy(f->name, name->valuestring);
	}
	i = 0;
	cJSON_ArrayForEach(it, clauses) {
		if (parse_clause(it, i, &f->clauses[i], err, errlen) < 0) {
			appfilter_free(f);
			return NULL;
		}
		f->types |= 1u << f->clauses[i].type;
		i++;
	}
	return f;
}

static void
render_scalar(struct buf *b, const struct scalar *v)
{
	switch (v->kind) {
	case K_STRING:
		buf_json_str(b, v->str);
		break;
	case K_NUMBER:
		/* such an integer as it was given (and is compared) */
		if (v->written)
			buf_adds(b, v->str);
		else
			json_number(b, v->num);
		break;
	case K_BOOL:
		buf_adds(b, v->b ? "true" : "false");
		break;
	case K_NULL:
		buf_adds(b, "null");
		break;
	}
}

void
appfilter_render(const struct appfilter *f, struct buf *b)
{
	buf_adds(b, "{\"match_policy\":");
	buf_json_str(b, policies[f->policy]);
	buf_adds(b, ",\"clauses\":[");
	for (size_t i = 0; i < f->nclauses; i++) {
		const struct clause *c = &f->clauses[i];

		if (i > 0)
			buf_addc(b, ',');
		buf_adds(b, "{\"object_type\":");
		buf_json_str(b, appstream_types[c->type]);
		buf_adds(b, ",\"operator\":");
		buf_json_str(b, ops[c->op]);
		buf_adds(b, ",\"field\":");
		buf_json_str(b, c->field);
		buf_adds(b, ",\"value\":");
		if (c->authorized)
			buf_json_str(b, AUTHORIZED);
		else if (c->op == OP_ONE_OF) {
			buf_addc(b, '[');
			for (size_t j = 0; j < c->nvals; j++) {
				if (j > 0)
					buf_addc(b, ',');
				render_scalar(b, &c->vals[j]);
			}
			buf_addc(b, ']');
		} else
			render_scalar(b, &c->vals[0]);
		buf_addc(b, '}');
	}
	buf_addc(b, ']');
	if (f->has_name) {
		buf_adds(b, ",\"name\":");
		buf_json_str(b, f->name);
	}
	buf_addc(b, '}');
}
