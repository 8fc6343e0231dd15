/* token.c - the token store. Keyed by the SHA-256 of the token so that
 * the secret itself is never kept; lookups hash the presented token.
 * A reader-writer lock suffices: lookups happen once per connect and
 * writes once per grant or revoke. */
#include "token.h"
#include "hash.h"
#include "alloc.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

struct tok {
	struct tok	*next;
	struct token_info info;
	enum token_source src;
};

/* (client_id, user_id) -> live user tokens: who has authorized which
 * app (SPEC 5). Kept in step with every grant, revoke and file load. */
struct auth {
	struct auth	*next;
	uint64_t	 h;
	size_t		 n;
	char		 ids[];		/* client_id, NUL, user_id, NUL */
};

struct tokens {
	pthread_rwlock_t lock;
	struct tok	**bucket;
	size_t		 nbucket;
	size_t		 count;
	struct auth	**abucket;
	size_t		 nabucket;
	size_t		 nauth;
};

struct tokens *
tokens_new(void)
{
	struct tokens *ts = calloc(1, sizeof(*ts));

	if (ts == NULL)
		fatal("%s: out of memory", __func__);
	pthread_rwlock_init(&ts->lock, NULL);
	ts->nbucket = 256;
	ts->bucket = calloc(ts->nbucket, sizeof(*ts->bucket));
	ts->nabucket = 256;
	ts->abucket = calloc(ts->nabucket, sizeof(*ts->abucket));
	if (ts->bucket == NULL || ts->abucket == NULL)
		fatal("%s: out of memory", __func__);
	return ts;
}

void
tokens_free(struct tokens *ts)
{
	if (ts == NULL)
		return;
	for (size_t i = 0; i < ts->nbucket; i++) {
		struct tok *t = ts->bucket[i], *n;
		for (; t; t = n) {
			n = t->next;
			free(t);
		}
	}
	free(ts->bucket);
	for (size_t i = 0; i < ts->nabucket; i++) {
		struct auth *a = ts->abucket[i], *n;
		for (; a; a = n) {
			n = a->next;
			free(a);
		}
	}
	free(ts->abucket);
	pthread_rwlock_destroy(&ts->lock);
	free(ts);
}

void
token_hash(const char *token, size_t len, uint8_t out[TOKEN_HASH_LEN])
{
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, token, len, out) < 0)
		fatal("%s: gnutls_hash_fast failed", __func__);
}

static size_t
slot(const struct tokens *ts, const uint8_t *h)
{
	uint64_t v;

	memcpy(&v, h, sizeof(v));	/* already uniformly distributed */
	return (size_t)(v % ts->nbucket);
}

static struct tok **
find(struct tokens *ts, const uint8_t *h)
{
	struct tok **pp = &ts->bucket[slot(ts, h)];

	for (; *pp; pp = &(*pp)->next)
		if (memcmp((*pp)->info.hash, h, TOKEN_HASH_LEN) == 0)
			return pp;
	return pp;
}

static void
grow(struct tokens *ts)
{
	size_t old = ts->nbucket;
	struct tok **ob = ts->bucket;

	ts->nbucket = old * 2;
	ts->bucket = calloc(ts->nbucket, sizeof(*ts->bucket));
	if (ts->bucket == NULL)
		fatal("%s: out of memory", __func__);
	for (size_t i = 0; i < old; i++) {
		struct tok *t = ob[i], *n;
		for (; t; t = n) {
			size_t s = slot(ts, t->info.hash);
			n = t->next;
			t->next = ts->bucket[s];
			ts->bucket[s] = t;
		}
	}
	free(ob);
}

static uint64_t
auth_hash(const char *client_id, const char *user_id)
{
	/* a separator no id holds, so ("a", "bc") and ("ab", "c") differ */
	return hash_str(hash_str(HASH_INIT, client_id) ^ 0xff, user_id);
}

static struct auth **
auth_find(struct tokens *ts, const char *client_id, const char *user_id)
{
	uint64_t h = auth_hash(client_id, user_id);
	size_t cl = strlen(client_id);
	struct auth **pp = &ts->abucket[h % ts->nabucket];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->h == h && strcmp((*pp)->ids, client_id) == 0 &&
		    strcmp((*pp)->ids + cl + 1, user_id) == 0)
			break;
	return pp;
}

static void
auth_grow(struct tokens *ts)
{
	size_t old = ts->nabucket;
	struct auth **ob = ts->abucket;

	ts->nabucket = old * 2;
	ts->abucket = calloc(ts->nabucket, sizeof(*ts->abucket));
	if (ts->abucket == NULL)
		fatal("%s: out of memory", __func__);
	for (size_t i = 0; i < old; i++) {
		struct auth *a = ob[i], *n;
		for (; a; a = n) {
			n = a->next;
			a->next = ts->abucket[a->h % ts->nabucket];
			ts->abucket[a->h % ts->nabucket] = a;
		}
	}
	free(ob);
}

/* A user token of ti's (user, client) appears (d = 1) or goes (d = -1). */
static void
auth_count(struct tokens *ts, const struct token_info *ti, int d)
{
	struct auth **pp, *a;
	size_t cl, ul;

	if (ti->kind != TOKEN_USER)
		return;
	pp = auth_find(ts, ti->client_id, ti->user_id);
	if ((a = *pp) == NULL) {
		if (d < 0)
			return;
		cl = strlen(ti->client_id);
		ul = strlen(ti->user_id);
		a = xcalloc(1, sizeof(*a) + cl + ul + 2);
		a->h = auth_hash(ti->client_id, ti->user_id);
		memcpy(a->ids, ti->client_id, cl + 1);
		memcpy(a->ids + cl + 1, ti->user_id, ul + 1);
		*pp = a;
		if (++ts->nauth > ts->nabucket)
			auth_grow(ts);
	}
	if (d > 0)
		a->n++;
	else if (--a->n == 0) {
		*pp = a->next;
		free(a);
		ts->nauth--;
	}
}

static void
grant_locked(struct tokens *ts, const struct token_info *ti,
    enum token_source src)
{
	struct tok **pp = find(ts, ti->hash), *t = *pp;

	if (t == NULL) {
		t = xcalloc(1, sizeof(*t));
		*pp = t;
		ts->count++;
	} else
		auth_count(ts, &t->info, -1);	/* a grant may change both ids */
	auth_count(ts, ti, 1);
	t->info = *ti;
	t->src = src;
	/* grow only once the entry is complete: rehashing reads its hash */
	if (ts->count > ts->nbucket)
		grow(ts);
}

int
tokens_grant(struct tokens *ts, const struct token_info *ti,
    enum token_source src)
{
	pthread_rwlock_wrlock(&ts->lock);
	grant_locked(ts, ti, src);
	pthread_rwlock_unlock(&ts->lock);
	return 0;
}

bool
tokens_revoke(struct tokens *ts, const uint8_t hash[TOKEN_HASH_LEN])
{
	struct tok **pp, *t;

	pthread_rwlock_wrlock(&ts->lock);
	pp = find(ts, hash);
	t = *pp;
	if (t != NULL) {
		*pp = t->next;
		ts->count--;
		auth_count(ts, &t->info, -1);
	}
	pthread_rwlock_unlock(&ts->lock);
	free(t);
	return t != NULL;
}

bool
tokens_authorized(struct tokens *ts, const char *client_id,
    const char *user_id)
{
	bool yes;

	pthread_rwlock_rdlock(&ts->lock);
	yes = *auth_find(ts, client_id, user_id) != NULL;
	pthread_rwlock_unlock(&ts->lock);
	return yes;
}

bool
tokens_lookup_hash(struct tokens *ts, const uint8_t hash[TOKEN_HASH_LEN],
    struct token_info *out)
{
	struct tok *t;

	pthread_rwlock_rdlock(&ts->lock);
	t = *find(ts, hash);
	if (t != NULL && out != NULL)
		*out = t->info;
	pthread_rwlock_unlock(&ts->lock);
	return t != NULL;
}

bool
tokens_lookup(struct tokens *ts, const char *token, struct token_info *out)
{
	uint8_t h[TOKEN_HASH_LEN];

	token_hash(token, strlen(token), h);
	return tokens_lookup_hash(ts, h, out);
}

size_t
tokens_count(struct tokens *ts)
{
	size_t n;

	pthread_rwlock_rdlock(&ts->lock);
	n = ts->count;
	pthread_rwlock_unlock(&ts->lock);
	return n;
}

static int
copy_field(char *dst, size_t dstlen, const char *src)
{
	size_t n = strlen(src);

	if (n == 0 || n >= dstlen)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
tokens_parse_line(const char *line, struct token_info *ti, char *err,
    size_t errlen)
{
	char copy[1024], *f[6], *save = NULL, *p;
	int n = 0;

	memset(ti, 0, sizeof(*ti));
	if (strlen(line) >= sizeof(copy)) {
		snprintf(err, errlen, "line too long");
		return -1;
	}
	strcpy(copy, line);
	if ((p = strchr(copy, '#')) != NULL)
		*p = '\0';
	for (p = strtok_r(copy, " \t\r\n", &save); p && n < 6;
	    p = strtok_r(NULL, " \t\r\n", &save))
		f[n++] = p;
	if (n == 0)
		return 0;
	if (p != NULL) {
		snprintf(err, errlen, "too many fields");
		return -1;
	}
	if (n < 3) {
		snprintf(err, errlen, "expected 'TOKEN user USER_ID CLIENT_ID "
		    "[scopes]' or 'TOKEN app CLIENT_ID'");
		return -1;
	}
	if (strncmp(f[0], "sha256:", 7) == 0) {
		const char *h = f[0] + 7;
		if (strlen(h) != 2 * TOKEN_HASH_LEN) {
			snprintf(err, errlen, "sha256: needs 64 hex digits");
			return -1;
		}
		for (int i = 0; i < TOKEN_HASH_LEN; i++) {
			int hi = hexval(h[2 * i]), lo = hexval(h[2 * i + 1]);
			if (hi < 0 || lo < 0) {
				snprintf(err, errlen, "sha256: needs 64 hex digits");
				return -1;
			}
			ti->hash[i] = (uint8_t)(hi << 4 | lo);
		}
	} else
		token_hash(f[0], strlen(f[0]), ti->hash);
	if (strcmp(f[1], "user") == 0) {
		if (n < 4 || n > 5) {
			snprintf(err, errlen, "expected 'TOKEN user USER_ID "
			    "CLIENT_ID [scope,...]'");
			return -1;
		}
		ti->kind = TOKEN_USER;
		if (copy_field(ti->user_id, sizeof(ti->user_id), f[2]) < 0 ||
		    copy_field(ti->client_id, sizeof(ti->client_id), f[3]) < 0) {
			snprintf(err, errlen, "user or client id too long");
			return -1;
		}
		if (n == 5 && copy_field(ti->scopes, sizeof(ti->scopes), f[4]) < 0) {
			snprintf(err, errlen, "scopes too long");
			return -1;
		}
	} else if (strcmp(f[1], "app") == 0) {
		if (n != 3) {
			snprintf(err, errlen, "expected 'TOKEN app CLIENT_ID'");
			return -1;
		}
		ti->kind = TOKEN_APP;
		if (copy_field(ti->client_id, sizeof(ti->client_id), f[2]) < 0) {
			snprintf(err, errlen, "client id too long");
			return -1;
		}
	} else {
		snprintf(err, errlen, "second field must be 'user' or 'app', "
		    "not '%s'", f[1]);
		return -1;
	}
	return 1;
}

int
tokens_load_file(struct tokens *ts, const char *path, char *err,
    size_t errlen)
{
	struct token_info *v = NULL;
	size_t n = 0, cap = 0, lineno = 0;
	char line[1024], msg[256];
	FILE *fp;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		struct token_info ti;
		int rc;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(fp)) {
			snprintf(err, errlen, "%s:%zu: line too long", path, lineno);
			goto fail;
		}
		rc = tokens_parse_line(line, &ti, msg, sizeof(msg));
		if (rc < 0) {
			snprintf(err, errlen, "%s:%zu: %s", path, lineno, msg);
			goto fail;
		}
		if (rc == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = realloc(v, cap * sizeof(*v));
			if (v == NULL)
				fatal("%s: out of memory", __func__);
		}
		v[n++] = ti;
	}
	fclose(fp);
	pthread_rwlock_wrlock(&ts->lock);
	for (size_t i = 0; i < ts->nbucket; i++) {
		struct tok **pp = &ts->bucket[i];
		while (*pp) {
			struct tok *t = *pp;
			if (t->src == TOKEN_FROM_FILE) {
				*pp = t->next;
				auth_count(ts, &t->info, -1);
				free(t);
				ts->count--;
			} else
				pp = &t->next;
		}
	}
	/* in the same critical section: no lookup sees the store half-loaded */
	for (size_t i = 0; i < n; i++)
		grant_locked(ts, &v[i], TOKEN_FROM_FILE);
	pthread_rwlock_unlock(&ts->lock);
	free(v);
	return 0;
fail:
	fclose(fp);
	free(v);
	return -1;
}
