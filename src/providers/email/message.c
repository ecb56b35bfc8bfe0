/* message.c: an e-mail from an item or command line, checked (addresses,
 * header fields, attachments), and the attachments' bytes; mime.c makes
 * the message itself. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "crypto.h"
#include "emailmsg.h"
#include "encword.h"
#include "exit.h"
#include "json.h"
#include "xalloc.h"

#define MAX_ATTACHMENT_DEFAULT 10485760
/* RFC 5322 2.1.1: a line is at most 998 octets, and should be at most 78 */
#define LINE_MAX_OCTETS 998
#define LINE_FOLD 78
#define FILENAME_MAX_OCTETS 255

/* --- from JSON ------------------------------------------------------------- */

/* The JSON path of the field at fault: a message is checked on one thread. */
static _Thread_local char fault[256];

static int at(const char **path, cx_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Fails with *path = fault (set by the caller) and the reason in err. */
static int at(const char **path, cx_err *err, const char *fmt, ...)
{
	va_list ap;
	char msg[400];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	*path = fault;
	return cx_err_set(err, CX_EXIT_DATAERR, "%s", msg);
}

static void fault_set(const char *key, long index)
{
	if (index < 0)
		snprintf(fault, sizeof fault, "/%s", key);
	else
		snprintf(fault, sizeof fault, "/%s/%ld", key, index);
}

/* fault + "/" + name escaped as RFC 6901 says (truncated when long). */
static void fault_add(const char *name)
{
	size_t n = strlen(fault);

	if (n + 1 < sizeof fault)
		fault[n++] = '/';
	for (; *name && n + 3 < sizeof fault; name++) {
		if (*name == '~' || *name == '/') {
			fault[n++] = '~';
			fault[n++] = *name == '~' ? '0' : '1';
		} else {
			fault[n++] = *name;
		}
	}
	fault[n] = '\0';
}

static jv field(jv obj, const char *key)
{
	jv v = jv_object_get(jv_copy(obj), jv_string(key));

	return jv_is_valid(v) ? v : jv_null();
}

/* A string value (consumed) into *out; -1 when it is not a string or
 * holds a NUL. */
static int take_string(jv v, char **out, const char **path, cx_err *err)
{
	int rc = 0;

	if (jv_get_kind(v) != JV_KIND_STRING)
		rc = at(path, err, "not a string");
	else if (strlen(jv_string_value(v)) != (size_t)jv_string_length_bytes(jv_copy(v)))
		rc = at(path, err, "holds a NUL character");
	else
		*out = cx_xstrdup(jv_string_value(v));
	jv_free(v);
	return rc;
}

/* 1 when s holds a control character other than a tab. */
static int has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 ? *s != '\t' : *s == 0x7f)
			return 1;
	return 0;
}

static int ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

static int take_address(jv v, cx_email_addr *out, const char **path, cx_err *err)
{
	char *s = NULL;
	int rc;

	if (take_string(v, &s, path, err) < 0)
		return -1;
	rc = cx_email_addr_parse(s, out, err);
	free(s);
	if (rc < 0)
		return at(path, err, "%s", err ? err->msg : "not a valid e-mail address");
	return 0;
}

/* key: absent, null, one address or an array of them. */
static int address_list(jv item, const char *key, cx_email_addr **out, size_t *n,
    const char **path, cx_err *err)
{
	jv v = field(item, key);
	int rc = 0;

	fault_set(key, -1);
	if (jv_get_kind(v) == JV_KIND_STRING) {
		*out = cx_xcalloc(1, sizeof **out);
		*n = 1;
		return take_address(v, *out, path, err);
	}
	if (jv_get_kind(v) == JV_KIND_NULL)
		return 0;
	if (jv_get_kind(v) != JV_KIND_ARRAY) {
		jv_free(v);
		return at(path, err, "not an address or an array of addresses");
	}
	*out = cx_xcalloc((size_t)jv_array_length(jv_copy(v)) + 1, sizeof **out);
	jv_array_foreach(v, i, a) {
		if (rc < 0) {
			jv_free(a);
			continue;
		}
		fault_set(key, i);
		if ((rc = take_address(a, &(*out)[i], path, err)) == 0)
			(*n)++;
	}
	jv_free(v);
	return rc;
}

static int addresses(jv item, cx_email_msg *m, const char **path, cx_err *err)
{
	jv v;

	fault_set("from", -1);
	v = field(item, "from");
	if (jv_get_kind(v) == JV_KIND_NULL)
		return at(path, err, "missing");
	if (take_address(v, &m->from, path, err) < 0)
		return -1;
	v = field(item, "reply_to");
	fault_set("reply_to", -1);
	if (jv_get_kind(v) != JV_KIND_NULL) {
		m->reply_to = cx_xcalloc(1, sizeof *m->reply_to);
		if (take_address(v, m->reply_to, path, err) < 0)
			return -1;
	} else {
		jv_free(v);
	}
	if (address_list(item, "to", &m->to, &m->nto, path, err) < 0 ||
	    address_list(item, "cc", &m->cc, &m->ncc, path, err) < 0 ||
	    address_list(item, "bcc", &m->bcc, &m->nbcc, path, err) < 0)
		return -1;
	fault_set("to", -1);
	return m->nto + m->ncc + m->nbcc ? 0 : at(path, err, "no recipient in to, cc or bcc");
}

/* An optional string field; "" when absent. */
static int optional_string(jv item, const char *key, char **out, const char **path,
    cx_err *err)
{
	jv v = field(item, key);

	fault_set(key, -1);
	if (jv_get_kind(v) == JV_KIND_NULL) {
		jv_free(v);
		return 0;
	}
	return take_string(v, out, path, err);
}

static int content(jv item, cx_email_msg *m, const char **path, cx_err *err)
{
	if (optional_string(item, "subject", &m->subject, path, err) < 0)
		return -1;
	if (!m->subject)
		m->subject = cx_xstrdup("");
	else if (has_control(m->subject))
		return at(path, err, "holds a line break or a control character");
	if (optional_string(item, "text", &m->text, path, err) < 0 ||
	    optional_string(item, "html", &m->html, path, err) < 0)
		return -1;
	if (m->text && !*m->text) {
		free(m->text);
		m->text = NULL;
	}
	if (m->html && !*m->html) {
		free(m->html);
		m->html = NULL;
	}
	fault_set("text", -1);
	return m->text || m->html ? 0 : at(path, err, "neither text nor html is given");
}

/* A template's id or version: a string or a number, carried as a string. */
static int template_part(jv tpl, const char *key, char **out, const char **path,
    cx_err *err)
{
	jv v = field(tpl, key);

	fault_set("template", -1);
	fault_add(key);
	if (jv_get_kind(v) == JV_KIND_NUMBER) {
		*out = cx_json_key_string(v);
		return 0;
	}
	if (jv_get_kind(v) == JV_KIND_NULL) {
		jv_free(v);
		return 0;
	}
	if (take_string(v, out, path, err) < 0)
		return -1;
	return has_control(*out) ? at(path, err, "holds a control character") : 0;
}

static int template(jv item, cx_email_msg *m, const char **path, cx_err *err)
{
	jv tpl = field(item, "template");
	int rc = 0;

	fault_set("template", -1);
	if (jv_get_kind(tpl) == JV_KIND_OBJECT)
		rc = template_part(tpl, "id", &m->template_id, path, err) < 0 ||
		    template_part(tpl, "version", &m->template_version, path, err) < 0 ? -1 : 0;
	else if (jv_get_kind(tpl) != JV_KIND_NULL)
		rc = at(path, err, "not an object {\"id\", \"version\"}");
	jv_free(tpl);
	return rc;
}

/* RFC 5322 field-name: printable ASCII but the colon. */
static int field_name(const char *s)
{
	if (!*s || strlen(s) > LINE_FOLD - 2)
		return 0;
	for (; *s; s++)
		if (*s < 0x21 || *s > 0x7e || *s == ':')
			return 0;
	return 1;
}

/* The fields cx writes itself. */
static int reserved_name(const char *s)
{
	static const char *const names[] = { "From", "To", "Cc", "Bcc", "Reply-To", "Subject",
		"Date", "Message-ID", "MIME-Version" };

	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (strcasecmp(s, names[i]) == 0)
			return 1;
	return strncasecmp(s, "Content-", 8) == 0 || strncasecmp(s, "X-CX-", 5) == 0;
}

static int header(jv value, const char *name, cx_email_header *h, const char **path,
    cx_err *err)
{
	fault_set("headers", -1);
	fault_add(name);
	if (!field_name(name)) {
		jv_free(value);
		return at(path, err, "not a header field name");
	}
	if (reserved_name(name)) {
		jv_free(value);
		return at(path, err, "a header cx sets itself");
	}
	if (take_string(value, &h->value, path, err) < 0)
		return -1;
	h->name = cx_xstrdup(name);
	if (has_control(h->value))
		return at(path, err, "holds a line break or a control character");
	/* non-ASCII text goes as encoded-words, which fold anywhere */
	if (ascii(h->value) &&
	    !cx_email_header_plain(h->value, strlen(h->value), LINE_MAX_OCTETS - 2 - strlen(name)))
		return at(path, err, "a word is too long for a header line");
	return 0;
}

static int headers(jv item, cx_email_msg *m, const char **path, cx_err *err)
{
	jv obj = field(item, "headers"), keys;
	int rc = 0;

	fault_set("headers", -1);
	if (jv_get_kind(obj) == JV_KIND_NULL)
		return 0;
	if (jv_get_kind(obj) != JV_KIND_OBJECT) {
		jv_free(obj);
		return at(path, err, "not an object of header fields");
	}
	keys = jv_keys(jv_copy(obj));
	m->headers = cx_xcalloc((size_t)jv_array_length(jv_copy(keys)) + 1, sizeof *m->headers);
	jv_array_foreach(keys, i, k) {
		if (rc == 0) {
			rc = header(jv_object_get(jv_copy(obj), jv_copy(k)), jv_string_value(k),
			    &m->headers[i], path, err);
			m->nheaders++;
		}
		jv_free(k);
	}
	jv_free(keys);
	jv_free(obj);
	return rc;
}

/* A file name for Content-Disposition: no path, no control character. */
static int attachment_filename(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > FILENAME_MAX_OCTETS || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '/' || *s == '\\')
			return 0;
	return 1;
}

/* RFC 2045 token */
static size_t mime_token(const char *s)
{
	size_t n = 0;

	while (s[n] > 0x20 && s[n] < 0x7f && !strchr("()<>@,;:\\\"/[]?=", s[n]))
		n++;
	return n;
}

/* type/subtype and nothing else, lower-cased in place. */
static int content_type(char *s)
{
	size_t t = mime_token(s);

	if (t == 0 || s[t] != '/' || mime_token(s + t + 1) == 0 || s[t + 1 + mime_token(s + t + 1)])
		return 0;
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
	return 1;
}

/* One attachment; *total adds its size (at most max together). */
static int attachment(jv a, cx_email_attachment *out, int64_t max, int64_t *total,
    const char **path, cx_err *err)
{
	struct stat st;
	size_t base = strlen(fault);
	jv ct;

	if (jv_get_kind(a) != JV_KIND_OBJECT)
		return at(path, err, "not an object {\"filename\", \"content_type\", \"path\"}");
	fault_add("filename");
	if (take_string(field(a, "filename"), &out->filename, path, err) < 0)
		return -1;
	if (!attachment_filename(out->filename))
		return at(path, err, "not a file name (no /, no control character, at most 255 octets)");
	fault[base] = '\0';
	fault_add("content_type");
	ct = field(a, "content_type");
	if (jv_get_kind(ct) == JV_KIND_NULL)
		out->content_type = cx_xstrdup("application/octet-stream");
	else if (take_string(ct, &out->content_type, path, err) < 0)
		return -1;
	if (!content_type(out->content_type))
		return at(path, err, "not a MIME type/subtype");
	fault[base] = '\0';
	fault_add("path");
	if (take_string(field(a, "path"), &out->path, path, err) < 0)
		return -1;
	if (out->path[0] != '/')
		return at(path, err, "not an absolute path");
	if (stat(out->path, &st) < 0)
		return at(path, err, "cannot be read: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return at(path, err, "not a regular file");
	*total += st.st_size;
	fault[base] = '\0';
	if (*total > max)
		return at(path, err, "the attachments are larger than %lld bytes together "
		    "(CX_EMAIL_MAX_ATTACHMENT_BYTES)", (long long)max);
	return 0;
}

int cx_email_attachment_max(int64_t *max, cx_err *err)
{
	if (cx_config_int("CX_EMAIL_MAX_ATTACHMENT_BYTES", MAX_ATTACHMENT_DEFAULT, max, err) < 0)
		return -1;
	if (*max < 0)
		return cx_err_set(err, CX_EXIT_CONFIG, "CX_EMAIL_MAX_ATTACHMENT_BYTES is negative");
	return 0;
}

static int attachments(jv item, cx_email_msg *m, const char **path, cx_err *err)
{
	jv list = field(item, "attachments");
	int64_t max, total = 0;
	int rc = 0;

	fault_set("attachments", -1);
	if (jv_get_kind(list) == JV_KIND_NULL)
		return 0;
	if (jv_get_kind(list) != JV_KIND_ARRAY) {
		jv_free(list);
		return at(path, err, "not an array");
	}
	if (cx_email_attachment_max(&max, err) < 0) {
		jv_free(list);
		*path = fault;
		return -1;
	}
	m->att = cx_xcalloc((size_t)jv_array_length(jv_copy(list)) + 1, sizeof *m->att);
	jv_array_foreach(list, i, a) {
		if (rc == 0) {
			fault_set("attachments", i);
			rc = attachment(a, &m->att[i], max, &total, path, err);
			m->natt++;
		}
		jv_free(a);
	}
	jv_free(list);
	return rc;
}

int cx_email_msg_from_json(jv item, cx_email_msg *m, const char **path, cx_err *err)
{
	int rc;

	memset(m, 0, sizeof *m);
	*path = "";
	if (jv_get_kind(item) != JV_KIND_OBJECT)
		return cx_err_set(err, CX_EXIT_DATAERR, "an e-mail is a JSON object");
	rc = addresses(item, m, path, err) < 0 || content(item, m, path, err) < 0 ||
	    headers(item, m, path, err) < 0 || template(item, m, path, err) < 0 ||
	    attachments(item, m, path, err) < 0 ? -1 : 0;
	if (rc < 0)
		cx_email_msg_free(m);
	return rc;
}

static void free_addresses(cx_email_addr *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cx_email_addr_free(&a[i]);
	free(a);
}

void cx_email_msg_free(cx_email_msg *m)
{
	if (!m)
		return;
	cx_email_addr_free(&m->from);
	cx_email_addr_free(m->reply_to);
	free(m->reply_to);
	free_addresses(m->to, m->nto);
	free_addresses(m->cc, m->ncc);
	free_addresses(m->bcc, m->nbcc);
	for (size_t i = 0; i < m->nheaders; i++) {
		free(m->headers[i].name);
		free(m->headers[i].value);
	}
	free(m->headers);
	for (size_t i = 0; i < m->natt; i++) {
		free(m->att[i].filename);
		free(m->att[i].content_type);
		free(m->att[i].path);
	}
	free(m->att);
	free(m->subject);
	free(m->text);
	free(m->html);
	free(m->template_id);
	free(m->template_version);
	free(m->message_id);
	free(m->tenant);
	free(m->item);
	free(m->correlation_id);
	memset(m, 0, sizeof *m);
}

int cx_email_attachment_read(const cx_email_attachment *a, size_t max, char **data,
    size_t *len, cx_err *err)
{
	struct stat st;
	cx_buf b = {0};
	char chunk[65536];
	ssize_t got;
	int fd = open(a->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return cx_err_set(err, CX_EXIT_DATAERR, "attachment %s: %s", a->filename,
		    strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return cx_err_set(err, CX_EXIT_DATAERR, "attachment %s: not a regular file",
		    a->filename);
	}
	while ((got = read(fd, chunk, sizeof chunk)) > 0 && b.len <= max)
		cx_buf_add(&b, chunk, (size_t)got);
	close(fd);
	if (got < 0 || b.len > max) {
		free(b.s);
		return cx_err_set(err, CX_EXIT_DATAERR, got < 0 ? "attachment %s: cannot be read" :
		    "attachment %s: larger than the attachments may be", a->filename);
	}
	cx_buf_add(&b, "", 1);
	*data = b.s;
	*len = b.len - 1;
	return 0;
}
