/* json.c: jq programs compiled once and run per value, and jv helpers. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jq.h>

#include "exit.h"
#include "json.h"
#include "utf8.h"
#include "xalloc.h"

struct cx_jq {
	jq_state *jq;
	char errmsg[256];
};

static void capture_error(void *data, jv msg)
{
	cx_jq *q = data;
	jv s = jv_get_kind(msg) == JV_KIND_STRING ? msg : jv_dump_string(msg, 0);

	if (!q->errmsg[0])
		snprintf(q->errmsg, sizeof q->errmsg, "%s", jv_string_value(s));
	jv_free(s);
}

/* jq 1.6 takes program arguments as [{name, value}]. */
static jv args_array(jv args)
{
	jv arr = jv_array();

	if (jv_get_kind(args) != JV_KIND_OBJECT) {
		jv_free(args);
		return arr;
	}
	jv_object_foreach(args, k, v) {
		jv a = jv_object();

		a = jv_object_set(a, jv_string("name"), k);
		a = jv_object_set(a, jv_string("value"), v);
		arr = jv_array_append(arr, a);
	}
	jv_free(args);
	return arr;
}

cx_jq *cx_jq_compile(const char *program, jv args, cx_err *err)
{
	cx_jq *q = cx_xcalloc(1, sizeof *q);

	q->jq = jq_init();
	if (!q->jq) {
		free(q);
		jv_free(args);
		cx_err_set(err, CX_EXIT_TEMPFAIL, "cannot initialize jq");
		return NULL;
	}
	jq_set_error_cb(q->jq, capture_error, q);
	if (!jq_compile_args(q->jq, program, args_array(args))) {
		cx_err_set(err, CX_EXIT_USAGE, "jq program does not compile: %s",
		    q->errmsg[0] ? q->errmsg : "syntax error");
		cx_jq_free(q);
		return NULL;
	}
	return q;
}

cx_jq *cx_jq_compile_file(const char *path, jv args, cx_err *err)
{
	jv text = jv_load_file(path, 1);
	cx_jq *q;

	if (!jv_is_valid(text)) {
		jv_free(text);
		jv_free(args);
		cx_err_set(err, CX_EXIT_CONFIG, "cannot read %s", path);
		return NULL;
	}
	q = cx_jq_compile(jv_string_value(text), args, err);
	if (!q)
		snprintf(err->msg + strlen(err->msg),
		    sizeof err->msg - strlen(err->msg), " (in %s)", path);
	jv_free(text);
	return q;
}

void cx_jq_free(cx_jq *q)
{
	if (!q)
		return;
	jq_teardown(&q->jq);
	free(q);
}

int cx_jq_run(cx_jq *q, jv input, void (*each)(jv out, void *ctx), void *ctx,
    cx_err *err)
{
	jv out;

	jq_start(q->jq, input, 0);
	while (jv_is_valid(out = jq_next(q->jq)))
		each(out, ctx);
	if (jv_invalid_has_msg(jv_copy(out))) {
		jv msg = jv_invalid_get_msg(out);
		jv s = jv_get_kind(msg) == JV_KIND_STRING ? msg : jv_dump_string(msg, 0);

		cx_err_set(err, CX_EXIT_DATAERR, "%s", jv_string_value(s));
		jv_free(s);
		return -1;
	}
	jv_free(out);
	return 0;
}

jv cx_jq_first(cx_jq *q, jv input)
{
	jv out;

	jq_start(q->jq, input, 0);
	out = jq_next(q->jq);
	return out;
}

const char *cx_json_str(jv obj, const char *key)
{
	jv v;
	const char *s;

	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return NULL;
	v = jv_object_get(jv_copy(obj), jv_string(key));
	if (jv_get_kind(v) != JV_KIND_STRING) {
		jv_free(v);
		return NULL;
	}
	s = jv_string_value(v);
	/* obj still holds a reference, so the bytes outlive v. */
	jv_free(v);
	return s;
}

char *cx_json_key_string(jv v)
{
	char *s;

	switch (jv_get_kind(v)) {
	case JV_KIND_INVALID:
	case JV_KIND_NULL:
		jv_free(v);
		return NULL;
	case JV_KIND_STRING:
		s = cx_xstrdup(jv_string_value(v));
		jv_free(v);
		return s;
	default:
		return cx_json_dump(v);
	}
}

char *cx_json_dump(jv v)
{
	cx_buf b = { 0 };

	cx_json_append(&b, v);
	cx_buf_add(&b, "", 1);
	return b.s;
}

void cx_buf_add(cx_buf *b, const char *s, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->s = cx_xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
}

/* A string as libjq 1.6 prints it: printable ASCII as it is, but for the
 * quote and the backslash; short escapes for backspace, tab, newline, form
 * feed and carriage return; \u00xx for the other controls and DEL; the
 * rest (a jv string is valid UTF-8) as it is. */
static void append_string(cx_buf *b, const char *s, size_t n)
{
	const char *run = s, *end = s + n;

	cx_buf_add(b, "\"", 1);
	for (const char *p = s; p < end; p++) {
		unsigned char c = (unsigned char)*p;
		char esc[8];
		const char *e = esc;
		size_t el = 2;

		if (c >= 0x20 && c != 0x7f && c != '"' && c != '\\')
			continue;
		switch (c) {
		case '"': e = "\\\""; break;
		case '\\': e = "\\\\"; break;
		case '\b': e = "\\b"; break;
		case '\t': e = "\\t"; break;
		case '\n': e = "\\n"; break;
		case '\f': e = "\\f"; break;
		case '\r': e = "\\r"; break;
		default: el = (size_t)snprintf(esc, sizeof esc, "\\u%04x", c); break;
		}
		cx_buf_add(b, run, (size_t)(p - run));
		cx_buf_add(b, e, el);
		run = p + 1;
	}
	cx_buf_add(b, run, (size_t)(end - run));
	cx_buf_add(b, "\"", 1);
}

void cx_json_append(cx_buf *b, jv v)
{
	switch (jv_get_kind(v)) {
	case JV_KIND_NULL: cx_buf_add(b, "null", 4); break;
	case JV_KIND_TRUE: cx_buf_add(b, "true", 4); break;
	case JV_KIND_FALSE: cx_buf_add(b, "false", 5); break;
	case JV_KIND_STRING:
		append_string(b, jv_string_value(v), (size_t)jv_string_length_bytes(jv_copy(v)));
		break;
	case JV_KIND_NUMBER: {
		double d = jv_number_value(v);

		/* integers print the same in any form; libjq's own formatting for
		 * the rest (its dtoa differs from printf's %g) */
		if (d == (double)(long long)d && d > -1e15 && d < 1e15 &&
		    !(d == 0 && signbit(d))) {
			char num[24];

			cx_buf_add(b, num, (size_t)snprintf(num, sizeof num, "%lld", (long long)d));
		} else {
			jv s = jv_dump_string(jv_copy(v), 0);

			cx_buf_add(b, jv_string_value(s), (size_t)jv_string_length_bytes(jv_copy(s)));
			jv_free(s);
		}
		break;
	}
	case JV_KIND_ARRAY:
		cx_buf_add(b, "[", 1);
		jv_array_foreach(v, i, x) {
			if (i > 0)
				cx_buf_add(b, ",", 1);
			cx_json_append(b, x);
		}
		cx_buf_add(b, "]", 1);
		break;
	case JV_KIND_OBJECT: {
		int first = 1;

		cx_buf_add(b, "{", 1);
		for (int it = jv_object_iter(v); jv_object_iter_valid(v, it);
		    it = jv_object_iter_next(v, it)) {
			jv k = jv_object_iter_key(v, it);

			if (!first)
				cx_buf_add(b, ",", 1);
			first = 0;
			append_string(b, jv_string_value(k), (size_t)jv_string_length_bytes(jv_copy(k)));
			jv_free(k);
			cx_buf_add(b, ":", 1);
			cx_json_append(b, jv_object_iter_value(v, it));
		}
		cx_buf_add(b, "}", 1);
		break;
	}
	default: {
		jv s = jv_dump_string(jv_copy(v), 0);

		cx_buf_add(b, jv_string_value(s), (size_t)jv_string_length_bytes(jv_copy(s)));
		jv_free(s);
		break;
	}
	}
	jv_free(v);
}

/* The strict check behind cx_json_object_valid: RFC 8259 with no
 * allocation, one pass over the text, containers tracked on a small stack. */

static const char *skip_space(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static int hex4(const char *p, const char *e, unsigned *cp)
{
	*cp = 0;
	if (e - p < 4)
		return 0;
	for (int i = 0; i < 4; i++) {
		int c = (unsigned char)p[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			d = (c | 0x20) - 'a' + 10;
		else
			return 0;
		*cp = *cp << 4 | (unsigned)d;
	}
	return 1;
}

/* p just past the opening quote; returns just past the closing one, or
 * NULL. A high surrogate escape must be followed by a low one (libjq 1.6
 * refuses a lone one). */
/* Whether any of the 8 bytes in w is a quote, a backslash or a control
 * character (the bytes a string scan must stop at). */
static int stop_byte(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
	uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');

	return (((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w)) & highs ? 1 : 0;
}

static const char *string_end(const char *p, const char *e)
{
	while (p < e) {
		unsigned char c;
		unsigned cp, low;
		uint64_t w;

		/* plain text a word at a time, then up to the stop byte */
		while (e - p > 8 && (memcpy(&w, p, 8), !stop_byte(w)))
			p += 8;
		while (p < e && (unsigned char)*p >= 0x20 && *p != '"' && *p != '\\')
			p++;
		if (p >= e)
			return NULL;
		c = (unsigned char)*p++;
		if (c == '"')
			return p;
		if (c < 0x20)
			return NULL;
		if (c != '\\')
			continue;
		if (p >= e)
			return NULL;
		c = (unsigned char)*p++;
		if (c != 'u') {
			if (!c || !strchr("\"\\/bfnrt", c))
				return NULL;
			continue;
		}
		if (!hex4(p, e, &cp))
			return NULL;
		p += 4;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (e - p < 6 || p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, e, &low) ||
			    low < 0xdc00 || low > 0xdfff)
				return NULL;
			p += 6;
		}
	}
	return NULL;
}

static const char *digits_end(const char *p, const char *e)
{
	while (p < e && *p >= '0' && *p <= '9')
		p++;
	return p;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? whose value is finite as a
 * double; returns the end, or NULL. */
static const char *number_end(const char *s, const char *e)
{
	const char *p = s, *q;
	int exponent = 0;

	if (p < e && *p == '-')
		p++;
	if (p < e && *p == '0')
		p++;
	else if (p < e && *p >= '1' && *p <= '9')
		p = digits_end(p, e);
	else
		return NULL;
	if (p < e && *p == '.') {
		if ((q = digits_end(p + 1, e)) == p + 1)
			return NULL;
		p = q;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		if (++p < e && (*p == '+' || *p == '-'))
			p++;
		if ((q = digits_end(p, e)) == p)
			return NULL;
		p = q;
		exponent = 1;
	}
	if (exponent || p - s > 300) {
		char buf[512];

		if ((size_t)(p - s) >= sizeof buf)
			return NULL;
		memcpy(buf, s, (size_t)(p - s));
		buf[p - s] = '\0';
		if (!isfinite(strtod(buf, NULL)))
			return NULL;
	}
	return p;
}

static const char *literal_end(const char *p, const char *e, const char *word)
{
	size_t n = strlen(word);

	return (size_t)(e - p) >= n && memcmp(p, word, n) == 0 ? p + n : NULL;
}

/* A scalar value at p (not a container); returns its end or NULL. */
static const char *scalar_end(const char *p, const char *e)
{
	switch (*p) {
	case '"': return string_end(p + 1, e);
	case 't': return literal_end(p, e, "true");
	case 'f': return literal_end(p, e, "false");
	case 'n': return literal_end(p, e, "null");
	default: return number_end(p, e);
	}
}

/* p at a key's opening quote: returns the start of its value, or NULL. */
static const char *member_value(const char *p, const char *e)
{
	if (p >= e || *p != '"' || !(p = string_end(p + 1, e)))
		return NULL;
	p = skip_space(p, e);
	if (p >= e || *p != ':')
		return NULL;
	p = skip_space(p + 1, e);
	return p < e ? p : NULL;
}

/* 1 when s[0..len) is one strictly valid JSON value; UTF-8 unchecked. */
static int value_valid(const char *s, size_t len)
{
	char closer[CX_JSON_MAX_DEPTH];  /* '}' or ']' of each open container */
	const char *p, *e = s + len;
	int depth = 0;

	p = skip_space(s, e);
	if (p >= e)
		return 0;
	for (;;) {
		/* p: at the start of a value */
		if (*p == '{' || *p == '[') {
			if (depth == CX_JSON_MAX_DEPTH)
				return 0;
			closer[depth++] = *p == '{' ? '}' : ']';
			p = skip_space(p + 1, e);
			if (p >= e)
				return 0;
			if (*p != closer[depth - 1]) {
				if (closer[depth - 1] == '}' && !(p = member_value(p, e)))
					return 0;
				continue;
			}
			depth--;
			p++;
		} else if (!(p = scalar_end(p, e))) {
			return 0;
		}
		/* p: just past a value; close what ends here, then find the next */
		for (;;) {
			if (depth == 0)
				return skip_space(p, e) == e;
			p = skip_space(p, e);
			if (p >= e)
				return 0;
			if (*p != closer[depth - 1])
				break;
			depth--;
			p++;
		}
		if (*p != ',')
			return 0;
		p = skip_space(p + 1, e);
		if (closer[depth - 1] == '}')
			p = member_value(p, e);
		if (!p || p >= e)
			return 0;
	}
}

cx_json_text cx_json_check(const char *s, size_t len)
{
	if (!value_valid(s, len))
		return CX_JSON_INVALID;
	return *skip_space(s, s + len) == '{' ? CX_JSON_OBJECT : CX_JSON_NOT_OBJECT;
}

int cx_json_object_valid(const char *s, size_t len)
{
	return s && cx_utf8_valid(s, len) && cx_json_check(s, len) == CX_JSON_OBJECT;
}

/* Member lookup in text the strict check accepted, so the scans below need
 * no bounds but the end of the text. */

/* p just past an opening quote: just past the closing one, the first quote
 * after an even number of backslashes. */
static const char *quoted_end(const char *p, const char *e)
{
	for (;;) {
		const char *q = memchr(p, '"', (size_t)(e - p));
		size_t slashes = 0;

		while (q - slashes > p && q[-1 - (ptrdiff_t)slashes] == '\\')
			slashes++;
		if (slashes % 2 == 0)
			return q + 1;
		p = q + 1;
	}
}

/* p at a value: just past it. */
static const char *value_end(const char *p, const char *e)
{
	int depth = 0;

	do {
		if (*p == '"') {
			p = quoted_end(p + 1, e);
			continue;
		}
		if (*p == '{' || *p == '[') {
			depth++;
		} else if (*p == '}' || *p == ']') {
			depth--;
		} else if (depth == 0) {
			/* a number or literal on its own: up to a delimiter */
			while (p + 1 < e && p[1] != ',' && p[1] != '}' && p[1] != ']' &&
			    p[1] != ' ' && p[1] != '\t' && p[1] != '\r' && p[1] != '\n')
				p++;
		}
		p++;
	} while (depth > 0);
	return p;
}

int cx_json_member(const char *s, size_t len, const char *name,
    const char **value, size_t *value_len)
{
	const char *e = s + len, *p = skip_space(s, e) + 1, *k, *v;
	size_t n = strlen(name), klen;
	int found = 0;

	for (p = skip_space(p, e); *p == '"'; p = skip_space(p, e)) {
		k = p + 1;
		p = quoted_end(k, e);
		klen = (size_t)(p - 1 - k);
		if (memchr(k, '\\', klen))
			return -1;
		v = skip_space(skip_space(p, e) + 1, e);  /* past the colon */
		p = value_end(v, e);
		if (klen == n && memcmp(k, name, n) == 0) {
			found = 1;  /* libjq keeps the last of repeated names */
			*value = v;
			*value_len = (size_t)(p - v);
		}
		p = skip_space(p, e);
		if (*p == ',')
			p = skip_space(p + 1, e);
	}
	return found;
}
