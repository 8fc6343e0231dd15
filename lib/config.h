/* config.h - sluiced.conf: one table of keys, types, defaults, bounds */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strlist {
	char	**v;
	size_t	  n;
};

struct config {
	struct strlist	listen;
	char		*admin_listen;		/* "" = off */
	char		*tls_cert;
	char		*tls_key;
	char		*ingest;		/* unix:PATH, fifo:PATH, stdin */
	uint64_t	 ingest_max_line;
	char		*tokens_file;
	struct strlist	 route;			/* "/path/{x} = key:{x}" */
	int64_t		 workers;
	int64_t		 max_connections;
	int64_t		 max_subscriptions;
	int64_t		 max_streams_per_token;
	int64_t		 max_app_streams;
	int64_t		 replay_window_ms;
	uint64_t	 replay_max_bytes;
	uint64_t	 send_buffer_limit;
	int64_t		 keepalive_interval_ms;
	int64_t		 app_keepalive_ms;
	uint64_t	 ws_max_message;
	int64_t		 log_level;
};

void config_defaults(struct config *c);
/* Defaults, then the file. On error returns -1 with "file:line: message"
 * in err and leaves *c with the defaults freed. */
int config_load(struct config *c, const char *path, char *err, size_t errlen);
/* Parse one "key = value" line into c (exposed for tests). */
int config_line(struct config *c, const char *line, bool *seen, char *err,
    size_t errlen);
void config_free(struct config *c);
/* Is key reloadable with SIGHUP? -1 if there is no such key. */
int config_reloadable(const char *key);

/* Value parsers (also used by tests). Return 0 or -1. */
int config_parse_size(const char *s, uint64_t *out);
int config_parse_duration_ms(const char *s, int64_t *out);
/* "host:port", "[v6]:port", ":port" -> host (maybe empty) and port */
int config_parse_addr(const char *s, char *host, size_t hostlen, int *port);

#endif
