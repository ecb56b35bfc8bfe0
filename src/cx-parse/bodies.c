/* bodies.c: cx-parse --provider: raw lines of stdin, fed to a jv_parser one
 * at a time so that after invalid JSON the reading can start again at a
 * line boundary; every complete value is a body to map. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parse.h"
#include "utf8.h"
#include "xalloc.h"

void parse_bodies_open(parse_body_reader *br, size_t max_line, const char *provider)
{
	br->fd = 0;
	br->max_line = max_line;
	br->cap = (br->max_line < 65536 ? 65536 : br->max_line) + 2;
	br->buf = cx_xmalloc(br->cap);
	br->jp = jv_parser_new(0);
	br->provider = jv_string(provider);
}

void parse_bodies_close(parse_body_reader *br)
{
	if (br->jp)
		jv_parser_free(br->jp);
	free(br->buf);
	jv_free(br->provider);
}

/* libjq 1.6 leaks a string that follows a value inside a container with
 * no separator between ("[1 \"a\"]", "{\"a\":1 \"b\":2}"), so such a string
 * never reaches the parser. Tracks the nesting of s[0..len) after what came
 * before; returns the offset of such a string's quote (the parser is fed
 * only what precedes it), or len when there is none. A string there is
 * invalid JSON anyway. */
static size_t separator_guard(parse_body_reader *br, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (br->in_string) {
			if (br->escaped)
				br->escaped = 0;
			else if (c == '\\')
				br->escaped = 1;
			else if (c == '"')
				br->in_string = 0, br->after_value = 1;
			continue;
		}
		if (!strchr("[]{},:\" \t\r\n", c) || c == '\0') {
			br->in_scalar = 1;  /* a number or literal, as the parser reads them */
			continue;
		}
		if (br->in_scalar)
			br->in_scalar = 0, br->after_value = 1;
		switch (c) {
		case '"':
			if (br->after_value && br->depth > 0)
				return i;
			br->in_string = 1;
			break;
		case '[': case '{':
			br->depth++;
			br->after_value = 0;
			break;
		case ']': case '}':
			br->depth -= br->depth > 0;
			br->after_value = 1;
			break;
		case ',': case ':':
			br->after_value = 0;
			break;
		}
	}
	return len;
}

enum { RAW_END, RAW_LINE, RAW_OVERLONG };

/* The next line, with its newline when it has one; RAW_OVERLONG for a line
 * longer than max_line (its bytes are dropped); -1 on a read error. */
static int raw_next(parse_body_reader *br, const char **s, size_t *len)
{
	for (;;) {
		char *line = br->buf + br->start;
		char *nl = memchr(line, '\n', br->end - br->start);
		ssize_t n;

		if (nl || (br->eof && br->end > br->start)) {
			*s = line;
			*len = nl ? (size_t)(nl - line) + 1 : br->end - br->start;
			br->start += *len;
			br->lineno++;
			if (br->overlong || *len > br->max_line + 1) {
				br->overlong = 0;
				return RAW_OVERLONG;
			}
			return RAW_LINE;
		}
		if (br->eof) {
			if (br->overlong) {
				br->overlong = 0;
				br->lineno++;
				return RAW_OVERLONG;
			}
			return RAW_END;
		}
		if (br->start > 0) {
			memmove(br->buf, line, br->end - br->start);
			br->end -= br->start;
			br->start = 0;
		}
		if (br->end == br->cap) {
			br->overlong = 1;
			br->end = 0;
		}
		do
			n = read(br->fd, br->buf + br->end, br->cap - br->end);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -1;
		if (n == 0)
			br->eof = 1;
		br->end += (size_t)n;
	}
}

static int raw_ready(parse_body_reader *br)
{
	struct pollfd p = { .fd = br->fd, .events = POLLIN };

	if (br->eof || memchr(br->buf + br->start, '\n', br->end - br->start))
		return 1;
	return poll(&p, 1, 0) > 0;
}

static int has_content(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return 1;
	return 0;
}

static void parser_restart(parse_body_reader *br)
{
	jv_parser_free(br->jp);
	br->jp = jv_parser_new(0);
	br->pending = 0;
	br->body_bytes = 0;
	br->depth = br->in_string = br->escaped = br->in_scalar = br->after_value = 0;
}

/* Input that never became a body: one parse.error naming the line. */
static void bad_input(parse_run *R, parse_batch *b, parse_body_reader *br, const char *reason)
{
	parse_delivery d = { R, b, br->p->name, jv_copy(br->provider), jv_invalid(),
		jv_invalid(), jv_null(), jv_null(), br->lineno, 0, 0 };

	parse_error_str(&d, ".", reason);
	parse_delivery_free(&d);
	parser_restart(br);
	br->skipping = 1;
}

static void handle_body(parse_run *R, parse_batch *b, parse_body_reader *br, jv body)
{
	parse_delivery d = { R, b, br->p->name, jv_copy(br->provider), jv_invalid(),
		parse_correlation_id(), parse_now(), jv_object(), br->lineno, 0, 0 };

	if (R->fatal)
		jv_free(body);
	else
		parse_map_body(&d, br->p, body);
	parse_delivery_free(&d);
}

/* Feeds one line; every value it completes is a body. */
static void feed_line(parse_run *R, parse_batch *b, parse_body_reader *br, const char *s, size_t len)
{
	int pending_before = br->pending, retried = 0, got;
	size_t tail, fed;
	jv v;

	if (br->skipping) {
		if (s[0] != '{')
			return;
		br->skipping = 0;
	}
	if (!cx_utf8_valid(s, len)) {
		bad_input(R, b, br, "invalid UTF-8");
		return;
	}
again:
	got = 0;
	tail = 0;
	fed = separator_guard(br, s, len);
	jv_parser_set_buf(br->jp, s, (int)fed, 1);
	while (jv_is_valid(v = jv_parser_next(br->jp))) {
		got = 1;
		tail = len - (size_t)jv_parser_remaining(br->jp);
		br->body_bytes = 0;
		handle_body(R, b, br, v);
	}
	if (jv_invalid_has_msg(v)) {
		bad_input(R, b, br, "invalid JSON");
		/* An unfinished value before this line made it fail: this line
		 * may be a good body on its own. */
		if (!retried && !got && pending_before && s[0] == '{') {
			retried = 1;
			br->skipping = 0;
			goto again;
		}
		return;
	}
	if (fed < len) {
		bad_input(R, b, br, "invalid JSON");
		return;
	}
	if (got)
		br->pending = has_content(s + tail, len - tail);
	else
		br->pending = br->pending || has_content(s, len);
	br->body_bytes += len - tail;
	if (br->pending && br->body_bytes > br->max_line)
		bad_input(R, b, br, "body longer than --max-line");
}

/* End of input: whatever the parser still holds is a last body, or an error. */
static void finish_bodies(parse_run *R, parse_batch *b, parse_body_reader *br)
{
	jv v;

	jv_parser_set_buf(br->jp, "", 0, 0);
	while (jv_is_valid(v = jv_parser_next(br->jp)))
		handle_body(R, b, br, v);
	if (jv_invalid_has_msg(v))
		bad_input(R, b, br, "invalid JSON");
}

int parse_read_bodies(parse_run *R, parse_body_reader *br, parse_batch *b)
{
	const char *s = NULL;
	size_t len = 0;
	int rc;

	while (!parse_batch_full(b) && !R->fatal) {
		rc = raw_next(br, &s, &len);
		if (rc < 0)
			return -1;
		if (rc == RAW_END) {
			if (!br->finished) {
				br->finished = 1;
				b->lines++;
				finish_bodies(R, b, br);
			}
			break;
		}
		b->lines++;
		b->in_bytes += len;
		if (rc == RAW_OVERLONG)
			bad_input(R, b, br, "line longer than --max-line");
		else
			feed_line(R, b, br, s, len);
		if (!raw_ready(br))
			break;
	}
	return b->lines > 0;
}
