/* formdata.c: multipart/form-data bodies (RFC 7578), built whole. */
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "exit.h"
#include "formdata.h"
#include "json.h"
#include "xalloc.h"

typedef struct {
	char *head;             /* the part's header lines and the blank line */
	char *data;
	size_t len;
} part;

struct cx_formdata {
	part *parts;
	size_t n, cap;
};

/* "--" and 32 hex digits: 128 random bits. */
#define BOUNDARY_HEX 32
/* Draws past a collision; one in 2^128 draws collides at all. */
#define BOUNDARY_TRIES 4

cx_formdata *cx_formdata_new(void)
{
	return cx_xcalloc(1, sizeof(cx_formdata));
}

void cx_formdata_free(cx_formdata *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++) {
		free(f->parts[i].head);
		free(f->parts[i].data);
	}
	free(f->parts);
	free(f);
}

static void add_str(cx_buf *b, const char *s)
{
	cx_buf_add(b, s, strlen(s));
}

/* s as a quoted-string parameter value, quotes and line breaks
 * percent-encoded as browsers send them (HTML's form submission). */
static void add_quoted(cx_buf *b, const char *s)
{
	cx_buf_add(b, "\"", 1);
	for (; *s; s++) {
		if (*s == '"')
			cx_buf_add(b, "%22", 3);
		else if (*s == '\r')
			cx_buf_add(b, "%0D", 3);
		else if (*s == '\n')
			cx_buf_add(b, "%0A", 3);
		else
			cx_buf_add(b, s, 1);
	}
	cx_buf_add(b, "\"", 1);
}

static void add_part(cx_formdata *f, const char *name, const char *filename,
    const char *content_type, const void *data, size_t len)
{
	cx_buf h = { 0 };
	part *p;

	add_str(&h, "Content-Disposition: form-data; name=");
	add_quoted(&h, name);
	if (filename) {
		add_str(&h, "; filename=");
		add_quoted(&h, filename);
		add_str(&h, "\r\nContent-Type: ");
		/* a type is one token/token: no line break can ride in */
		content_type = content_type && !strpbrk(content_type, "\r\n") ?
		    content_type : "application/octet-stream";
		add_str(&h, content_type);
	}
	cx_buf_add(&h, "\r\n\r\n", 5);          /* with the NUL */
	if (f->n == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 16;
		f->parts = cx_xrealloc(f->parts, f->cap * sizeof *f->parts);
	}
	p = &f->parts[f->n++];
	p->head = h.s;
	p->data = cx_xmalloc(len + 1);
	memcpy(p->data, data, len);
	p->len = len;
}

void cx_formdata_field(cx_formdata *f, const char *name, const char *value)
{
	add_part(f, name, NULL, NULL, value, strlen(value));
}

void cx_formdata_file(cx_formdata *f, const char *name, const char *filename,
    const char *content_type, const void *data, size_t len)
{
	add_part(f, name, filename, content_type, data, len);
}

/* Whether the delimiter "--" boundary occurs in any part. */
static int collides(const cx_formdata *f, const char *delim, size_t dlen)
{
	for (size_t i = 0; i < f->n; i++)
		if (memmem(f->parts[i].data, f->parts[i].len, delim, dlen) ||
		    strstr(f->parts[i].head, delim))
			return 1;
	return 0;
}

/* delim gets "--cx-" and BOUNDARY_HEX hex digits no part holds. */
static int draw_boundary(const cx_formdata *f, char *delim, cx_err *err)
{
	unsigned char rnd[BOUNDARY_HEX / 2];

	for (int t = 0; t < BOUNDARY_TRIES; t++) {
		if (cx_crypto_random(rnd, sizeof rnd) != 0)
			return cx_err_set(err, CX_EXIT_TEMPFAIL, "no random bytes for a form boundary");
		memcpy(delim, "--cx-", 5);
		cx_crypto_hex(rnd, sizeof rnd, delim + 5);
		if (!collides(f, delim, 5 + BOUNDARY_HEX))
			return 0;
	}
	return cx_err_set(err, CX_EXIT_TEMPFAIL, "no form boundary outside the content");
}

int cx_formdata_finish(cx_formdata *f, char **body, size_t *len, char **content_type,
    cx_err *err)
{
	char delim[5 + BOUNDARY_HEX + 1];
	size_t dlen = sizeof delim - 1;
	cx_buf b = { 0 };

	if (draw_boundary(f, delim, err) != 0) {
		cx_formdata_free(f);
		return -1;
	}
	for (size_t i = 0; i < f->n; i++) {
		cx_buf_add(&b, delim, dlen);
		cx_buf_add(&b, "\r\n", 2);
		cx_buf_add(&b, f->parts[i].head, strlen(f->parts[i].head));
		cx_buf_add(&b, f->parts[i].data, f->parts[i].len);
		cx_buf_add(&b, "\r\n", 2);
	}
	cx_buf_add(&b, delim, dlen);
	cx_buf_add(&b, "--\r\n", 5);        /* with the NUL */
	*len = b.len - 1;
	*body = b.s;
	*content_type = cx_xasprintf("multipart/form-data; boundary=%s", delim + 2);
	cx_formdata_free(f);
	return 0;
}
