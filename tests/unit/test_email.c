/* Unit tests of the e-mail message (src/providers/email): addresses, IDN
 * domains, header fields, the item's checks and the MIME message. TAP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "emailmsg.h"
#include "exit.h"
#include "json.h"
#include "utf8.h"
#include "xalloc.h"

#include "tap.h"

/* --- addresses ------------------------------------------------------------------ */

static void parses(const char *in, const char *display, const char *local, const char *domain,
    const char *ascii)
{
	cx_email_addr a;
	cx_err err = {0};
	char what[600];
	int rc = cx_email_addr_parse(in, &a, &err);

	snprintf(what, sizeof what, "address parses: %s", in);
	check(rc == 0 && (display ? a.display && strcmp(a.display, display) == 0 : !a.display) &&
	    strcmp(a.local, local) == 0 && strcmp(a.domain, domain) == 0 &&
	    strcmp(a.domain_ascii, ascii) == 0, what);
	if (rc < 0)
		printf("#   %s\n", err.msg);
	cx_email_addr_free(&a);
}

static void refused(const char *in, const char *why)
{
	cx_email_addr a;
	cx_err err = {0};
	char what[600];
	int rc = cx_email_addr_parse(in, &a, &err);

	snprintf(what, sizeof what, "address refused (%s)", why);
	check(rc < 0 && err.code == CX_EXIT_DATAERR && !a.local && !a.domain, what);
	if (rc == 0)
		cx_email_addr_free(&a);
}

static void test_addresses_valid(void)
{
	parses("a@example.com", NULL, "a", "example.com", "example.com");
	parses("  Jane Doe  <Jane.Doe@Example.COM> ", "Jane Doe", "Jane.Doe", "example.com",
	    "example.com");
	parses("<a@example.com>", NULL, "a", "example.com", "example.com");
	parses("\"Smith, John\" <john@example.org>", "Smith, John", "john", "example.org",
	    "example.org");
	parses("\"Jane \\\"JD\\\" Doe\" <j@example.org>", "Jane \"JD\" Doe", "j", "example.org",
	    "example.org");
	parses("user+tag!#$%&'*/=?^_`{|}~-@sub.example.co.uk", NULL,
	    "user+tag!#$%&'*/=?^_`{|}~-", "sub.example.co.uk", "sub.example.co.uk");
	parses("\"john doe\"@example.org", NULL, "\"john doe\"", "example.org", "example.org");
	parses("\"john.doe\"@example.org", NULL, "john.doe", "example.org", "example.org");
	parses("\"a@b\"@example.org", NULL, "\"a@b\"", "example.org", "example.org");
	parses("Zoë Ärger <zoe@Bücher.Example>", "Zoë Ärger", "zoe", "bücher.example",
	    "xn--bcher-kva.example");
	parses("x@münchen.de", NULL, "x", "münchen.de", "xn--mnchen-3ya.de");
	parses("x@日本語.jp", NULL, "x", "日本語.jp", "xn--wgv71a119e.jp");
	/* RFC 3492 7.1 samples (A) and (B) */
	parses("x@\xd9\x84\xd9\x8a\xd9\x87\xd9\x85\xd8\xa7\xd8\xa8\xd8\xaa\xd9\x83\xd9\x84"
	    "\xd9\x85\xd9\x88\xd8\xb4\xd8\xb9\xd8\xb1\xd8\xa8\xd9\x8a\xd8\x9f.example", NULL, "x",
	    "\xd9\x84\xd9\x8a\xd9\x87\xd9\x85\xd8\xa7\xd8\xa8\xd8\xaa\xd9\x83\xd9\x84"
	    "\xd9\x85\xd9\x88\xd8\xb4\xd8\xb9\xd8\xb1\xd8\xa8\xd9\x8a\xd8\x9f.example",
	    "xn--egbpdaj6bu4bxfgehfvwxn.example");
	parses("x@他们为什么不说中文.example", NULL, "x", "他们为什么不说中文.example",
	    "xn--ihqwcrb4cv8a8dqg056pqjye.example");
	/* composed (NFC) first; an ideographic full stop separates labels */
	parses("x@bu\xcc\x88""cher.example", NULL, "x", "bücher.example", "xn--bcher-kva.example");
	parses("x@bücher\xe3\x80\x82""example", NULL, "x", "bücher.example",
	    "xn--bcher-kva.example");
	parses("x@xn--bcher-kva.example", NULL, "x", "xn--bcher-kva.example",
	    "xn--bcher-kva.example");
	/* capitals lowered as IDNA maps them */
	parses("x@BU\xcc\x88""CHER.Example", NULL, "x", "bücher.example", "xn--bcher-kva.example");
	parses("x@BÜCHER.example", NULL, "x", "bücher.example", "xn--bcher-kva.example");
	parses("x@ПРИМЕР.РФ", NULL, "x", "пример.рф", "xn--e1afmkfd.xn--p1ai");
}

static void test_addresses_invalid(void)
{
	refused("", "empty");
	refused("plain", "no @");
	refused("a@", "no domain");
	refused("@example.com", "no local part");
	refused("a@localhost", "a single label");
	refused("a..b@example.com", "two dots in a row");
	refused(".a@example.com", "a leading dot");
	refused("a.@example.com", "a trailing dot");
	refused("a b@example.com", "a space in a dot-atom");
	refused("a@-b.example", "a label starting with a hyphen");
	refused("a@b-.example", "a label ending with a hyphen");
	refused("a@b_c.example", "an underscore in the domain");
	refused("a@example..com", "an empty label");
	refused("a@example.com.", "a trailing dot in the domain");
	refused("a@[192.0.2.1]", "a domain literal");
	refused("a@192.0.2.1", "an all-digit top-level domain");
	refused("a@example.com\r\nBcc: b@example.com", "a line break");
	refused("Name\n <a@example.com>", "a line feed in the display name");
	refused("a\x01@example.com", "a control character");
	refused("(comment) a@example.com", "a comment");
	refused("group: a@example.com;", "a group");
	refused("Smith, John <j@example.org>", "an unquoted special in the display name");
	refused("é@example.com", "a non-ASCII local part");
	refused("\"open@example.com", "an unterminated quoted local part");
	refused("Name <a@example.com", "no closing >");
	refused("a@b@example.com", "two @");
	refused("a@ex ample.com", "a space in the domain");
	refused("\xff@example.com", "not UTF-8");
}

static char *fill(char *buf, char c, size_t n)
{
	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

/* parses or refuses the address printf(fmt, a, b, c, d) */
static void length_case(int ok, const char *why, const char *fmt, const char *a, const char *b,
    const char *c, const char *d)
{
	char *s = cx_xasprintf(fmt, a, b, c, d);
	cx_email_addr addr;
	cx_err err = {0};
	int rc = cx_email_addr_parse(s, &addr, &err);

	check(ok ? rc == 0 : rc < 0 && err.code == CX_EXIT_DATAERR, why);
	if (rc == 0)
		cx_email_addr_free(&addr);
	free(s);
}

static void test_address_lengths(void)
{
	char l64[65], l65[66], a63[64], a64[65], b63[64], c61[62], c62[63], a60[61];

	fill(l64, 'l', 64), fill(l65, 'l', 65), fill(a63, 'a', 63), fill(a64, 'a', 64);
	fill(b63, 'b', 63), fill(c61, 'c', 61), fill(c62, 'c', 62), fill(a60, 'a', 60);
	length_case(1, "a local part of 64 octets is accepted", "%s@example.com%s%s%s", l64, "", "", "");
	length_case(0, "a local part of 65 octets is refused", "%s@example.com%s%s%s", l65, "", "", "");
	length_case(1, "a label of 63 octets is accepted", "a@%s.example%s%s%s", a63, "", "", "");
	length_case(0, "a label of 64 octets is refused", "a@%s.example%s%s%s", a64, "", "", "");
	length_case(1, "an address of 254 octets is accepted", "%s@%s.%s.%s", l64, a63, b63, c61);
	length_case(0, "an address of 255 octets is refused", "%s@%s.%s.%s", l64, a63, b63, c62);
	length_case(0, "a U-label whose A-label passes 63 octets is refused",
	    "a@\xc3\xbc%.56s.example%s%s%s", a60, "", "", "");
	length_case(1, "a U-label whose A-label is 63 octets is accepted",
	    "a@\xc3\xbc%.55s.example%s%s%s", a60, "", "", "");
}

static void header_is(const char *in, const char *want, const char *what)
{
	cx_email_addr a;
	cx_err err;
	char *h = NULL;

	if (cx_email_addr_parse(in, &a, &err) == 0) {
		h = cx_email_addr_header(&a);
		cx_email_addr_free(&a);
	}
	check_str(h, want, what);
	free(h);
}

static void test_address_headers(void)
{
	cx_email_addr a;
	cx_err err;
	char *s;

	header_is("a@example.com", "a@example.com", "no display name: the addr-spec alone");
	header_is("Jane Doe <jane@example.org>", "Jane Doe <jane@example.org>",
	    "a display name of atoms goes as it is");
	header_is("\"Doe, Jane\" <jane@example.org>", "\"Doe, Jane\" <jane@example.org>",
	    "a display name with specials is a quoted-string");
	header_is("\"Jane \\\"JD\\\" Doe\" <j@example.org>", "\"Jane \\\"JD\\\" Doe\" <j@example.org>",
	    "quotes in a display name are escaped");
	header_is("Jane Q. Public <j@example.org>", "\"Jane Q. Public\" <j@example.org>",
	    "a dot in a display name is quoted");
	header_is("Zoë <zoe@bücher.example>", "=?UTF-8?B?Wm/Dqw==?= <zoe@xn--bcher-kva.example>",
	    "a non-ASCII display name is an encoded-word, the domain its A-labels");
	header_is("\"=?x?\" <a@example.com>", "=?UTF-8?B?PT94Pw==?= <a@example.com>",
	    "a display name that looks like an encoded-word is encoded");
	s = cx_xasprintf("\"%0500d\" <a@example.com>", 0);
	if (cx_email_addr_parse(s, &a, &err) == 0) {
		free(s);
		s = cx_email_addr_header(&a);
		cx_email_addr_free(&a);
	}
	check(s && strncmp(s, "=?UTF-8?B?MDAw", 14) == 0 && strlen(s) < 1000,
	    "a display name with a word too long for a line is encoded-words");
	free(s);
	cx_email_addr_parse("Jane <Jane@Bücher.example>", &a, &err);
	s = cx_email_addr_spec(&a);
	check_str(s, "Jane@xn--bcher-kva.example", "the addr-spec keeps the local part's case");
	free(s);
	cx_email_addr_free(&a);
}

/* --- the item ----------------------------------------------------------------- */

static char attachment_path[] = "/tmp/cx-test-email-XXXXXX";

/* A minimal valid item with more (overriding) members appended. */
static int item(const char *more, cx_email_msg *m, const char **path, cx_err *err)
{
	char *text = cx_xasprintf("{\"from\":\"Sender <s@example.com>\",\"to\":[\"r@example.org\"],"
	    "\"subject\":\"Hi\",\"text\":\"hello\"%s}", more);
	jv v = jv_parse(text);
	int rc = cx_email_msg_from_json(v, m, path, err);

	jv_free(v);
	free(text);
	return rc;
}

static void refused_at(const char *more, const char *want, const char *what)
{
	cx_email_msg m;
	const char *path = NULL;
	cx_err err = {0};
	int rc = item(more, &m, &path, &err);

	check(rc < 0 && err.code == CX_EXIT_DATAERR && path && strcmp(path, want) == 0, what);
	if (rc < 0 && strcmp(path, want) != 0)
		printf("#   %s: %s\n", path, err.msg);
	if (rc == 0)
		cx_email_msg_free(&m);
}

static void test_item_valid(void)
{
	cx_email_msg m;
	const char *path;
	cx_err err;
	char *more = cx_xasprintf(",\"to\":\"One <one@example.org>\",\"cc\":[\"c@example.org\"],"
	    "\"bcc\":[\"b1@example.org\",\"b2@example.org\"],\"reply_to\":\"r@example.net\","
	    "\"html\":\"<p>hi</p>\",\"headers\":{\"List-Unsubscribe\":\"<mailto:u@example.com>\"},"
	    "\"template\":{\"id\":\"welcome\",\"version\":7},\"channel\":\"email\","
	    "\"attachments\":[{\"filename\":\"a.pdf\",\"content_type\":\"Application/PDF\","
	    "\"path\":\"%s\"},{\"filename\":\"b\",\"path\":\"%s\"}]", attachment_path,
	    attachment_path);
	int rc = item(more, &m, &path, &err);

	check(rc == 0, "a full item is accepted (unknown members such as channel ignored)");
	if (rc < 0) {
		printf("#   %s: %s\n", path, err.msg);
		free(more);
		return;
	}
	check(m.nto == 1 && strcmp(m.to[0].display, "One") == 0 && m.ncc == 1 && m.nbcc == 2 &&
	    strcmp(m.bcc[1].local, "b2") == 0, "to may be one string; cc and bcc are read");
	check(m.reply_to && strcmp(m.reply_to->domain, "example.net") == 0, "reply_to is read");
	check_str(m.template_version, "7", "a numeric template version is carried as a string");
	check_str(m.template_id, "welcome", "the template id is carried");
	check(m.nheaders == 1 && strcmp(m.headers[0].name, "List-Unsubscribe") == 0,
	    "extra headers are read");
	check(m.natt == 2 && strcmp(m.att[0].content_type, "application/pdf") == 0 &&
	    strcmp(m.att[1].content_type, "application/octet-stream") == 0,
	    "content types are lower-cased, application/octet-stream by default");
	check(!m.message_id && !m.date && !m.tenant && !m.item && !m.correlation_id,
	    "the ids are left for the caller");
	cx_email_msg_free(&m);
	free(more);
}

static void test_item_invalid(void)
{
	char *s;

	refused_at(",\"to\":[],\"cc\":[],\"bcc\":[]", "/to", "an item without recipients is refused");
	refused_at(",\"to\":[\"ok@example.org\",\"bad\"]", "/to/1",
	    "a bad address is refused at its index");
	refused_at(",\"cc\":[\"ok@example.org\",3]", "/cc/1", "a recipient that is not a string");
	refused_at(",\"bcc\":{\"a\":1}", "/bcc", "bcc that is neither a string nor an array");
	refused_at(",\"from\":null", "/from", "an item without from is refused");
	refused_at(",\"reply_to\":\"x\"", "/reply_to", "a bad reply_to is refused");
	refused_at(",\"text\":null", "/text", "an item with neither text nor html is refused");
	refused_at(",\"text\":\"\",\"html\":\"\"", "/text", "empty text and html count as none");
	refused_at(",\"subject\":\"a\\r\\nBcc: x@example.com\"", "/subject",
	    "a line break in the subject is refused");
	refused_at(",\"text\":\"a\\u0000b\"", "/text", "a NUL in the text is refused");
	refused_at(",\"headers\":{\"Bcc\":\"x@example.com\"}", "/headers/Bcc",
	    "a Bcc header is refused");
	refused_at(",\"headers\":{\"content-type\":\"text/plain\"}", "/headers/content-type",
	    "a Content-* header is refused");
	refused_at(",\"headers\":{\"X-CX-Tenant\":\"other\"}", "/headers/X-CX-Tenant",
	    "an X-CX-* header is refused");
	refused_at(",\"headers\":{\"Bad Name\":\"v\"}", "/headers/Bad Name",
	    "a field name with a space is refused");
	refused_at(",\"headers\":{\"a/b:\":\"v\"}", "/headers/a~1b:",
	    "a field name with a colon is refused, its path escaped");
	refused_at(",\"headers\":{\"X-Ok\":\"v\\r\\nBcc: x@example.com\"}", "/headers/X-Ok",
	    "a line break in a header value is refused");
	refused_at(",\"headers\":[]", "/headers", "headers that are not an object");
	refused_at(",\"template\":\"welcome\"", "/template", "a template that is not an object");
	refused_at(",\"attachments\":[{\"filename\":\"a\",\"path\":\"rel/a\"}]",
	    "/attachments/0/path", "an attachment path that is not absolute is refused");
	refused_at(",\"attachments\":[{\"filename\":\"a\",\"path\":\"/tmp\"}]",
	    "/attachments/0/path", "an attachment that is a directory is refused");
	refused_at(",\"attachments\":[{\"filename\":\"a\",\"path\":\"/nonexistent/x\"}]",
	    "/attachments/0/path", "a missing attachment is refused");
	s = cx_xasprintf(",\"attachments\":[{\"filename\":\"../a\",\"path\":\"%s\"}]",
	    attachment_path);
	refused_at(s, "/attachments/0/filename", "a file name with a slash is refused");
	free(s);
	s = cx_xasprintf(",\"attachments\":[{\"filename\":\"a\",\"content_type\":\"pdf\","
	    "\"path\":\"%s\"}]", attachment_path);
	refused_at(s, "/attachments/0/content_type", "a content type without subtype is refused");
	free(s);
	setenv("CX_EMAIL_MAX_ATTACHMENT_BYTES", "5000", 1);
	s = cx_xasprintf(",\"attachments\":[{\"filename\":\"a\",\"path\":\"%s\"},"
	    "{\"filename\":\"b\",\"path\":\"%s\"}]", attachment_path, attachment_path);
	refused_at(s, "/attachments/1", "attachments over CX_EMAIL_MAX_ATTACHMENT_BYTES together");
	free(s);
	unsetenv("CX_EMAIL_MAX_ATTACHMENT_BYTES");
}

/* --- the MIME message ---------------------------------------------------------- */

/* The message of the item (with more members), its ids set; NULL when it
 * fails. */
static char *mime(const char *more, size_t *len)
{
	cx_email_msg m;
	const char *path;
	cx_err err;
	char *out = NULL;

	if (item(more, &m, &path, &err) < 0) {
		printf("#   %s: %s\n", path, err.msg);
		return NULL;
	}
	m.message_id = cx_xstrdup("id.1@example.com");
	m.date = 1700000000;
	m.tenant = cx_xstrdup("acme");
	m.correlation_id = cx_xstrdup("corr\r\nBcc: x@example.com");
	if (cx_email_mime(&m, &out, len, &err) < 0)
		printf("#   %s\n", err.msg);
	cx_email_msg_free(&m);
	return out;
}

/* Every line ends with CRLF (but maybe the last) and is at most max octets. */
static int lines_ok(const char *s, size_t len, size_t max)
{
	for (size_t i = 0, col = 0; i < len; i++, col++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			return 0;
		if (s[i] == '\r' && s[i + 1] != '\n')
			return 0;
		if (s[i] == '\n')
			col = (size_t)-1;
		else if (s[i] != '\r' && col >= max)
			return 0;
	}
	return 1;
}

/* The text of the unfolded field name: in the header section of s. */
static char *field_value(const char *s, const char *name)
{
	const char *end = strstr(s, "\r\n\r\n"), *p = s;
	size_t n = strlen(name);
	cx_buf b = {0};

	while (p && p < end && strncmp(p, name, n) != 0)
		p = strstr(p, "\r\n") ? strstr(p, "\r\n") + 2 : NULL;
	if (!p || p >= end)
		return NULL;
	for (p += n; *p; p++) {
		if (p[0] == '\r' && p[1] == '\n') {
			if (p[2] != ' ' && p[2] != '\t')
				break;
			p++;
			continue;
		}
		cx_buf_add(&b, p, 1);
	}
	cx_buf_add(&b, "", 1);
	return b.s;
}

/* The encoded-words of a Subject value decoded; NULL when one is over 75
 * characters or not UTF-8 by itself. */
static char *decode_words(const char *v)
{
	cx_buf b = {0};

	while (*v) {
		size_t n = strcspn(v, " "), dlen;
		char *word = cx_xstrndup(v, n);
		unsigned char *raw = NULL;

		if (n <= 75 && strncmp(word, "=?UTF-8?B?", 10) == 0 && n > 12)
			word[n - 2] = '\0', raw = cx_crypto_unbase64(word + 10, &dlen);
		free(word);
		if (!raw || !cx_utf8_valid((char *)raw, dlen)) {
			free(raw);
			free(b.s);
			return NULL;
		}
		cx_buf_add(&b, (char *)raw, dlen);
		free(raw);
		v += n + (v[n] == ' ');
	}
	cx_buf_add(&b, "", 1);
	return b.s;
}

static void test_mime_headers(void)
{
	size_t len;
	char *s = mime(",\"to\":[\"To One <t1@example.org>\",\"t2@bücher.example\"],"
	    "\"cc\":\"c@example.org\",\"bcc\":[\"hidden@example.org\"],\"reply_to\":\"r@example.net\","
	    "\"headers\":{\"List-Unsubscribe\":\"<mailto:u@example.com?subject=un>\"}", &len);
	const char *want = "From: Sender <s@example.com>\r\nReply-To: r@example.net\r\n"
	    "To: To One <t1@example.org>, t2@xn--bcher-kva.example\r\nCc: c@example.org\r\n"
	    "Subject: Hi\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
	    "Message-ID: <id.1@example.com>\r\nMIME-Version: 1.0\r\n"
	    "List-Unsubscribe: <mailto:u@example.com?subject=un>\r\n";
	char *v;

	check(s != NULL, "a message is made");
	if (!s)
		return;
	check(strncmp(s, want, strlen(want)) == 0,
	    "From, Reply-To, To, Cc, Subject, Date, Message-ID, MIME-Version, extra headers");
	check(!strstr(s, "hidden") && !strstr(s, "Bcc:"), "no Bcc field, no Bcc address");
	v = field_value(s, "X-CX-Correlation-Id: ");
	check(v && strncmp(v, "=?UTF-8?B?", 10) == 0, "a correlation id with a line break is encoded");
	free(v);
	check(strstr(s, "X-CX-Tenant: acme\r\n") != NULL, "X-CX-Tenant");
	check(strstr(s, "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\nhello") != NULL,
	    "text alone is a text/plain message, 7bit when ASCII");
	check(lines_ok(s, len, 998), "CRLF line endings");
	free(s);
}

static void test_mime_subject(void)
{
	const char *subject = "Grüße aus Köln — ein Betreff, der länger ist als ein "
	    "encoded-word fassen kann, mit 日本語 und Emoji 🎉 am Ende 🎉🎉🎉";
	char *more = cx_xasprintf(",\"subject\":\"%s\"", subject);
	size_t len;
	char *s = mime(more, &len), *v, *d;

	free(more);
	v = s ? field_value(s, "Subject: ") : NULL;
	d = v ? decode_words(v) : NULL;
	check_str(d, subject, "a UTF-8 subject is encoded-words of at most 75 characters, each "
	    "cut at character boundaries, that decode to it");
	check(s && lines_ok(s, len, 78), "the Subject is folded");
	free(d);
	free(v);
	free(s);
	s = mime(",\"subject\":\"about =?utf-8?q?x?= here\"", &len);
	v = s ? field_value(s, "Subject: ") : NULL;
	d = v ? decode_words(v) : NULL;
	check_str(d, "about =?utf-8?q?x?= here", "an ASCII subject that holds =? is encoded");
	free(d);
	free(v);
	free(s);
}

static void test_mime_bodies(void)
{
	size_t len;
	char *s = mime(",\"text\":\".dot first\\nline two\\n\",\"html\":\"<p>é</p>\"", &len);
	const char *p, *q;

	check(s != NULL, "a text and html message is made");
	if (!s)
		return;
	p = strstr(s, "Content-Type: multipart/alternative;\r\n boundary=\"");
	q = strstr(s, "Content-Type: text/html; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n<p>=C3=A9</p>\r\n--");
	check(p && q && strstr(s, "\r\n\r\n.dot first\r\nline two\r\n\r\n--") < q,
	    "multipart/alternative: text (a leading dot intact) then html (quoted-printable)");
	free(s);
	s = mime(",\"text\":\"trailing space \\nx\\u00e9 \\u0001 "
	    "0123456789012345678901234567890123456789012345678901234567890123456789012345"
	    "0123456789012345678901234567890123456789012345678901234567890123456789012345\"", &len);
	check(s && strstr(s, "quoted-printable\r\n\r\ntrailing space=20\r\nx=C3=A9 =01 ") &&
	    lines_ok(strstr(s, "\r\n\r\n"), strlen(strstr(s, "\r\n\r\n")), 76),
	    "quoted-printable: trailing space and controls encoded, soft breaks at 76");
	free(s);
}

static void test_mime_attachments(void)
{
	size_t len;
	char *more = cx_xasprintf(",\"html\":\"<b>x</b>\",\"attachments\":[{\"filename\":\"résumé "
	    "\\\"1\\\".bin\",\"path\":\"%s\"},{\"filename\":\"n \\\"q\\\".txt\",\"path\":\"%s\","
	    "\"content_type\":\"text/plain\"}]", attachment_path, attachment_path);
	char *s = mime(more, &len);
	const char *p;
	cx_buf b64 = {0};
	unsigned char *raw;
	size_t rawlen = 0;
	int ok = 1;

	free(more);
	check(s && strstr(s, "Content-Type: multipart/mixed;\r\n boundary=\"=_cx_") &&
	    strstr(s, "\r\n\r\n--=_cx_") && strstr(s, "Content-Type: multipart/alternative;"),
	    "attachments: multipart/mixed around multipart/alternative");
	if (!s)
		return;
	check(strstr(s, "Content-Disposition: attachment;\r\n filename*=utf-8''r%C3%A9sum%C3%A9%20"
	    "%221%22.bin\r\n") != NULL, "a non-ASCII file name is RFC 2231-encoded");
	check(strstr(s, "Content-Type: text/plain\r\nContent-Disposition: attachment;\r\n "
	    "filename=\"n \\\"q\\\".txt\"\r\n") != NULL, "an ASCII file name is a quoted-string");
	p = strstr(s, "Content-Transfer-Encoding: base64\r\n\r\n");
	for (p = p ? p + 37 : NULL; p && *p != '\r' && *p != '-'; p += strcspn(p, "\r") + 2) {
		ok &= strcspn(p, "\r") <= 76;
		cx_buf_add(&b64, p, strcspn(p, "\r"));
	}
	cx_buf_add(&b64, "", 1);
	raw = cx_crypto_unbase64(b64.s, &rawlen);
	for (size_t i = 0; raw && i < rawlen; i++)
		ok &= raw[i] == (unsigned char)(i * 7);
	check(ok && rawlen == 3000, "the attachment is base64 in lines of 76 that decode to its bytes");
	check(lines_ok(s, len, 998), "CRLF everywhere, no line over 998 octets");
	free(raw);
	free(b64.s);
	free(s);
}

static void test_attachment_read(void)
{
	cx_email_attachment a = { "a", "application/octet-stream", attachment_path };
	cx_email_attachment dir = { "d", "application/octet-stream", "/tmp" };
	char *data = NULL;
	size_t len = 0;
	cx_err err;

	check(cx_email_attachment_read(&a, 3000, &data, &len, &err) == 0 && len == 3000 &&
	    (unsigned char)data[2999] == (unsigned char)(2999 * 7),
	    "an attachment is read up to its size");
	free(data);
	data = NULL;
	check(cx_email_attachment_read(&a, 2999, &data, &len, &err) < 0 && !data &&
	    err.code == CX_EXIT_DATAERR, "an attachment over the bound is refused");
	check(cx_email_attachment_read(&dir, 3000, &data, &len, &err) < 0 && !data,
	    "a directory is not read");
}

static int make_attachment(void)
{
	unsigned char buf[3000];
	int fd = mkstemp(attachment_path);

	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (unsigned char)(i * 7);
	if (fd < 0 || write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) {
		perror("test_email: attachment");
		return -1;
	}
	close(fd);
	return 0;
}

int main(void)
{
	if (make_attachment() < 0)
		return 1;
	unsetenv("CX_EMAIL_MAX_ATTACHMENT_BYTES");
	test_addresses_valid();
	test_addresses_invalid();
	test_address_lengths();
	test_address_headers();
	test_item_valid();
	test_item_invalid();
	test_mime_headers();
	test_mime_subject();
	test_mime_bodies();
	test_mime_attachments();
	test_attachment_read();
	unlink(attachment_path);
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
