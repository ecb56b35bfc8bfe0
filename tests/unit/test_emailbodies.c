/* Unit tests of the e-mail providers' request bodies (emailmsg.h, bodies.c)
 * and the multipart/form-data builder (formdata.h): SES Simple or Raw, its
 * tags, SendGrid's mail/send and Mailgun's form, field by field. Prints
 * TAP lines; tests/run counts them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "emailmsg.h"
#include "formdata.h"
#include "json.h"
#include "xalloc.h"

#include "tap.h"

/* A message as cx-publish fills it (the strings are the test's). */
static cx_email_addr from = { "Ann Lee", "ann", "example.org", "example.org" };
static cx_email_addr to[2] = {
	{ NULL, "bob", "example.com", "example.com" },
	{ "Jürgen", "j", "bücher.example", "xn--bcher-kva.example" },
};
static cx_email_addr cc = { NULL, "cc", "example.net", "example.net" };
static cx_email_addr bcc = { NULL, "hidden", "example.net", "example.net" };
static cx_email_addr reply = { NULL, "help", "acme.example", "acme.example" };
static cx_email_header extra = { "List-Unsubscribe", "<mailto:u@acme.example>" };

static cx_email_msg message(void)
{
	cx_email_msg m = { 0 };

	m.from = from;
	m.to = to;
	m.nto = 2;
	m.cc = &cc;
	m.ncc = 1;
	m.bcc = &bcc;
	m.nbcc = 1;
	m.reply_to = &reply;
	m.subject = "Grüße \"now\"";
	m.text = "Hello\n.dot";
	m.html = "<p>Hello</p>";
	m.message_id = "m1.x@example.org";
	m.date = 1767225600;
	m.tenant = "acme";
	m.item = "queue:42";
	m.correlation_id = "c-1";
	return m;
}

/* The compact JSON at PATH (a jq path) in the JSON text BODY; "null" when
 * there is nothing there. A new string. */
static char *at(const char *body, const char *path)
{
	cx_err err = { 0, "" };
	cx_jq *q = cx_jq_compile(path, jv_null(), &err);
	jv v = q ? cx_jq_first(q, jv_parse(body)) : jv_invalid();

	cx_jq_free(q);
	return cx_json_dump(jv_is_valid(v) ? v : jv_null());
}

static void check_at(const char *body, const char *path, const char *want, const char *what)
{
	char *got = at(body, path);

	check_str(got, want, what);
	free(got);
}

/* S as a JSON string; frees S. */
static char *quoted(char *s)
{
	char *q = cx_json_dump(jv_string(s));

	free(s);
	return q;
}

static void test_ses_simple(void)
{
	cx_email_msg m = message();
	cx_err err = { 0, "" };
	char *b = cx_email_ses_body(&m, "transactional", &err);
	char *from_h = quoted(cx_email_addr_header(&m.from));
	char *to_h = cx_xasprintf("[\"bob@example.com\",%s]",
	    quoted(cx_email_addr_header(&to[1])));
	char *reply_h = cx_xasprintf("[%s]", quoted(cx_email_addr_header(&reply)));
	char *got;

	check(b != NULL, "SES: a message without attachments or headers has a body");
	check_at(b, ".FromEmailAddress", from_h, "SES: FromEmailAddress is the From header form");
	got = at(b, ".Destination.ToAddresses");
	check(strstr(to_h, "xn--bcher-kva.example") != NULL && !strcmp(got, to_h),
	    "SES: ToAddresses in header form, the domain in A-labels");
	free(got);
	check_at(b, ".Destination.CcAddresses", "[\"cc@example.net\"]", "SES: CcAddresses");
	check_at(b, ".Destination.BccAddresses", "[\"hidden@example.net\"]", "SES: BccAddresses");
	check_at(b, ".ReplyToAddresses", reply_h, "SES: ReplyToAddresses");
	check_at(b, ".Content|keys", "[\"Simple\"]", "SES: Simple content without attachments or headers");
	check_at(b, ".Content.Simple.Subject", "{\"Data\":\"Grüße \\\"now\\\"\",\"Charset\":\"UTF-8\"}",
	    "SES: the subject as given, Charset UTF-8");
	check_at(b, ".Content.Simple.Body.Text", "{\"Data\":\"Hello\\n.dot\",\"Charset\":\"UTF-8\"}",
	    "SES: Body.Text");
	check_at(b, ".Content.Simple.Body.Html", "{\"Data\":\"<p>Hello</p>\",\"Charset\":\"UTF-8\"}",
	    "SES: Body.Html");
	check_at(b, ".EmailTags", "[{\"Name\":\"cx_tenant\",\"Value\":\"acme\"},"
	    "{\"Name\":\"cx_item\",\"Value\":\"queue-42\"},"
	    "{\"Name\":\"cx_correlation_id\",\"Value\":\"c-1\"}]",
	    "SES: EmailTags carry tenant, item (\":\" as \"-\") and correlation id");
	check_at(b, ".ConfigurationSetName", "\"transactional\"", "SES: ConfigurationSetName when set");
	free(b);
	m.html = NULL;
	b = cx_email_ses_body(&m, NULL, &err);
	check_at(b, ".Content.Simple.Body|keys", "[\"Text\"]", "SES: text only has no Html");
	check_at(b, "has(\"ConfigurationSetName\")", "false", "SES: no ConfigurationSetName unset");
	free(b);
	free(from_h);
	free(to_h);
	free(reply_h);
}

/* The Raw message of body B, decoded ("" when there is none). */
static char *raw_of(const char *b)
{
	char *data = at(b, ".Content.Raw.Data");     /* "...": base64 needs no escapes */
	size_t n = strlen(data), len = 0;
	unsigned char *raw = NULL;
	char *s;

	if (n > 2) {
		data[n - 1] = '\0';
		raw = cx_crypto_unbase64(data + 1, &len);
	}
	s = raw ? cx_xstrndup((char *)raw, len) : cx_xstrdup("");
	free(raw);
	free(data);
	return s;
}

static void test_ses_raw(const char *file)
{
	cx_email_msg m = message();
	cx_email_attachment att = { "a.pdf", "application/pdf", (char *)file };
	cx_err err = { 0, "" };
	char *b, *raw, *id = cx_xasprintf("Message-ID: <%s>", m.message_id);

	m.headers = &extra;
	m.nheaders = 1;
	b = cx_email_ses_body(&m, NULL, &err);
	check_at(b, ".Content|keys", "[\"Raw\"]", "SES: an extra header makes the content Raw");
	raw = raw_of(b);
	check(strstr(raw, id) && strstr(raw, "List-Unsubscribe: <mailto:u@acme.example>") &&
	    !strstr(raw, "\nBcc:") && !strstr(raw, "\nBCC:"),
	    "SES: Raw is cx's message, base64: its Message-ID, the header, no Bcc");
	check_at(b, ".Destination.BccAddresses", "[\"hidden@example.net\"]",
	    "SES: Raw still names the Bcc recipients in Destination");
	check_at(b, "has(\"ReplyToAddresses\")", "false",
	    "SES: Raw leaves Reply-To to the message");
	check_at(b, ".EmailTags|length", "3", "SES: Raw carries the tags too");
	free(raw);
	free(b);
	m.headers = NULL;
	m.nheaders = 0;
	m.att = &att;
	m.natt = 1;
	b = cx_email_ses_body(&m, NULL, &err);
	check_at(b, ".Content|keys", "[\"Raw\"]", "SES: an attachment makes the content Raw");
	raw = raw_of(b);
	check(strstr(raw, id) && strstr(raw, "a.pdf"), "SES: the Raw message holds the attachment");
	free(raw);
	free(b);
	free(id);
	att.path = "/nonexistent/cx-test/a.pdf";
	err.code = 0;
	check(cx_email_ses_body(&m, NULL, &err) == NULL && err.code != 0,
	    "SES: an attachment that cannot be read makes no body, with an error");
}

static void test_ses_tags(void)
{
	cx_email_msg m = message();
	cx_err err = { 0, "" };
	char long_id[400], want[300], *b;

	m.tenant = "ac.me";
	m.item = "command:a:b";
	m.correlation_id = "a.b/c é:d";
	b = cx_email_ses_body(&m, NULL, &err);
	check_at(b, "[.EmailTags[].Value]", "[\"ac_me\",\"command-a-b\",\"a_b_c___d\"]",
	    "SES: other characters in tag values become \"_\", one per character");
	free(b);
	memset(long_id, 'x', 399);
	long_id[399] = '\0';
	m.correlation_id = long_id;
	m.item = NULL;
	b = cx_email_ses_body(&m, NULL, &err);
	snprintf(want, sizeof want, "\"%.*s\"", 256, long_id);
	check_at(b, ".EmailTags[1].Value", want, "SES: a tag value keeps its first 256 characters");
	check_at(b, "[.EmailTags[].Name]", "[\"cx_tenant\",\"cx_correlation_id\"]",
	    "SES: an id the message lacks has no tag");
	free(b);
}

static void test_sendgrid(const char *file)
{
	cx_email_msg m = message();
	cx_email_attachment att = { "a b.pdf", "application/pdf", (char *)file };
	cx_err err = { 0, "" };
	char *b;

	m.headers = &extra;
	m.nheaders = 1;
	m.att = &att;
	m.natt = 1;
	b = cx_email_sendgrid_body(&m, &err);
	check(b != NULL, "SendGrid: the message has a body");
	check_at(b, ".personalizations", "[{\"to\":[{\"email\":\"bob@example.com\"},"
	    "{\"email\":\"j@xn--bcher-kva.example\",\"name\":\"Jürgen\"}],"
	    "\"cc\":[{\"email\":\"cc@example.net\"}],\"bcc\":[{\"email\":\"hidden@example.net\"}]}]",
	    "SendGrid: one personalization with to, cc and bcc, A-label domains, names as given");
	check_at(b, ".from", "{\"email\":\"ann@example.org\",\"name\":\"Ann Lee\"}", "SendGrid: from");
	check_at(b, ".reply_to", "{\"email\":\"help@acme.example\"}", "SendGrid: reply_to");
	check_at(b, ".subject", "\"Grüße \\\"now\\\"\"", "SendGrid: subject");
	check_at(b, ".content", "[{\"type\":\"text/plain\",\"value\":\"Hello\\n.dot\"},"
	    "{\"type\":\"text/html\",\"value\":\"<p>Hello</p>\"}]",
	    "SendGrid: content, text/plain first");
	check_at(b, ".attachments", "[{\"content\":\"JVBERi0xLjQKAP8K\",\"filename\":\"a b.pdf\","
	    "\"type\":\"application/pdf\",\"disposition\":\"attachment\"}]",
	    "SendGrid: the attachment's bytes in base64, filename, type, disposition");
	check_at(b, ".headers", "{\"List-Unsubscribe\":\"<mailto:u@acme.example>\","
	    "\"Message-ID\":\"<m1.x@example.org>\"}", "SendGrid: headers: the extra one and Message-ID");
	check_at(b, ".custom_args", "{\"cx_tenant\":\"acme\",\"cx_item\":\"queue:42\","
	    "\"cx_correlation_id\":\"c-1\"}", "SendGrid: custom_args carry the ids as they are");
	free(b);
	m.text = NULL;
	m.reply_to = NULL;
	m.natt = 0;
	b = cx_email_sendgrid_body(&m, &err);
	check_at(b, "[.content[].type, has(\"reply_to\"), has(\"attachments\")]",
	    "[\"text/html\",false,false]", "SendGrid: only what the message has");
	free(b);
}

/* The boundary of a multipart/form-data CONTENT_TYPE. */
static const char *boundary_of(const char *content_type)
{
	const char *p = strstr(content_type, "; boundary=");

	return p ? p + 11 : "";
}

typedef struct {
	char head[160];
	const char *data;
	size_t len;
} form_part;

/* Splits the form BODY (LEN bytes) under boundary B into at most MAX
 * parts: their number, or -1 when BODY is not such a form. */
static int split_form(const char *body, size_t len, const char *b, form_part *parts, int max)
{
	char delim[128];
	size_t dl = (size_t)snprintf(delim, sizeof delim, "\r\n--%s", b);
	const char *p = body, *end = body + len;
	int n = 0;

	if (len < dl - 2 || memcmp(p, delim + 2, dl - 2) != 0)
		return -1;
	p += dl - 2;
	while (n < max) {
		const char *head_end, *next;

		if (end - p == 4 && !memcmp(p, "--\r\n", 4))
			return n;
		if (end - p < 2 || memcmp(p, "\r\n", 2) != 0)
			return -1;
		p += 2;
		head_end = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
		if (!head_end || head_end - p >= (long)sizeof parts[n].head)
			return -1;
		memcpy(parts[n].head, p, (size_t)(head_end - p));
		parts[n].head[head_end - p] = '\0';
		parts[n].data = head_end + 4;
		next = memmem(parts[n].data, (size_t)(end - parts[n].data), delim, dl);
		if (!next)
			return -1;
		parts[n].len = (size_t)(next - parts[n].data);
		p = next + dl;
		n++;
	}
	return -1;
}

static int part_is(const form_part *p, const char *name, const char *value)
{
	char head[160];

	snprintf(head, sizeof head, "Content-Disposition: form-data; name=\"%s\"", name);
	return !strcmp(p->head, head) && p->len == strlen(value) && !memcmp(p->data, value, p->len);
}

#define PDF "%PDF-1.4\n\0\xff\n"        /* the attachment: a NUL, a byte > 127 */

static void test_mailgun(const char *file)
{
	cx_email_msg m = message();
	cx_email_attachment att = { "a\"b.pdf", "application/pdf", (char *)file };
	cx_err err = { 0, "" };
	char *body, *type, *from_h = cx_email_addr_header(&m.from), *j = cx_email_addr_header(&to[1]);
	size_t len;
	form_part p[20];
	int n;

	m.headers = &extra;
	m.nheaders = 1;
	m.att = &att;
	m.natt = 1;
	check(cx_email_mailgun_form(&m, &body, &len, &type, &err) == 0, "Mailgun: the message has a form");
	check(!strncmp(type, "multipart/form-data; boundary=", 30) && strlen(boundary_of(type)) >= 32,
	    "Mailgun: the Content-Type names a long random boundary");
	n = split_form(body, len, boundary_of(type), p, 20);
	check(n == 15, "Mailgun: the body is a form of 15 parts");
	check(n == 15 && part_is(&p[0], "from", from_h) && part_is(&p[1], "to", "bob@example.com") &&
	    part_is(&p[2], "to", j) && part_is(&p[3], "cc", "cc@example.net") &&
	    part_is(&p[4], "bcc", "hidden@example.net"),
	    "Mailgun: from, one to field per recipient, cc, bcc (header forms)");
	check(n == 15 && part_is(&p[5], "subject", "Grüße \"now\"") &&
	    part_is(&p[6], "text", "Hello\n.dot") && part_is(&p[7], "html", "<p>Hello</p>"),
	    "Mailgun: subject, text and html as given");
	check(n == 15 && !strcmp(p[8].head, "Content-Disposition: form-data; name=\"attachment\"; "
	    "filename=\"a%22b.pdf\"\r\nContent-Type: application/pdf") &&
	    p[8].len == sizeof PDF - 1 && !memcmp(p[8].data, PDF, p[8].len),
	    "Mailgun: the attachment a file part, bytes intact, a quote in its name as %22");
	check(n == 15 && part_is(&p[9], "h:Reply-To", "help@acme.example") &&
	    part_is(&p[10], "h:Message-Id", "<m1.x@example.org>") &&
	    part_is(&p[11], "h:List-Unsubscribe", "<mailto:u@acme.example>"),
	    "Mailgun: h:Reply-To, h:Message-Id and h: for the extra header");
	check(n == 15 && part_is(&p[12], "v:cx_tenant", "acme") &&
	    part_is(&p[13], "v:cx_item", "queue:42") && part_is(&p[14], "v:cx_correlation_id", "c-1"),
	    "Mailgun: v: variables carry the ids as they are");
	free(body);
	free(type);
	free(from_h);
	free(j);
	att.path = "/nonexistent/cx-test/a.pdf";
	err.code = 0;
	body = type = NULL;
	check(cx_email_mailgun_form(&m, &body, &len, &type, &err) == -1 && err.code != 0 &&
	    !body && !type, "Mailgun: an attachment that cannot be read makes no form");
}

static void test_formdata(void)
{
	cx_formdata *f = cx_formdata_new();
	char *body, *type, *body2, *type2;
	size_t len, len2;
	cx_err err = { 0, "" };
	form_part p[4];

	cx_formdata_field(f, "a\r\nb", "--cx-0000 looks like a delimiter");
	cx_formdata_file(f, "f", "x.bin", NULL, "\0\1", 2);
	cx_formdata_file(f, "g", "y.txt", "text/plain\r\nX-Evil: 1", "y", 1);
	check(cx_formdata_finish(f, &body, &len, &type, &err) == 0, "formdata: a form is built");
	check(split_form(body, len, boundary_of(type), p, 4) == 3 &&
	    !strcmp(p[0].head, "Content-Disposition: form-data; name=\"a%0D%0Ab\"") &&
	    !strcmp(p[1].head, "Content-Disposition: form-data; name=\"f\"; filename=\"x.bin\"\r\n"
	    "Content-Type: application/octet-stream") && p[1].len == 2 && !memcmp(p[1].data, "\0\1", 2) &&
	    !strcmp(p[2].head, "Content-Disposition: form-data; name=\"g\"; filename=\"y.txt\"\r\n"
	    "Content-Type: application/octet-stream"),
	    "formdata: line breaks in names encoded, no type is octet-stream, a type with a line break too");
	f = cx_formdata_new();
	cx_formdata_field(f, "a", "");
	check(cx_formdata_finish(f, &body2, &len2, &type2, &err) == 0 &&
	    strcmp(boundary_of(type), boundary_of(type2)) != 0 &&
	    split_form(body2, len2, boundary_of(type2), p, 4) == 1 && p[0].len == 0,
	    "formdata: every form draws its own boundary; an empty value is an empty part");
	free(body);
	free(type);
	free(body2);
	free(type2);
	cx_formdata_free(cx_formdata_new());
}

int main(void)
{
	char file[] = "/tmp/cx-emailbodies-XXXXXX";
	int fd = mkstemp(file);

	if (fd < 0 || write(fd, PDF, sizeof PDF - 1) != (ssize_t)(sizeof PDF - 1)) {
		printf("not ok 1 - a temporary attachment is written\n1..1\n");
		return 1;
	}
	close(fd);
	test_ses_simple();
	test_ses_raw(file);
	test_ses_tags();
	test_sendgrid(file);
	test_mailgun(file);
	test_formdata();
	unlink(file);
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
