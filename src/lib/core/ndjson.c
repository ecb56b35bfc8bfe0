/* ndjson.c: the NDJSON line reader and the buffered stdout writer. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "ndjson.h"
#include "utf8.h"
#include "xalloc.h"

struct cx_ndjson_reader {
	int fd;
	size_t max_line;
	char *buf;
	size_t cap, start, end;
	long lineno, rejected;
	int eof, skipping;      /* skipping: inside an over-long line */
};

cx_ndjson_reader *cx_ndjson_open(int fd, size_t max_line)
{
	cx_ndjson_reader *r = cx_xcalloc(1, sizeof *r);

	r->fd = fd;
	r->max_line = max_line;
	r->cap = (max_line < 65536 ? 65536 : max_line) + 1;
	r->buf = cx_xmalloc(r->cap);
	return r;
}

void cx_ndjson_close(cx_ndjson_reader *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r);
}

long cx_ndjson_rejected(const cx_ndjson_reader *r)
{
	return r->rejected;
}

static void reject(cx_ndjson_reader *r, long lineno, const char *code,
    const char *what)
{
	jv f = jv_object();

	f = jv_object_set(f, jv_string("line"), jv_number((double)lineno));
	f = jv_object_set(f, jv_string("error_code"), jv_string(code));
	r->rejected++;
	cx_log(CX_LOG_ERROR, f, "line %ld: %s", lineno, what);
}

/* Reads more input into the buffer; 1 when bytes arrived, 0 at EOF, -1 error. */
static int fill(cx_ndjson_reader *r)
{
	ssize_t n;

	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	if (r->end == r->cap) {
		/* Over-long line: keep scanning for its end, drop its bytes. */
		r->skipping = 1;
		r->end = 0;
	}
	do
		n = read(r->fd, r->buf + r->end, r->cap - r->end);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if (n == 0) {
		r->eof = 1;
		return 0;
	}
	r->end += (size_t)n;
	return 1;
}

/* Checks one complete line; 1 with *line set when it is a valid object,
 * parsed when parse is set. Only text the strict check accepted reaches
 * libjq: libjq 1.6 leaks on some malformed text ("[1 \"a\"]"). */
static int check_line(cx_ndjson_reader *r, char *s, size_t len,
    cx_ndjson_line *line, int parse)
{
	cx_json_text kind;

	if (len > r->max_line) {
		reject(r, r->lineno, "line_too_long", "line longer than --max-line");
		return 0;
	}
	if (len == 0) {
		reject(r, r->lineno, "empty_line", "empty line");
		return 0;
	}
	if (!cx_utf8_valid(s, len)) {
		reject(r, r->lineno, "invalid_utf8", "invalid UTF-8");
		return 0;
	}
	kind = cx_json_check(s, len);
	if (kind == CX_JSON_INVALID) {
		reject(r, r->lineno, "invalid_json", "not valid JSON");
		return 0;
	}
	if (kind == CX_JSON_NOT_OBJECT) {
		reject(r, r->lineno, "not_object", "not a JSON object");
		return 0;
	}
	line->raw = s;
	line->len = len;
	line->lineno = r->lineno;
	line->value = parse ? jv_parse_sized(s, (int)len) : jv_invalid();
	return 1;
}

static int next_line(cx_ndjson_reader *r, cx_ndjson_line *line, int parse)
{
	for (;;) {
		char *s = r->buf + r->start;
		char *nl = memchr(s, '\n', r->end - r->start);
		size_t len;

		if (nl) {
			len = (size_t)(nl - s);
			r->start += len + 1;
		} else if (r->eof) {
			len = r->end - r->start;
			if (len == 0 && !r->skipping)
				return 0;
			r->start = r->end;
		} else {
			if (fill(r) < 0)
				return -1;
			continue;
		}
		r->lineno++;
		if (r->skipping) {
			r->skipping = 0;
			reject(r, r->lineno, "line_too_long",
			    "line longer than --max-line");
			continue;
		}
		if (check_line(r, s, len, line, parse))
			return 1;
	}
}

int cx_ndjson_next(cx_ndjson_reader *r, cx_ndjson_line *line)
{
	return next_line(r, line, 1);
}

int cx_ndjson_next_raw(cx_ndjson_reader *r, cx_ndjson_line *line)
{
	return next_line(r, line, 0);
}

int cx_ndjson_wait(cx_ndjson_reader *r, int timeout_ms)
{
	struct pollfd p = { .fd = r->fd, .events = POLLIN };

	if (memchr(r->buf + r->start, '\n', r->end - r->start) || r->eof)
		return 1;
	return poll(&p, 1, timeout_ms) > 0;
}

int cx_ndjson_ready(cx_ndjson_reader *r)
{
	return cx_ndjson_wait(r, 0);
}

static char out_buf[1 << 16];

void cx_ndjson_out_init(void)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, out_buf, _IOFBF, sizeof out_buf);
}

void cx_ndjson_write_raw(const char *raw, size_t len)
{
	fwrite(raw, 1, len, stdout);
	putc('\n', stdout);
}

void cx_ndjson_write(jv v)
{
	jv s = jv_dump_string(v, 0);

	cx_ndjson_write_raw(jv_string_value(s), (size_t)jv_string_length_bytes(jv_copy(s)));
	jv_free(s);
}

int cx_ndjson_flush(void)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		return -1;
	return 0;
}
