/* linebuf.c - tests for lib/linebuf.c: splitting a byte stream into
 * bounded lines */
#include "linebuf.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define MAXLINES	64

/* What the callback saw, one entry per call; "<TOOLONG>" for NULL. */
struct seen {
	int	 n;
	char	*line[MAXLINES];
	size_t	 len[MAXLINES];
};

static void
collect(void *arg, const char *line, size_t len)
{
	struct seen *s = arg;

	if (s->n == MAXLINES)
		return;
	if (line == NULL) {
		s->line[s->n] = strdup("<TOOLONG>");
		s->len[s->n] = len;
	} else {
		s->line[s->n] = malloc(len + 1);
		memcpy(s->line[s->n], line, len);
		s->line[s->n][len] = '\0';
		s->len[s->n] = len;
	}
	s->n++;
}

static void
seen_clear(struct seen *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->line[i]);
	memset(s, 0, sizeof(*s));
}

static void
feeds(struct linebuf *lb, struct seen *s, const char *p)
{
	linebuf_feed(lb, p, strlen(p), collect, s);
}

static void
test_basic(void)
{
	struct linebuf lb;
	struct seen s = { 0 };

	linebuf_init(&lb, 100);
	feeds(&lb, &s, "one\ntwo\nthree\n");
	is_int(s.n, 3, "three lines in one feed");
	is_str(s.line[0], "one", "line 1");
	is_str(s.line[1], "two", "line 2");
	is_str(s.line[2], "three", "line 3");
	is_int(s.len[2], 5, "length without the \\n");
	ok(!linebuf_reset(&lb), "reset after a clean line end: false");
	seen_clear(&s);

	/* split across feeds, at every possible point */
	{
		const char *msg = "{\"a\":1}\n{\"b\":22}\n";
		size_t n = strlen(msg);
		int good = 1;

		for (size_t cut = 0; cut <= n; cut++) {
			linebuf_feed(&lb, msg, cut, collect, &s);
			linebuf_feed(&lb, msg + cut, n - cut, collect, &s);
			if (s.n != 2 || strcmp(s.line[0], "{\"a\":1}") != 0 ||
			    strcmp(s.line[1], "{\"b\":22}") != 0)
				good = 0;
			seen_clear(&s);
		}
		ok(good, "two lines split at every byte position arrive intact");
	}

	/* byte by byte */
	{
		const char *msg = "alpha\nbeta\r\ngamma";
		for (size_t i = 0; i < strlen(msg); i++)
			linebuf_feed(&lb, msg + i, 1, collect, &s);
		is_int(s.n, 2, "byte by byte: two complete lines");
		is_str(s.line[0], "alpha", "byte by byte: line 1");
		is_str(s.line[1], "beta\r", "trailing \\r is kept");
		is_int(lb.len, 5, "partial 'gamma' buffered");
		ok(linebuf_reset(&lb), "reset with a partial line: true");
		is_int(lb.len, 0, "reset empties the buffer");
		ok(!linebuf_reset(&lb), "second reset: false");
		seen_clear(&s);
	}

	/* the partial line is dropped by reset, not glued to the next */
	feeds(&lb, &s, "lost");
	is_int(s.n, 0, "no callback for a partial line");
	ok(linebuf_reset(&lb), "reset reports the partial line");
	feeds(&lb, &s, "next\n");
	is_int(s.n, 1, "line after reset delivered");
	is_str(s.line[0], "next", "partial line before reset is not prepended");
	seen_clear(&s);

	/* empty lines */
	feeds(&lb, &s, "\n\nx\n\n");
	is_int(s.n, 4, "empty lines are delivered");
	ok(s.line[0][0] == '\0' && s.len[0] == 0, "empty line 1, len 0");
	ok(s.line[1][0] == '\0' && s.len[1] == 0, "empty line 2, len 0");
	is_str(s.line[2], "x", "line between empties");
	ok(s.len[3] == 0, "empty line 4");
	seen_clear(&s);

	/* partial then several lines in one feed */
	feeds(&lb, &s, "ab");
	feeds(&lb, &s, "cd\nef\ngh");
	feeds(&lb, &s, "\n");
	is_int(s.n, 3, "partial + several");
	is_str(s.line[0], "abcd", "buffered part joined");
	is_str(s.line[1], "ef", "inline line");
	is_str(s.line[2], "gh", "tail completed by a later feed");
	ok(!linebuf_reset(&lb), "nothing pending");
	seen_clear(&s);

	/* feed of 0 bytes */
	linebuf_feed(&lb, "x", 0, collect, &s);
	is_int(s.n, 0, "empty feed: no callback");
	ok(!linebuf_reset(&lb), "empty feed: nothing pending");
	linebuf_free(&lb);
}

static void
test_limits(void)
{
	struct linebuf lb;
	struct seen s = { 0 };
	char exact[11];

	memset(exact, 'e', 10);
	exact[10] = '\0';

	linebuf_init(&lb, 10);
	/* exactly max, one feed */
	feeds(&lb, &s, "eeeeeeeeee\n");
	is_int(s.n, 1, "line of exactly max accepted");
	is_str(s.line[0], exact, "max line intact");
	seen_clear(&s);

	/* exactly max, byte by byte (buffered path) */
	for (int i = 0; i < 10; i++)
		feeds(&lb, &s, "e");
	is_int(s.n, 0, "max bytes without \\n: nothing yet");
	feeds(&lb, &s, "\n");
	is_int(s.n, 1, "max line via buffer accepted");
	is_str(s.line[0], exact, "max line via buffer intact");
	seen_clear(&s);

	/* max + 1 in one feed, followed by a good line */
	feeds(&lb, &s, "ooooooooooo\ngood\n");
	is_int(s.n, 2, "max+1: one rejection then the next line");
	is_str(s.line[0], "<TOOLONG>", "max+1 rejected with NULL line");
	is_str(s.line[1], "good", "line after too-long line intact");
	ok(!linebuf_reset(&lb), "clean after");
	seen_clear(&s);

	/* max + 1 reached in the buffer: 10 bytes, then 1 more + \n */
	feeds(&lb, &s, "oooooooooo");
	feeds(&lb, &s, "o\nafter\n");
	is_int(s.n, 2, "max+1 across two feeds: reject + next");
	is_str(s.line[0], "<TOOLONG>", "rejected");
	is_str(s.line[1], "after", "next line intact");
	seen_clear(&s);

	/* a too-long line spanning many feeds is reported once, and the
	 * line after it is delivered intact */
	feeds(&lb, &s, "0123456");
	feeds(&lb, &s, "789abcdef");
	feeds(&lb, &s, "ghijklmnop");
	feeds(&lb, &s, "qrstuvwxyz");
	is_int(s.n, 1, "too-long line reported once while it spans feeds");
	is_str(s.line[0], "<TOOLONG>", "the report is a NULL line");
	ok(lb.discarding, "discarding the rest of the long line");
	feeds(&lb, &s, "ZZZ\nkept\n");
	is_int(s.n, 2, "no second report at the end of the long line");
	is_str(s.line[1], "kept", "line after a multi-feed long line intact");
	ok(!lb.discarding, "discarding ended at the \\n");
	seen_clear(&s);

	/* the \n of the long line as the first byte of a feed */
	feeds(&lb, &s, "xxxxxxxxxxxxxxxxxxxxxxxx");
	feeds(&lb, &s, "\nz\n");
	is_int(s.n, 2, "long line ended by a lone \\n");
	is_str(s.line[0], "<TOOLONG>", "reported");
	is_str(s.line[1], "z", "next line intact");
	seen_clear(&s);

	/* long line in one feed with no \n, next feed completes the next */
	feeds(&lb, &s, "yyyyyyyyyyyyyyyyyyyy");
	feeds(&lb, &s, "yyy\npart");
	feeds(&lb, &s, "ial\n");
	is_int(s.n, 2, "long then a line split across feeds");
	is_str(s.line[1], "partial", "split line after long one intact");
	seen_clear(&s);

	/* several too-long lines in one feed, each reported once */
	feeds(&lb, &s, "ooooooooooo\nok\nooooooooooooooooo\n\n");
	is_int(s.n, 4, "two long lines, one good, one empty");
	is_str(s.line[0], "<TOOLONG>", "first long");
	is_str(s.line[1], "ok", "good between");
	is_str(s.line[2], "<TOOLONG>", "second long");
	is_int(s.len[3], 0, "empty line after");
	seen_clear(&s);

	/* reset while discarding: the rejected line was already reported */
	feeds(&lb, &s, "ooooooooooooooooooooo");
	is_int(s.n, 1, "reported");
	ok(!linebuf_reset(&lb), "reset while discarding: already counted");
	ok(!lb.discarding, "reset ends discarding");
	feeds(&lb, &s, "fresh\n");
	is_int(s.n, 2, "line after reset");
	is_str(s.line[1], "fresh", "not swallowed by the old discard");
	seen_clear(&s);

	linebuf_free(&lb);

	/* max 0: only empty lines pass */
	linebuf_init(&lb, 0);
	feeds(&lb, &s, "\na\n\n");
	is_int(s.n, 3, "max 0: three callbacks");
	is_int(s.len[0], 0, "max 0: empty ok");
	is_str(s.line[1], "<TOOLONG>", "max 0: one byte is too long");
	is_int(s.len[2], 0, "max 0: empty ok after");
	seen_clear(&s);
	linebuf_free(&lb);
}

/* A large max: the buffer grows, then is released after the line. */
static void
test_big(void)
{
	struct linebuf lb;
	struct seen s = { 0 };
	size_t n = 200000;
	char *big = malloc(n + 1);

	memset(big, 'b', n);
	big[n] = '\n';
	linebuf_init(&lb, n);
	for (size_t off = 0; off <= n; off += 7000) {
		size_t k = off + 7000 > n + 1 ? n + 1 - off : 7000;
		linebuf_feed(&lb, big + off, k, collect, &s);
	}
	is_int(s.n, 1, "200000-byte line fed in pieces arrives");
	is_int(s.len[0], n, "with its full length");
	ok(s.n == 1 && strspn(s.line[0], "b") == n, "contents intact");
	ok(lb.cap <= 65536, "big buffer released after the line");
	seen_clear(&s);
	linebuf_free(&lb);
	free(big);
}

int
main(void)
{
	test_basic();
	test_limits();
	test_big();
	return tap_done();
}
