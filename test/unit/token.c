/* token.c - tests for lib/token.c: hashing, the token store, the
 * tokens file */
#include "token.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
hex(const uint8_t h[TOKEN_HASH_LEN], char out[2 * TOKEN_HASH_LEN + 1])
{
	for (int i = 0; i < TOKEN_HASH_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static const char *
hash_hex(const char *s)
{
	static char out[2 * TOKEN_HASH_LEN + 1];
	uint8_t h[TOKEN_HASH_LEN];

	token_hash(s, strlen(s), h);
	hex(h, out);
	return out;
}

static void
user_info(struct token_info *ti, const char *token, const char *user,
    const char *client, const char *scopes)
{
	memset(ti, 0, sizeof(*ti));
	token_hash(token, strlen(token), ti->hash);
	ti->kind = TOKEN_USER;
	snprintf(ti->user_id, sizeof(ti->user_id), "%s", user);
	snprintf(ti->client_id, sizeof(ti->client_id), "%s", client);
	snprintf(ti->scopes, sizeof(ti->scopes), "%s", scopes);
}

static void
test_hash(void)
{
	uint8_t h[TOKEN_HASH_LEN];
	char out[2 * TOKEN_HASH_LEN + 1];

	is_str(hash_hex("abc"),
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	    "sha256(\"abc\")");
	is_str(hash_hex(""),
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	    "sha256(\"\")");
	is_str(hash_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
	    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
	    "sha256 of the 448-bit NIST vector");
	/* length is honoured */
	token_hash("abcdef", 3, h);
	hex(h, out);
	is_str(out,
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	    "token_hash uses len, not strlen");
}

static void
test_store(void)
{
	struct tokens *ts = tokens_new();
	struct token_info ti, out;
	uint8_t h[TOKEN_HASH_LEN];

	is_int(tokens_count(ts), 0, "new store is empty");
	ok(!tokens_lookup(ts, "nope", &out), "unknown token not found");

	user_info(&ti, "secret-user", "12", "abc", "stream,messages");
	is_int(tokens_grant(ts, &ti, TOKEN_FROM_PIPE), 0, "grant user token");
	memset(&ti, 0, sizeof(ti));
	ti.kind = TOKEN_APP;
	token_hash("secret-app", 10, ti.hash);
	strcpy(ti.client_id, "abc");
	is_int(tokens_grant(ts, &ti, TOKEN_FROM_PIPE), 0, "grant app token");
	is_int(tokens_count(ts), 2, "two tokens");

	memset(&out, 0x55, sizeof(out));
	ok(tokens_lookup(ts, "secret-user", &out), "user token found");
	is_int(out.kind, TOKEN_USER, "kind user");
	is_str(out.user_id, "12", "user_id");
	is_str(out.client_id, "abc", "client_id");
	is_str(out.scopes, "stream,messages", "scopes");
	token_hash("secret-user", 11, h);
	ok(memcmp(out.hash, h, TOKEN_HASH_LEN) == 0, "hash = sha256(token)");

	ok(tokens_lookup(ts, "secret-app", &out), "app token found");
	is_int(out.kind, TOKEN_APP, "kind app");
	is_str(out.user_id, "", "app token has no user");
	is_str(out.client_id, "abc", "app client_id");
	ok(tokens_lookup(ts, "secret-app", NULL), "lookup with out NULL");
	ok(!tokens_lookup(ts, "secret-ap", NULL), "prefix of a token not found");
	ok(!tokens_lookup(ts, "Secret-app", NULL), "case matters");
	ok(tokens_lookup_hash(ts, h, &out) && strcmp(out.user_id, "12") == 0,
	    "lookup by hash");

	/* re-grant replaces */
	user_info(&ti, "secret-user", "13", "xyz", "");
	tokens_grant(ts, &ti, TOKEN_FROM_PIPE);
	is_int(tokens_count(ts), 2, "re-grant does not add");
	ok(tokens_lookup(ts, "secret-user", &out) &&
	    strcmp(out.user_id, "13") == 0 && strcmp(out.client_id, "xyz") == 0 &&
	    out.scopes[0] == '\0', "re-grant replaces the record");

	/* revoke */
	ok(tokens_revoke(ts, h), "revoke a known token");
	is_int(tokens_count(ts), 1, "one left");
	ok(!tokens_lookup(ts, "secret-user", &out), "revoked token is gone");
	ok(!tokens_revoke(ts, h), "second revoke: unknown");
	ok(tokens_lookup(ts, "secret-app", &out), "the other token stays");
	token_hash("never", 5, h);
	ok(!tokens_revoke(ts, h), "revoke of an unknown token");
	is_int(tokens_count(ts), 1, "count unchanged");
	tokens_free(ts);
	tokens_free(NULL);
	ok(1, "tokens_free(NULL) is harmless");
}

static void
test_many(void)
{
	struct tokens *ts = tokens_new();
	struct token_info ti, out;
	char tok[32], uid[16];
	int bad_now = 0, bad_all = 0, bad_rev = 0;
	const int N = 5000;

	for (int i = 0; i < N; i++) {
		snprintf(tok, sizeof(tok), "token-%d", i);
		snprintf(uid, sizeof(uid), "%d", i);
		user_info(&ti, tok, uid, "c", "");
		tokens_grant(ts, &ti, TOKEN_FROM_PIPE);
		/* the entry just added, also when it triggered a resize */
		if (!tokens_lookup(ts, tok, &out) || strcmp(out.user_id, uid) != 0 ||
		    tokens_count(ts) != (size_t)i + 1)
			bad_now++;
	}
	is_int(bad_now, 0, "every token found right after its grant");
	is_int(tokens_count(ts), N, "5000 tokens");
	for (int i = 0; i < N; i++) {
		snprintf(tok, sizeof(tok), "token-%d", i);
		snprintf(uid, sizeof(uid), "%d", i);
		if (!tokens_lookup(ts, tok, &out) || strcmp(out.user_id, uid) != 0)
			bad_all++;
	}
	is_int(bad_all, 0, "all 5000 found with their user after growth");
	for (int i = 0; i < N; i += 2) {
		snprintf(tok, sizeof(tok), "token-%d", i);
		token_hash(tok, strlen(tok), ti.hash);
		if (!tokens_revoke(ts, ti.hash))
			bad_rev++;
	}
	is_int(bad_rev, 0, "2500 revokes succeed");
	is_int(tokens_count(ts), N / 2, "2500 left");
	bad_all = 0;
	for (int i = 0; i < N; i++) {
		snprintf(tok, sizeof(tok), "token-%d", i);
		if (tokens_lookup(ts, tok, NULL) != (i % 2 == 1))
			bad_all++;
	}
	is_int(bad_all, 0, "exactly the odd tokens remain");
	ok(!tokens_lookup(ts, "token-5000", NULL), "never granted: not found");
	tokens_free(ts);
}

static void
test_parse_line(void)
{
	struct token_info ti;
	char err[256];
	uint8_t h[TOKEN_HASH_LEN];
	char line[512];

	err[0] = '\0';
	is_int(tokens_parse_line("tok1 user 12 abc stream,messages\n", &ti, err,
	    sizeof(err)), 1, "user line with scopes");
	is_int(ti.kind, TOKEN_USER, "kind user");
	is_str(ti.user_id, "12", "user_id");
	is_str(ti.client_id, "abc", "client_id");
	is_str(ti.scopes, "stream,messages", "scopes");
	token_hash("tok1", 4, h);
	ok(memcmp(ti.hash, h, TOKEN_HASH_LEN) == 0, "hash of the token");

	is_int(tokens_parse_line("\ttok2\t user  34   def  ", &ti, err, sizeof(err)),
	    1, "user line without scopes, odd blanks");
	is_str(ti.user_id, "34", "user_id");
	is_str(ti.client_id, "def", "client_id");
	is_str(ti.scopes, "", "no scopes");

	is_int(tokens_parse_line("tok3 app abc # the app\r\n", &ti, err,
	    sizeof(err)), 1, "app line with a trailing comment and CRLF");
	is_int(ti.kind, TOKEN_APP, "kind app");
	is_str(ti.client_id, "abc", "client_id");
	is_str(ti.user_id, "", "no user_id");
	token_hash("tok3", 4, h);
	ok(memcmp(ti.hash, h, TOKEN_HASH_LEN) == 0, "app hash");

	/* sha256:HEX stores the given hash */
	snprintf(line, sizeof(line), "sha256:%s user 5 cli",
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	is_int(tokens_parse_line(line, &ti, err, sizeof(err)), 1, "sha256: line");
	token_hash("abc", 3, h);
	ok(memcmp(ti.hash, h, TOKEN_HASH_LEN) == 0, "hash taken from the hex");
	snprintf(line, sizeof(line), "sha256:%s app cli",
	    "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");
	is_int(tokens_parse_line(line, &ti, err, sizeof(err)), 1,
	    "sha256: upper-case hex");
	ok(memcmp(ti.hash, h, TOKEN_HASH_LEN) == 0, "upper-case hex decoded");
	{
		struct tokens *ts = tokens_new();
		struct token_info out;
		tokens_grant(ts, &ti, TOKEN_FROM_FILE);
		ok(tokens_lookup(ts, "abc", &out) && out.kind == TOKEN_APP &&
		    strcmp(out.client_id, "cli") == 0,
		    "sha256: token found by the clear token");
		ok(!tokens_lookup(ts, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", NULL),
		    "not by the sha256: text");
		tokens_free(ts);
	}

	is_int(tokens_parse_line("", &ti, err, sizeof(err)), 0, "empty line");
	is_int(tokens_parse_line("\n", &ti, err, sizeof(err)), 0, "newline only");
	is_int(tokens_parse_line("   \t \r\n", &ti, err, sizeof(err)), 0, "blanks");
	is_int(tokens_parse_line("# tok user 1 c", &ti, err, sizeof(err)), 0,
	    "comment");
	is_int(tokens_parse_line("   # indented comment", &ti, err, sizeof(err)), 0,
	    "indented comment");

	{
		static const char *const bad[] = {
			"tok",
			"tok user",
			"tok user 12",
			"tok user 12 abc scopes extra",
			"tok user 12 abc s e x",
			"tok app",
			"tok app abc extra",
			"tok admin abc",
			"tok USER 12 abc",
			"sha256:abcd user 1 c",
			"sha256: user 1 c",
			"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a user 1 c",
			"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015adaa user 1 c",
			"sha256:za7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad user 1 c",
			"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a- app c",
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
			err[0] = '\0';
			int rc = tokens_parse_line(bad[i], &ti, err, sizeof(err));
			ok(rc == -1 && err[0] != '\0', "bad line '%s' -> -1 (%s)",
			    bad[i], err);
		}
	}
	/* ids that do not fit */
	{
		char id[TOKEN_ID_MAX + 1];
		memset(id, '9', TOKEN_ID_MAX);
		id[TOKEN_ID_MAX] = '\0';
		snprintf(line, sizeof(line), "tok user %s c", id);
		is_int(tokens_parse_line(line, &ti, err, sizeof(err)), -1,
		    "user id of TOKEN_ID_MAX bytes rejected");
		snprintf(line, sizeof(line), "tok app %s", id);
		is_int(tokens_parse_line(line, &ti, err, sizeof(err)), -1,
		    "client id of TOKEN_ID_MAX bytes rejected");
		id[TOKEN_ID_MAX - 1] = '\0';
		snprintf(line, sizeof(line), "tok user %s c", id);
		is_int(tokens_parse_line(line, &ti, err, sizeof(err)), 1,
		    "user id of TOKEN_ID_MAX-1 bytes accepted");
		is_str(ti.user_id, id, "kept whole");
	}
}

static char path[64];

static void
write_tokens(const char *text)
{
	FILE *fp;
	int fd;

	strcpy(path, "/tmp/sluice-tokens-test-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || (fp = fdopen(fd, "w")) == NULL) {
		perror("mkstemp");
		exit(2);
	}
	fputs(text, fp);
	fclose(fp);
}

static void
test_load_file(void)
{
	struct tokens *ts = tokens_new();
	struct token_info ti, out;
	char err[512], want[600];
	int rc;

	/* a pipe-granted token that the file does not name */
	user_info(&ti, "piped", "77", "pc", "stream");
	tokens_grant(ts, &ti, TOKEN_FROM_PIPE);

	write_tokens("# tokens\n"
	    "\n"
	    "f-user-1 user 12 abc stream,messages\n"
	    "f-user-2 user 34 abc\n"
	    "f-app app abc\n"
	    "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad user 56 xyz\n"
	    "f-last app last-no-newline");
	err[0] = '\0';
	rc = tokens_load_file(ts, path, err, sizeof(err));
	unlink(path);
	is_int(rc, 0, "tokens file loads (%s)", err);
	is_int(tokens_count(ts), 6, "5 from the file + 1 piped");
	ok(tokens_lookup(ts, "f-user-1", &out) && out.kind == TOKEN_USER &&
	    strcmp(out.user_id, "12") == 0 && strcmp(out.scopes,
	    "stream,messages") == 0, "file user token");
	ok(tokens_lookup(ts, "f-user-2", &out) && strcmp(out.user_id, "34") == 0,
	    "file user token without scopes");
	ok(tokens_lookup(ts, "f-app", &out) && out.kind == TOKEN_APP,
	    "file app token");
	ok(tokens_lookup(ts, "abc", &out) && strcmp(out.user_id, "56") == 0,
	    "sha256: file token looked up by its clear text");
	ok(tokens_lookup(ts, "f-last", &out) &&
	    strcmp(out.client_id, "last-no-newline") == 0,
	    "last line without a newline");
	ok(tokens_lookup(ts, "piped", &out) && strcmp(out.user_id, "77") == 0,
	    "piped token kept");

	/* reload with other contents: file tokens replaced, piped kept */
	write_tokens("f-user-2 user 35 abc\nf-new app new\n");
	rc = tokens_load_file(ts, path, err, sizeof(err));
	unlink(path);
	is_int(rc, 0, "reload");
	is_int(tokens_count(ts), 3, "2 from the file + 1 piped");
	ok(!tokens_lookup(ts, "f-user-1", NULL), "dropped file token gone");
	ok(!tokens_lookup(ts, "f-app", NULL), "dropped file app token gone");
	ok(!tokens_lookup(ts, "abc", NULL), "dropped sha256 token gone");
	ok(tokens_lookup(ts, "f-user-2", &out) && strcmp(out.user_id, "35") == 0,
	    "changed file token updated");
	ok(tokens_lookup(ts, "f-new", NULL), "new file token added");
	ok(tokens_lookup(ts, "piped", &out) && strcmp(out.user_id, "77") == 0,
	    "piped token still kept");

	/* an error leaves the store unchanged and names path:line */
	write_tokens("f-other user 1 c\n# ok so far\nbroken line here now really\n");
	err[0] = '\0';
	rc = tokens_load_file(ts, path, err, sizeof(err));
	is_int(rc, -1, "bad tokens file rejected");
	snprintf(want, sizeof(want), "%s:3: ", path);
	ok(strncmp(err, want, strlen(want)) == 0, "error names %s (%s)", want, err);
	unlink(path);
	is_int(tokens_count(ts), 3, "store unchanged after an error");
	ok(!tokens_lookup(ts, "f-other", NULL), "no token of the bad file added");
	ok(tokens_lookup(ts, "f-user-2", NULL) && tokens_lookup(ts, "f-new", NULL) &&
	    tokens_lookup(ts, "piped", NULL), "old tokens still valid");

	write_tokens("x user 1 c\nsha256:1234 app c\n");
	rc = tokens_load_file(ts, path, err, sizeof(err));
	snprintf(want, sizeof(want), "%s:2: ", path);
	ok(rc == -1 && strncmp(err, want, strlen(want)) == 0,
	    "bad sha256 at line 2 (%s)", err);
	unlink(path);
	is_int(tokens_count(ts), 3, "store unchanged");

	rc = tokens_load_file(ts, "/nonexistent/tokens", err, sizeof(err));
	is_int(rc, -1, "missing file rejected");
	ok(strncmp(err, "/nonexistent/tokens: ", 21) == 0, "names the file (%s)", err);
	is_int(tokens_count(ts), 3, "store unchanged");

	/* an empty file removes every file token */
	write_tokens("");
	rc = tokens_load_file(ts, path, err, sizeof(err));
	unlink(path);
	is_int(rc, 0, "empty file loads");
	is_int(tokens_count(ts), 1, "only the piped token left");
	ok(tokens_lookup(ts, "piped", NULL), "piped token");

	/* a big file: growth while loading */
	{
		FILE *fp;
		int fd, bad = 0;
		char tok[32];

		strcpy(path, "/tmp/sluice-tokens-test-XXXXXX");
		fd = mkstemp(path);
		fp = fdopen(fd, "w");
		for (int i = 0; i < 5000; i++)
			fprintf(fp, "big-%d user %d c\n", i, i);
		fclose(fp);
		rc = tokens_load_file(ts, path, err, sizeof(err));
		unlink(path);
		is_int(rc, 0, "5000-line file loads");
		is_int(tokens_count(ts), 5001, "5000 + piped");
		for (int i = 0; i < 5000; i++) {
			char uid[16];
			snprintf(tok, sizeof(tok), "big-%d", i);
			snprintf(uid, sizeof(uid), "%d", i);
			if (!tokens_lookup(ts, tok, &out) || strcmp(out.user_id, uid))
				bad++;
		}
		is_int(bad, 0, "all 5000 file tokens found");
	}
	tokens_free(ts);
}

/* Who authorized which app: kept in step with grants, re-grants,
 * revokes and tokens-file loads. */
static void
test_authorized(void)
{
	struct tokens *ts = tokens_new();
	struct token_info ti, app;
	char fpath[] = "/tmp/sluice-token-test-XXXXXX", err[256];
	FILE *fp;
	int fd;

	ok(!tokens_authorized(ts, "app1", "12"), "nobody authorized yet");
	user_info(&ti, "t1", "12", "app1", "");
	tokens_grant(ts, &ti, TOKEN_FROM_PIPE);
	ok(tokens_authorized(ts, "app1", "12"), "a user token authorizes its app");
	ok(!tokens_authorized(ts, "app2", "12"), "and no other app");
	ok(!tokens_authorized(ts, "app1", "1"), "for that user only (no prefix match)");
	ok(!tokens_authorized(ts, "app", "112"), "the two ids are not run together");
	user_info(&ti, "t2", "12", "app1", "");
	tokens_grant(ts, &ti, TOKEN_FROM_PIPE);
	token_hash("t1", 2, ti.hash);
	tokens_revoke(ts, ti.hash);
	ok(tokens_authorized(ts, "app1", "12"), "one of two tokens revoked: still authorized");
	token_hash("t2", 2, ti.hash);
	tokens_revoke(ts, ti.hash);
	ok(!tokens_authorized(ts, "app1", "12"), "both revoked: no longer");

	/* a grant that reuses a token for another client moves the right */
	user_info(&ti, "t3", "34", "app1", "");
	tokens_grant(ts, &ti, TOKEN_FROM_PIPE);
	user_info(&ti, "t3", "34", "app2", "");
	tokens_grant(ts, &ti, TOKEN_FROM_PIPE);
	ok(!tokens_authorized(ts, "app1", "34") && tokens_authorized(ts, "app2", "34"),
	    "re-granting a token for another app moves the authorization");

	/* app tokens authorize nobody */
	memset(&app, 0, sizeof(app));
	token_hash("tapp", 4, app.hash);
	app.kind = TOKEN_APP;
	strcpy(app.client_id, "app9");
	tokens_grant(ts, &app, TOKEN_FROM_PIPE);
	ok(!tokens_authorized(ts, "app9", ""), "an app token is no user's authorization");

	/* file tokens: a reload replaces them, pipe tokens stay */
	fd = mkstemp(fpath);
	fp = fdopen(fd, "w");
	fprintf(fp, "f1 user 56 app3\nf2 user 78 app3\n");
	fclose(fp);
	ok(tokens_load_file(ts, fpath, err, sizeof(err)) == 0, "tokens file loaded");
	ok(tokens_authorized(ts, "app3", "56") && tokens_authorized(ts, "app3", "78"),
	    "file tokens authorize");
	fp = fopen(fpath, "w");
	fprintf(fp, "f2 user 78 app3\n");
	fclose(fp);
	ok(tokens_load_file(ts, fpath, err, sizeof(err)) == 0, "tokens file reloaded");
	ok(!tokens_authorized(ts, "app3", "56"), "a token gone from the file no longer authorizes");
	ok(tokens_authorized(ts, "app3", "78") && tokens_authorized(ts, "app2", "34"),
	    "the others still do");
	unlink(fpath);

	/* many pairs: the index grows and forgets exactly */
	for (int i = 0; i < 3000; i++) {
		char tok[32], user[32];

		snprintf(tok, sizeof(tok), "m%d", i);
		snprintf(user, sizeof(user), "%d", i);
		user_info(&ti, tok, user, i % 2 ? "odd" : "even", "");
		tokens_grant(ts, &ti, TOKEN_FROM_PIPE);
	}
	{
		int right = 0, wrong = 0;

		for (int i = 0; i < 3000; i++) {
			char user[32], tok[32];

			snprintf(user, sizeof(user), "%d", i);
			right += tokens_authorized(ts, i % 2 ? "odd" : "even", user);
			wrong += tokens_authorized(ts, i % 2 ? "even" : "odd", user);
			if (i % 3 == 0) {
				snprintf(tok, sizeof(tok), "m%d", i);
				token_hash(tok, strlen(tok), ti.hash);
				tokens_revoke(ts, ti.hash);
			}
		}
		is_int(right, 3000, "3000 pairs authorized");
		is_int(wrong, 0, "none crossed");
		right = 0;
		for (int i = 0; i < 3000; i++) {
			char user[32];

			snprintf(user, sizeof(user), "%d", i);
			right += tokens_authorized(ts, i % 2 ? "odd" : "even", user);
		}
		is_int(right, 2000, "a third revoked: 2000 left");
	}
	tokens_free(ts);
}

int
main(void)
{
	test_hash();
	test_authorized();
	test_store();
	test_many();
	test_parse_line();
	test_load_file();
	return tap_done();
}
