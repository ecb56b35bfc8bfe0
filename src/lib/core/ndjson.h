/* ndjson.h: streaming NDJSON in and out.
 * Reader: bounded lines (max_line bytes), line numbers, UTF-8 and strict
 * (RFC 8259) JSON-object validation one line at a time; a rejected line is
 * reported on stderr by number (never by content), counted, and skipped.
 * The jv in a line is the caller's (it must jv_free it); the raw bytes stay
 * valid until the next call. Writer: stdout, fully buffered, flushed by the
 * caller per batch. */
#ifndef CX_NDJSON_H
#define CX_NDJSON_H

#include <stddef.h>

#include <jv.h>

#define CX_NDJSON_MAX_LINE_DEFAULT (1024 * 1024)

typedef struct cx_ndjson_reader cx_ndjson_reader;

typedef struct {
	const char *raw;   /* the line without its newline, not NUL-terminated */
	size_t len;
	long lineno;       /* 1-based */
	jv value;          /* the parsed object; the caller frees it */
} cx_ndjson_line;

cx_ndjson_reader *cx_ndjson_open(int fd, size_t max_line);
void cx_ndjson_close(cx_ndjson_reader *r);
/* 1 and *line for the next valid line, 0 at end of input, -1 on read error. */
int cx_ndjson_next(cx_ndjson_reader *r, cx_ndjson_line *line);
/* The same, but the line is only validated: line->value is jv_invalid(),
 * and libjq reads line->raw as an object should the caller parse it. */
int cx_ndjson_next_raw(cx_ndjson_reader *r, cx_ndjson_line *line);
/* Whether another line can be read without blocking (buffered or ready). */
int cx_ndjson_ready(cx_ndjson_reader *r);
/* The same, waiting up to timeout_ms for input to come. */
int cx_ndjson_wait(cx_ndjson_reader *r, int timeout_ms);
/* How many lines were rejected so far. */
long cx_ndjson_rejected(const cx_ndjson_reader *r);

/* The writer. cx_ndjson_out_init sets up stdout and ignores SIGPIPE. */
void cx_ndjson_out_init(void);
/* Writes one line (a newline is added). */
void cx_ndjson_write_raw(const char *raw, size_t len);
/* Writes a value as one compact line; consumes v. */
void cx_ndjson_write(jv v);
/* Flushes; returns 0, or -1 when the reader is gone (EPIPE) or stdout failed:
 * the tool then stops quietly. */
int cx_ndjson_flush(void);

#endif
