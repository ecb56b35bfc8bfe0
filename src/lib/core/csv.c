/* csv.c: an RFC 4180 reader (csv.h), byte by byte over a FILE, holding one
 * record at most. */
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "exit.h"
#include "json.h"
#include "utf8.h"
#include "xalloc.h"

struct cx_csv {
	FILE *in;
	size_t max;
	long line;                  /* the line being read */
	long start;                 /* the line the last record began on */
	int began;                  /* the byte order mark was looked for */
	unsigned char head[3];      /* bytes read looking for it, not one */
	int nhead, ihead;
	int back;                   /* a byte read ahead after a CR, or EOF */
	int failed;
	cx_buf field;
	size_t record_len;
};

cx_csv *cx_csv_open(FILE *in, size_t max_record)
{
	cx_csv *r = cx_xcalloc(1, sizeof *r);

	r->in = in;
	r->max = max_record ? max_record : CX_CSV_MAX_RECORD;
	r->line = 1;
	r->back = EOF;
	return r;
}

void cx_csv_close(cx_csv *r)
{
	if (!r)
		return;
	free(r->field.s);
	free(r);
}

long cx_csv_line(const cx_csv *r)
{
	return r->start;
}

/* Stops the reading: "line N: what". */
static int fail(cx_csv *r, cx_err *err, int code, const char *what)
{
	r->failed = 1;
	return cx_err_set(err, code, "line %ld: %s", r->line, what);
}

/* The next byte of the input, the start's unless they were a byte order
 * mark. */
static int raw_byte(cx_csv *r)
{
	if (!r->began) {
		r->began = 1;
		while (r->nhead < 3) {
			int c = getc(r->in);

			if (c == EOF)
				break;
			r->head[r->nhead++] = (unsigned char)c;
		}
		if (r->nhead == 3 && memcmp(r->head, "\xef\xbb\xbf", 3) == 0)
			r->nhead = 0;
	}
	if (r->back != EOF) {
		int c = r->back;

		r->back = EOF;
		return c;
	}
	if (r->ihead < r->nhead)
		return r->head[r->ihead++];
	return getc(r->in);
}

/* The next byte, a line ending (CRLF, LF or CR) as '\n'; EOF. */
static int next_byte(cx_csv *r)
{
	int c = raw_byte(r);

	if (c == '\r') {
		int d = raw_byte(r);

		if (d != '\n')
			r->back = d;
		c = '\n';
	}
	if (c == '\n')
		r->line++;
	return c;
}

/* One more byte of the record (its commas count too). */
static int count_byte(cx_csv *r, cx_err *err)
{
	if (++r->record_len <= r->max)
		return 0;
	r->failed = 1;
	return cx_err_set(err, CX_EXIT_DATAERR, "line %ld: the record that begins there is "
	    "longer than %zu bytes", r->start, r->max);
}

/* Adds byte c to the field being read; -1 past the record limit. */
static int add(cx_csv *r, int c, cx_err *err)
{
	char b = (char)c;

	if (c == '\0')
		return fail(r, err, CX_EXIT_DATAERR, "a NUL byte");
	if (count_byte(r, err) < 0)
		return -1;
	cx_buf_add(&r->field, &b, 1);
	return 0;
}

/* The field read so far, as a string of the record. */
static int push_field(cx_csv *r, jv *record, cx_err *err)
{
	const char *s = r->field.len ? r->field.s : "";

	if (!cx_utf8_valid(s, r->field.len)) {
		r->failed = 1;
		return cx_err_set(err, CX_EXIT_DATAERR, "line %ld: the record that begins there "
		    "holds text that is not UTF-8", r->start);
	}
	*record = jv_array_append(*record, jv_string_sized(s, (int)r->field.len));
	r->field.len = 0;
	return 0;
}

/* A quoted field, its opening quote read: 0 with *after the byte after
 * its closing quote, or -1. */
static int quoted(cx_csv *r, int *after, cx_err *err)
{
	long opened = r->line;
	int c;

	for (;;) {
		if ((c = next_byte(r)) == EOF) {
			r->failed = 1;
			return cx_err_set(err, CX_EXIT_DATAERR, "line %ld: a quoted field is not "
			    "closed (it opens on line %ld)", r->line, opened);
		}
		if (c == '"' && (c = next_byte(r)) != '"') {
			*after = c;
			return 0;
		}
		if (add(r, c, err) < 0)
			return -1;
	}
}

/* The bytes of one record, its first byte c read. */
static int record_of(cx_csv *r, int c, jv *record, cx_err *err)
{
	for (;;) {
		if (c == '"') {
			if (r->field.len > 0)
				return fail(r, err, CX_EXIT_DATAERR, "a quote inside "
				    "an unquoted field (quote the whole field and double the quote)");
			if (quoted(r, &c, err) < 0)
				return -1;
			if (c != ',' && c != '\n' && c != EOF)
				return fail(r, err, CX_EXIT_DATAERR, "text after a "
				    "quoted field's closing quote");
		}
		if (c == EOF && ferror(r->in))
			return fail(r, err, CX_EXIT_TEMPFAIL, "read error");
		if (c == ',' || c == '\n' || c == EOF) {
			if (push_field(r, record, err) < 0)
				return -1;
			if (c != ',')
				return 1;
			if (count_byte(r, err) < 0)
				return -1;
		} else if (add(r, c, err) < 0) {
			return -1;
		}
		c = next_byte(r);
	}
}

int cx_csv_next(cx_csv *r, jv *record, cx_err *err)
{
	int c;

	*record = jv_invalid();
	if (r->failed)
		return cx_err_set(err, CX_EXIT_DATAERR, "the input was malformed");
	while ((c = next_byte(r)) == '\n')
		;
	if (c == EOF)
		return ferror(r->in) ? fail(r, err, CX_EXIT_TEMPFAIL, "read error") : 0;
	r->start = r->line;
	r->record_len = 0;
	r->field.len = 0;
	*record = jv_array();
	if (record_of(r, c, record, err) < 0) {
		jv_free(*record);
		*record = jv_invalid();
		return -1;
	}
	return 1;
}
