/* mime.c: the RFC 5322 message of a cx_email_msg, as SMTP and SES Raw send
 * it: MIME (RFC 2045-2047), attachments (RFC 2183, RFC 2231 file names),
 * CRLF line endings, no line over 998 octets, never a Bcc field. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "emailmsg.h"
#include "encword.h"
#include "exit.h"
#include "json.h"
#include "xalloc.h"

/* RFC 5322 2.1.1: a line is at most 998 octets and should be at most 78;
 * RFC 2045: quoted-printable and base64 lines at most 76. */
#define LINE_MAX_OCTETS 998
#define LINE_FOLD 78
#define ENCODED_LINE 76

static void add(cx_buf *b, const char *s)
{
	cx_buf_add(b, s, strlen(s));
}

/* --- header fields ------------------------------------------------------------ */

/* "Name: value" CRLF, folded before a space where a line would pass 78
 * octets (unfolding gives the value back). */
static void add_field(cx_buf *b, const char *name, const char *value)
{
	size_t col = strlen(name) + 2;
	const char *p = value;

	add(b, name);
	add(b, ": ");
	while (*p) {
		size_t n = strcspn(p + 1, " ") + 1;

		if (*p == ' ' && col + n > LINE_FOLD && p != value) {
			add(b, "\r\n");
			col = 0;
		}
		cx_buf_add(b, p, n);
		col += n;
		p += n;
	}
	add(b, "\r\n");
}

/* Text as it is when it can be, else as encoded-words; words: whether a
 * "=?" in it, or white space first (parsers drop it), must be encoded too
 * (unstructured text such as Subject). */
static void add_text_field(cx_buf *b, const char *name, const char *value, int words)
{
	size_t n = strlen(value);
	char *enc;

	if (cx_email_header_plain(value, n, LINE_MAX_OCTETS - 2 - strlen(name)) &&
	    !(words && (strstr(value, "=?") || *value == ' ' || *value == '\t'))) {
		add_field(b, name, value);
		return;
	}
	enc = cx_email_encoded_words(value, n);
	add_field(b, name, enc);
	free(enc);
}

static void add_addresses(cx_buf *b, const char *name, const cx_email_addr *a, size_t n)
{
	cx_buf list = {0};

	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		char *h = cx_email_addr_header(&a[i]);

		if (i)
			add(&list, ", ");
		add(&list, h);
		free(h);
	}
	cx_buf_add(&list, "", 1);
	add_field(b, name, list.s);
	free(list.s);
}

/* RFC 5322 3.3, in UTC, without the locale's names. */
static void add_date(cx_buf *b, int64_t when)
{
	static const char days[][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
		"Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = when ? (time_t)when : time(NULL);
	struct tm tm;
	char *s;

	gmtime_r(&t, &tm);
	s = cx_xasprintf("%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
	    months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	add_field(b, "Date", s);
	free(s);
}

/* "left@right" of printable ASCII without <, > or white space. */
static int message_id_valid(const char *s)
{
	const char *at = s ? strchr(s, '@') : NULL;

	if (!at || at == s || !at[1] || strlen(s) > LINE_MAX_OCTETS - 16)
		return 0;
	for (; *s; s++)
		if (*s < 0x21 || *s > 0x7e || *s == '<' || *s == '>')
			return 0;
	return 1;
}

static void add_headers(cx_buf *b, const cx_email_msg *m)
{
	char *v = cx_email_addr_header(&m->from);

	add_field(b, "From", v);
	free(v);
	if (m->reply_to)
		add_addresses(b, "Reply-To", m->reply_to, 1);
	add_addresses(b, "To", m->to, m->nto);
	add_addresses(b, "Cc", m->cc, m->ncc);
	add_text_field(b, "Subject", m->subject ? m->subject : "", 1);
	add_date(b, m->date);
	v = cx_xasprintf("<%s>", m->message_id);
	add_field(b, "Message-ID", v);
	free(v);
	add_field(b, "MIME-Version", "1.0");
	for (size_t i = 0; i < m->nheaders; i++)
		add_text_field(b, m->headers[i].name, m->headers[i].value, 0);
	if (m->correlation_id)
		add_text_field(b, "X-CX-Correlation-Id", m->correlation_id, 1);
	if (m->tenant)
		add_text_field(b, "X-CX-Tenant", m->tenant, 1);
}

/* --- bodies ----------------------------------------------------------------- */

/* The length of the line at s; *brk gets the length of the line break
 * after it (CRLF, LF or CR), 0 at the end. */
static size_t line_at(const char *s, size_t *brk)
{
	size_t n = strcspn(s, "\r\n");

	*brk = s[n] == '\r' && s[n + 1] == '\n' ? 2 : s[n] ? 1 : 0;
	return n;
}

/* ASCII text in short lines goes as it is. */
static int seven_bit(const char *s)
{
	for (size_t n, brk; *s; s += n + brk) {
		n = line_at(s, &brk);
		if (n > LINE_FOLD)
			return 0;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)s[i] < 0x20 ? s[i] != '\t' : (unsigned char)s[i] > 0x7e)
				return 0;
	}
	return 1;
}

/* One line as quoted-printable (RFC 2045 6.7), soft breaks keeping lines
 * at 76: white space at its end encoded, as decoders drop it. */
static void qp_line(cx_buf *b, const char *s, size_t n)
{
	size_t col = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char tok[4];
		int literal = (c >= 0x21 && c <= 0x7e && c != '=') ||
		    ((c == ' ' || c == '\t') && i + 1 < n);
		size_t len = literal ? 1 : 3;

		if (literal)
			tok[0] = (char)c;
		else
			snprintf(tok, sizeof tok, "=%02X", c);
		if (col + len > ENCODED_LINE - 1) {
			add(b, "=\r\n");
			col = 0;
		}
		cx_buf_add(b, tok, len);
		col += len;
	}
}

/* A text part: its header fields, a blank line and its lines with CRLF
 * (a line starting with "." as it is: SMTP clients dot-stuff it). */
static void text_part(cx_buf *b, const char *subtype, const char *text)
{
	int plain = seven_bit(text);

	add(b, "Content-Type: text/");
	add(b, subtype);
	add(b, "; charset=utf-8\r\nContent-Transfer-Encoding: ");
	add(b, plain ? "7bit\r\n\r\n" : "quoted-printable\r\n\r\n");
	for (size_t n, brk; *text; text += n + brk) {
		n = line_at(text, &brk);
		if (plain)
			cx_buf_add(b, text, n);
		else
			qp_line(b, text, n);
		if (brk)
			add(b, "\r\n");
	}
}

/* RFC 2231 attribute-char */
static int attribute_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    (c && strchr("!#$&+-.^_`|~", c));
}

/* filename="name", or filename*=utf-8''%XX... when it is not ASCII. */
static void add_filename(cx_buf *b, const char *name)
{
	const unsigned char *p = (const unsigned char *)name;
	int ascii = 1;

	for (; *p; p++)
		ascii &= *p < 0x80;
	if (ascii) {
		add(b, "filename=\"");
		for (p = (const unsigned char *)name; *p; p++) {
			if (*p == '"' || *p == '\\')
				add(b, "\\");
			cx_buf_add(b, (const char *)p, 1);
		}
		add(b, "\"");
		return;
	}
	add(b, "filename*=utf-8''");
	for (p = (const unsigned char *)name; *p; p++) {
		char hex[4];

		snprintf(hex, sizeof hex, "%%%02X", *p);
		cx_buf_add(b, attribute_char(*p) ? (const char *)p : hex, attribute_char(*p) ? 1 : 3);
	}
}

static void attachment_part(cx_buf *b, const cx_email_attachment *a, const char *data,
    size_t len)
{
	char *enc = cx_crypto_base64(data, len);
	size_t n = strlen(enc);

	add(b, "Content-Type: ");
	add(b, a->content_type);
	add(b, "\r\nContent-Disposition: attachment;\r\n ");
	add_filename(b, a->filename);
	add(b, "\r\nContent-Transfer-Encoding: base64\r\n\r\n");
	for (size_t i = 0; i < n; i += ENCODED_LINE) {
		cx_buf_add(b, enc + i, n - i < ENCODED_LINE ? n - i : ENCODED_LINE);
		add(b, "\r\n");
	}
	free(enc);
}

/* --- multipart ------------------------------------------------------------- */

/* A random boundary found in none of the parts; "=_" cannot occur in
 * quoted-printable or base64 text. */
static int boundary(char out[40], const cx_buf *parts, size_t n, cx_err *err)
{
	for (int tries = 0; tries < 8; tries++) {
		unsigned char r[16];
		char hex[33];
		int found = 0;

		if (cx_crypto_random(r, sizeof r) < 0)
			return cx_err_set(err, CX_EXIT_TEMPFAIL, "no random bytes for a MIME boundary");
		cx_crypto_hex(r, sizeof r, hex);
		snprintf(out, 40, "=_cx_%s", hex);
		for (size_t i = 0; i < n && !found; i++)
			found = memmem(parts[i].s, parts[i].len, out, strlen(out)) != NULL;
		if (!found)
			return 0;
	}
	return cx_err_set(err, CX_EXIT_TEMPFAIL, "no MIME boundary outside the content");
}

/* multipart/subtype of parts (freed here) appended to b. */
static int multipart(cx_buf *b, const char *subtype, cx_buf *parts, size_t n, cx_err *err)
{
	char bnd[40];
	int rc = boundary(bnd, parts, n, err);

	if (rc == 0) {
		add(b, "Content-Type: multipart/");
		add(b, subtype);
		add(b, ";\r\n boundary=\"");
		add(b, bnd);
		add(b, "\"\r\n\r\n");
		for (size_t i = 0; i < n; i++) {
			add(b, "--");
			add(b, bnd);
			add(b, "\r\n");
			cx_buf_add(b, parts[i].s, parts[i].len);
			add(b, "\r\n");
		}
		add(b, "--");
		add(b, bnd);
		add(b, "--\r\n");
	}
	for (size_t i = 0; i < n; i++)
		free(parts[i].s);
	return rc;
}

/* text/plain, text/html, or both as multipart/alternative (text first). */
static int alternative(const cx_email_msg *m, cx_buf *b, cx_err *err)
{
	cx_buf parts[2] = {{0}, {0}};

	if (m->text && m->html) {
		text_part(&parts[0], "plain", m->text);
		text_part(&parts[1], "html", m->html);
		return multipart(b, "alternative", parts, 2, err);
	}
	text_part(b, m->text ? "plain" : "html", m->text ? m->text : m->html);
	return 0;
}

/* The body, with the attachments as multipart/mixed. */
static int body(const cx_email_msg *m, cx_buf *b, cx_err *err)
{
	cx_buf *parts;
	int64_t left;
	int rc;

	if (m->natt == 0)
		return alternative(m, b, err);
	if (cx_email_attachment_max(&left, err) < 0)
		return -1;
	parts = cx_xcalloc(m->natt + 1, sizeof *parts);
	rc = alternative(m, &parts[0], err);
	for (size_t i = 0; i < m->natt && rc == 0; i++) {
		char *data;
		size_t len;

		rc = cx_email_attachment_read(&m->att[i], (size_t)left, &data, &len, err);
		if (rc == 0) {
			attachment_part(&parts[i + 1], &m->att[i], data, len);
			left -= (int64_t)len;
			free(data);
		}
	}
	if (rc == 0)
		rc = multipart(b, "mixed", parts, m->natt + 1, err);
	else
		for (size_t i = 0; i <= m->natt; i++)
			free(parts[i].s);
	free(parts);
	return rc;
}

int cx_email_mime(const cx_email_msg *m, char **out, size_t *len, cx_err *err)
{
	cx_buf b = {0};

	if (!message_id_valid(m->message_id))
		return cx_err_set(err, CX_EXIT_DATAERR, "the message has no valid Message-ID");
	if (!m->text && !m->html)
		return cx_err_set(err, CX_EXIT_DATAERR, "the message has neither text nor html");
	add_headers(&b, m);
	if (body(m, &b, err) < 0) {
		free(b.s);
		return -1;
	}
	/* a message is lines: SMTP would add the last line break anyway */
	if (b.len < 2 || memcmp(b.s + b.len - 2, "\r\n", 2) != 0)
		add(&b, "\r\n");
	cx_buf_add(&b, "", 1);
	*out = b.s;
	*len = b.len - 1;
	return 0;
}
