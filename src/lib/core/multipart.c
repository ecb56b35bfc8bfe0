/* multipart.c: form bodies (multipart.h). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "exit.h"
#include "multipart.h"
#include "xalloc.h"

static int bad(cx_err *err, cx_form *form, const char *what, size_t part)
{
	cx_form_free(form);
	if (part)
		return cx_err_set(err, CX_EXIT_DATAERR, "multipart part %zu: %s", part, what);
	return cx_err_set(err, CX_EXIT_DATAERR, "multipart body: %s", what);
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* The next parameter of a header value at *p ("; name=value", the value a
 * token or a quoted string with backslash escapes): 1 with its name and
 * value as new strings, 0 at the end, -1 when malformed. */
static int next_param(const char **p, char **name, char **value)
{
	const char *s = skip_ws(*p), *n;
	size_t nl;

	if (!*s)
		return 0;
	if (*s != ';')
		return -1;
	s = skip_ws(s + 1);
	n = s;
	s += strcspn(s, "=; \t");
	if (!(nl = (size_t)(s - n)))
		return -1;
	s = skip_ws(s);
	if (*s != '=')
		return -1;
	s = skip_ws(s + 1);
	if (*s == '"') {
		char *v = cx_xmalloc(strlen(s)), *o = v;

		for (s++; *s && *s != '"'; s++)
			*o++ = *s == '\\' && s[1] ? *++s : *s;
		*o = '\0';
		if (*s != '"') {
			free(v);
			return -1;
		}
		*value = v;
		s++;
	} else {
		size_t vl = strcspn(s, "; \t");

		*value = cx_xstrndup(s, vl);
		s += vl;
	}
	*name = cx_xstrndup(n, nl);
	*p = s;
	return 1;
}

/* Whether header value v is type (any case) followed by parameters or
 * nothing; *params gets where they start. */
static int value_is(const char *v, const char *type, const char **params)
{
	size_t n = strlen(type);

	v = skip_ws(v);
	if (strncasecmp(v, type, n) != 0)
		return 0;
	v = skip_ws(v + n);
	if (*v && *v != ';')
		return 0;
	*params = v;
	return 1;
}

/* The parameters called want (any case) of params: 0 with *out (a new
 * string, or NULL when absent; the last one wins), -1 when malformed. */
static int param_get(const char *params, const char *want, char **out)
{
	char *name, *value;
	int rc;

	*out = NULL;
	while ((rc = next_param(&params, &name, &value)) > 0) {
		if (strcasecmp(name, want) == 0) {
			free(*out);
			*out = value;
		} else {
			free(value);
		}
		free(name);
	}
	if (rc < 0) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

char *cx_multipart_boundary(const char *content_type, cx_err *err)
{
	const char *params;
	char *b = NULL;

	if (!content_type || !value_is(content_type, "multipart/form-data", &params)) {
		cx_err_set(err, CX_EXIT_DATAERR, "the body is not multipart/form-data");
		return NULL;
	}
	if (param_get(params, "boundary", &b) < 0 || !b || !*b ||
	    strlen(b) > CX_FORM_MAX_BOUNDARY || strpbrk(b, "\r\n")) {
		free(b);
		cx_err_set(err, CX_EXIT_DATAERR,
		    "multipart/form-data without a usable boundary parameter");
		return NULL;
	}
	return b;
}

/* A delimiter ("--" boundary) at the start of a line at or after from,
 * followed by "--", white space or a line end: where it starts, or NULL. */
static const char *find_delimiter(const char *body, const char *from,
    const char *end, const char *delim, size_t dl)
{
	for (const char *p = from; p < end;) {
		const char *q = memmem(p, (size_t)(end - p), delim, dl);
		const char *after;

		if (!q)
			return NULL;
		after = q + dl;
		if ((q == body || q[-1] == '\n') && (after == end ||
		    strchr("- \t\r\n", *after)))
			return q;
		p = q + 1;
	}
	return NULL;
}

/* One header line of a part at *p (up to LF, a CR before it dropped):
 * 1 with its text, 0 at an empty line, -1 when the body ends first. */
static int header_line(const char **p, const char *end, const char **line,
    size_t *len)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));

	if (!nl)
		return -1;
	*line = *p;
	*len = (size_t)(nl - *p);
	if (*len && nl[-1] == '\r')
		(*len)--;
	*p = nl + 1;
	return *len > 0;
}

/* The part headers cx reads. */
typedef struct {
	char *disposition, *type;
	char **last;            /* the one a folded line continues */
} part_headers;

static void header_keep(part_headers *h, const char *line, size_t len)
{
	static const struct { const char *name; size_t off; } known[] = {
		{ "content-disposition:", offsetof(part_headers, disposition) },
		{ "content-type:", offsetof(part_headers, type) },
	};

	if (line[0] == ' ' || line[0] == '\t') {
		if (h->last) {
			char *v = cx_xasprintf("%s %.*s", *h->last, (int)len, line);

			free(*h->last);
			*h->last = v;
		}
		return;
	}
	h->last = NULL;
	for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
		size_t n = strlen(known[i].name);
		char **slot = (char **)((char *)h + known[i].off);

		if (len >= n && strncasecmp(line, known[i].name, n) == 0) {
			free(*slot);
			*slot = cx_xstrndup(line + n, len - n);
			h->last = slot;
		}
	}
}

/* The headers of a part from *p to its empty line: 0, or the error. */
static const char *read_headers(const char **p, const char *end, part_headers *h)
{
	const char *start = *p, *line;
	size_t len;
	int rc;

	while ((rc = header_line(p, end, &line, &len)) > 0) {
		if ((size_t)(*p - start) > CX_FORM_MAX_HEADER)
			return "headers longer than 8192 bytes";
		header_keep(h, line, len);
	}
	if (rc < 0)
		return "headers not ended by an empty line";
	return NULL;
}

/* The field a part's headers describe: NULL, or the error. */
static const char *field_of(part_headers *h, cx_form_field *f)
{
	const char *params;
	const char *t;

	if (!h->disposition || !value_is(h->disposition, "form-data", &params))
		return "no Content-Disposition: form-data";
	if (param_get(params, "name", &f->name) < 0 ||
	    param_get(params, "filename", &f->filename) < 0)
		return "a malformed Content-Disposition";
	if (!f->name)
		return "no field name";
	if (h->type) {
		t = skip_ws(h->type);
		f->content_type = cx_xstrdup(t);
	}
	return NULL;
}

static void add_field(cx_form *form, cx_form_field *f, const char *data, size_t len)
{
	f->data = cx_xmalloc(len + 1);
	memcpy(f->data, data, len);
	f->data[len] = '\0';
	f->len = len;
	form->fields[form->n++] = *f;
}

/* One part from *p (just past its headers' delimiter line) to the next
 * delimiter, which *p is left at: NULL, or the error. */
static const char *read_part(const char **p, const char *body, const char *end,
    const char *delim, size_t dl, cx_form *form)
{
	part_headers h = { NULL, NULL, NULL };
	cx_form_field f = { 0 };
	const char *why, *next, *cend;

	why = read_headers(p, end, &h);
	why = why ? why : field_of(&h, &f);
	free(h.disposition);
	free(h.type);
	if (!why && !(next = find_delimiter(body, *p - 1, end, delim, dl)))
		why = "no closing boundary";
	if (why) {
		free(f.name);
		free(f.filename);
		free(f.content_type);
		return why;
	}
	cend = next - (next > *p);      /* the line end before it is the delimiter's */
	if (cend > *p && cend[-1] == '\r')
		cend--;
	add_field(form, &f, *p, cend > *p ? (size_t)(cend - *p) : 0);
	*p = next;
	return NULL;
}

int cx_multipart_parse(const char *body, size_t len, const char *boundary,
    cx_form *form, cx_err *err)
{
	const char *end = body + len, *p;
	char *delim = cx_xasprintf("--%s", boundary);
	size_t dl = strlen(delim);

	form->fields = cx_xcalloc(CX_FORM_MAX_PARTS, sizeof *form->fields);
	form->n = 0;
	if (!(p = find_delimiter(body, body, end, delim, dl))) {
		free(delim);
		return bad(err, form, "no boundary line", 0);
	}
	for (;;) {
		const char *why;

		p += dl;
		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			break;
		p = skip_ws(p);
		if (p < end && *p == '\r')
			p++;
		if (p >= end || *p != '\n') {
			free(delim);
			return bad(err, form, "a boundary line with trailing text", form->n + 1);
		}
		p++;
		if (form->n == CX_FORM_MAX_PARTS) {
			free(delim);
			return bad(err, form, "more than 256 parts", 0);
		}
		if ((why = read_part(&p, body, end, delim, dl, form))) {
			size_t n = form->n + 1;

			free(delim);
			return bad(err, form, why, n);
		}
	}
	free(delim);
	return 0;
}

static int unhex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* s[0..n) percent-decoded, "+" as a space: a new string, its length in
 * *out_len; NULL when a % escape is malformed. */
static char *form_decode(const char *s, size_t n, size_t *out_len)
{
	char *out = cx_xmalloc(n + 1), *o = out;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			int hi = i + 2 < n ? unhex((unsigned char)s[i + 1]) : -1;
			int lo = i + 2 < n ? unhex((unsigned char)s[i + 2]) : -1;

			if (hi < 0 || lo < 0) {
				free(out);
				return NULL;
			}
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else {
			*o++ = s[i] == '+' ? ' ' : s[i];
		}
	}
	*o = '\0';
	*out_len = (size_t)(o - out);
	return out;
}

int cx_form_urlencoded_parse(const char *body, size_t len, cx_form *form,
    cx_err *err)
{
	const char *p = body, *end = body + len;

	form->fields = cx_xcalloc(CX_FORM_MAX_PARTS, sizeof *form->fields);
	form->n = 0;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		cx_form_field f = { 0 };
		size_t nl;

		if (stop > p) {
			if (form->n == CX_FORM_MAX_PARTS)
				return bad(err, form, "more than 256 fields", 0);
			f.name = form_decode(p, (size_t)((eq ? eq : stop) - p), &nl);
			f.data = eq ? form_decode(eq + 1, (size_t)(stop - eq - 1), &f.len) :
			    form_decode("", 0, &f.len);
			form->fields[form->n++] = f;
			if (!f.name || !f.data)
				return bad(err, form, "a malformed % escape", 0);
		}
		p = stop + 1;
	}
	return 0;
}

const cx_form_field *cx_form_get(const cx_form *form, const char *name)
{
	for (size_t i = form->n; i-- > 0;)
		if (strcmp(form->fields[i].name, name) == 0)
			return &form->fields[i];
	return NULL;
}

void cx_form_free(cx_form *form)
{
	for (size_t i = 0; i < form->n; i++) {
		free(form->fields[i].name);
		free(form->fields[i].filename);
		free(form->fields[i].content_type);
		free(form->fields[i].data);
	}
	free(form->fields);
	form->fields = NULL;
	form->n = 0;
}
