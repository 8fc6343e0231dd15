/* token.h - the token store: SHA-256 hashes of tokens, never the tokens */
#ifndef SLUICE_TOKEN_H
#define SLUICE_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOKEN_HASH_LEN	32
#define TOKEN_ID_MAX	128

enum token_kind { TOKEN_USER, TOKEN_APP };
enum token_source { TOKEN_FROM_PIPE, TOKEN_FROM_FILE };

struct token_info {
	uint8_t		hash[TOKEN_HASH_LEN];
	enum token_kind	kind;
	char		user_id[TOKEN_ID_MAX];	/* empty for app tokens */
	char		client_id[TOKEN_ID_MAX];
	char		scopes[256];		/* comma-separated */
};

struct tokens;

struct tokens *tokens_new(void);
void tokens_free(struct tokens *ts);

void token_hash(const char *token, size_t len, uint8_t out[TOKEN_HASH_LEN]);

/* Add or replace. Returns 0, or -1 if an id is too long. */
int tokens_grant(struct tokens *ts, const struct token_info *ti,
    enum token_source src);
/* Returns true if the token was known. */
bool tokens_revoke(struct tokens *ts, const uint8_t hash[TOKEN_HASH_LEN]);
/* Look a presented token up; copies its record into *out. */
bool tokens_lookup(struct tokens *ts, const char *token, struct token_info *out);
bool tokens_lookup_hash(struct tokens *ts, const uint8_t hash[TOKEN_HASH_LEN],
    struct token_info *out);
size_t tokens_count(struct tokens *ts);
/* Has user_id authorized the app client_id, i.e. does the user hold a
 * live user token of that client (SPEC 5)? */
bool tokens_authorized(struct tokens *ts, const char *client_id,
    const char *user_id);

/* Parse one tokens-file line into *ti. Returns 1 for a token, 0 for a
 * blank or comment line, -1 with a message in err. */
int tokens_parse_line(const char *line, struct token_info *ti, char *err,
    size_t errlen);
/* Replace every file-sourced token with the file's contents. On error
 * nothing changes and err holds "path:line: message". Tokens granted
 * through the pipe are kept. */
int tokens_load_file(struct tokens *ts, const char *path, char *err,
    size_t errlen);

#endif
