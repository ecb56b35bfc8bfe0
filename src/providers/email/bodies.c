/* bodies.c: what the API providers take for one message (emailmsg.h):
 * SESv2 SendEmail's JSON, SendGrid v3 mail/send's JSON and Mailgun's
 * messages form, with the ids cx carries so lifecycle events find their
 * item. Field names as the providers document them. */
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "emailmsg.h"
#include "formdata.h"
#include "json.h"
#include "xalloc.h"

static int has(const char *s)
{
	return s && *s;
}

static jv set_str(jv obj, const char *key, const char *value)
{
	return jv_object_set(obj, jv_string(key), jv_string(value));
}

/* A new string, as a jv string. */
static jv take_string(char *s)
{
	jv v = jv_string(s);

	free(s);
	return v;
}

/* The attachments' bytes, together at most cx_email_attachment_max (the
 * files may have grown since the item was checked): each (data[i], len[i])
 * for m->att[i]. -1 with err, nothing left allocated. */
static int read_attachments(const cx_email_msg *m, char ***data, size_t **len, cx_err *err)
{
	int64_t max;
	size_t used = 0;

	if (cx_email_attachment_max(&max, err) != 0)
		return -1;
	*data = cx_xcalloc(m->natt + 1, sizeof **data);
	*len = cx_xcalloc(m->natt + 1, sizeof **len);
	for (size_t i = 0; i < m->natt; i++) {
		if (cx_email_attachment_read(&m->att[i], (size_t)max - used,
		    &(*data)[i], &(*len)[i], err) != 0) {
			for (size_t j = 0; j < i; j++)
				free((*data)[j]);
			free(*data);
			free(*len);
			return -1;
		}
		used += (*len)[i];
	}
	return 0;
}

static void free_attachments(const cx_email_msg *m, char **data, size_t *len)
{
	for (size_t i = 0; i < m->natt; i++)
		free(data[i]);
	free(data);
	free(len);
}

/* --- SESv2 SendEmail ----------------------------------------------------- */

/* Addresses as header fields show them ("Name <local@domain>", the name
 * encoded when it needs it): SES takes that form in every address field. */
static jv header_list(const cx_email_addr *a, size_t n)
{
	jv arr = jv_array();

	for (size_t i = 0; i < n; i++)
		arr = jv_array_append(arr, take_string(cx_email_addr_header(&a[i])));
	return arr;
}

/* SES's tag values hold only [A-Za-z0-9_-], at most 256 of them: any other
 * character becomes one "_" (":" a "-" when colon_dash). */
#define SES_TAG_MAX 256

static jv ses_tag(const char *name, const char *value, int colon_dash)
{
	char v[SES_TAG_MAX + 1];
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)value; *p && n < SES_TAG_MAX; p++) {
		unsigned char c = *p;

		if ((c & 0xc0) == 0x80)
			continue;           /* the rest of a UTF-8 character */
		if (c == ':' && colon_dash)
			c = '-';
		else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-'))
			c = '_';
		v[n++] = (char)c;
	}
	v[n] = '\0';
	return set_str(set_str(jv_object(), "Name", name), "Value", v);
}

static jv ses_tags(const cx_email_msg *m)
{
	jv tags = jv_array();

	if (has(m->tenant))
		tags = jv_array_append(tags, ses_tag("cx_tenant", m->tenant, 0));
	if (has(m->item))
		tags = jv_array_append(tags, ses_tag("cx_item", m->item, 1));
	if (has(m->correlation_id))
		tags = jv_array_append(tags, ses_tag("cx_correlation_id", m->correlation_id, 0));
	return tags;
}

static jv ses_destination(const cx_email_msg *m)
{
	jv d = jv_object();

	if (m->nto)
		d = jv_object_set(d, jv_string("ToAddresses"), header_list(m->to, m->nto));
	if (m->ncc)
		d = jv_object_set(d, jv_string("CcAddresses"), header_list(m->cc, m->ncc));
	if (m->nbcc)
		d = jv_object_set(d, jv_string("BccAddresses"), header_list(m->bcc, m->nbcc));
	return d;
}

static jv ses_content(const char *data)
{
	return set_str(set_str(jv_object(), "Data", data), "Charset", "UTF-8");
}

static jv ses_simple(const cx_email_msg *m)
{
	jv body = jv_object();

	if (has(m->text))
		body = jv_object_set(body, jv_string("Text"), ses_content(m->text));
	if (has(m->html))
		body = jv_object_set(body, jv_string("Html"), ses_content(m->html));
	return jv_object_set(jv_object_set(jv_object(), jv_string("Subject"),
	    ses_content(m->subject ? m->subject : "")), jv_string("Body"), body);
}

/* Raw carries the message cx builds; Destination still names every
 * recipient, as the message has no Bcc header. Reply-To rides in the
 * message, so ReplyToAddresses is left out (SES would add a second one). */
static int ses_raw(const cx_email_msg *m, jv *content, cx_err *err)
{
	char *mime, *b64;
	size_t len;

	if (cx_email_mime(m, &mime, &len, err) != 0)
		return -1;
	b64 = cx_crypto_base64(mime, len);
	free(mime);
	*content = jv_object_set(jv_object(), jv_string("Raw"),
	    set_str(jv_object(), "Data", b64));
	free(b64);
	return 0;
}

/* SES sets the delivered message's Message-ID itself, whatever the request
 * says (in Raw content too: SES header fields, "Considerations"); the one
 * that finds the item is SES's MessageId from the answer. Simple content
 * is used when it says all: its Headers member cannot carry attachments,
 * takes printable ASCII only and refuses the headers SES sets. */
char *cx_email_ses_body(const cx_email_msg *m, const char *config_set, cx_err *err)
{
	jv body = jv_object(), content, tags = ses_tags(m);

	body = jv_object_set(body, jv_string("FromEmailAddress"),
	    take_string(cx_email_addr_header(&m->from)));
	body = jv_object_set(body, jv_string("Destination"), ses_destination(m));
	if (m->natt || m->nheaders) {
		if (ses_raw(m, &content, err) != 0) {
			jv_free(body);
			jv_free(tags);
			return NULL;
		}
	} else {
		if (m->reply_to)
			body = jv_object_set(body, jv_string("ReplyToAddresses"),
			    header_list(m->reply_to, 1));
		content = jv_object_set(jv_object(), jv_string("Simple"), ses_simple(m));
	}
	body = jv_object_set(body, jv_string("Content"), content);
	if (jv_array_length(jv_copy(tags)) > 0)
		body = jv_object_set(body, jv_string("EmailTags"), tags);
	else
		jv_free(tags);
	if (has(config_set))
		body = set_str(body, "ConfigurationSetName", config_set);
	return cx_json_dump(body);
}

/* --- SendGrid v3 mail/send ----------------------------------------------- */

/* {"email": local@domain, "name": display?} */
static jv sg_addr(const cx_email_addr *a)
{
	jv o = jv_object_set(jv_object(), jv_string("email"),
	    take_string(cx_email_addr_spec(a)));

	return has(a->display) ? set_str(o, "name", a->display) : o;
}

static jv sg_list(const cx_email_addr *a, size_t n)
{
	jv arr = jv_array();

	for (size_t i = 0; i < n; i++)
		arr = jv_array_append(arr, sg_addr(&a[i]));
	return arr;
}

static jv sg_personalization(const cx_email_msg *m)
{
	jv p = jv_object_set(jv_object(), jv_string("to"), sg_list(m->to, m->nto));

	if (m->ncc)
		p = jv_object_set(p, jv_string("cc"), sg_list(m->cc, m->ncc));
	if (m->nbcc)
		p = jv_object_set(p, jv_string("bcc"), sg_list(m->bcc, m->nbcc));
	return jv_array_append(jv_array(), p);
}

/* Plain first: SendGrid wants text/plain before text/html. */
static jv sg_content(const cx_email_msg *m)
{
	jv c = jv_array();

	if (has(m->text))
		c = jv_array_append(c, set_str(set_str(jv_object(), "type", "text/plain"),
		    "value", m->text));
	if (has(m->html))
		c = jv_array_append(c, set_str(set_str(jv_object(), "type", "text/html"),
		    "value", m->html));
	return c;
}

static jv sg_attachments(const cx_email_msg *m, char **data, size_t *len)
{
	jv arr = jv_array();

	for (size_t i = 0; i < m->natt; i++) {
		jv a = jv_object_set(jv_object(), jv_string("content"),
		    take_string(cx_crypto_base64(data[i], len[i])));

		a = set_str(a, "filename", m->att[i].filename);
		a = set_str(a, "type", has(m->att[i].content_type) ?
		    m->att[i].content_type : "application/octet-stream");
		arr = jv_array_append(arr, set_str(a, "disposition", "attachment"));
	}
	return arr;
}

/* The extra headers, then Message-ID (<...>, cx's own). */
static jv sg_headers(const cx_email_msg *m)
{
	jv h = jv_object();

	for (size_t i = 0; i < m->nheaders; i++)
		h = set_str(h, m->headers[i].name, m->headers[i].value);
	if (has(m->message_id))
		h = jv_object_set(h, jv_string("Message-ID"),
		    take_string(cx_xasprintf("<%s>", m->message_id)));
	return h;
}

static jv sg_custom_args(const cx_email_msg *m)
{
	jv a = jv_object();

	if (has(m->tenant))
		a = set_str(a, "cx_tenant", m->tenant);
	if (has(m->item))
		a = set_str(a, "cx_item", m->item);
	if (has(m->correlation_id))
		a = set_str(a, "cx_correlation_id", m->correlation_id);
	return a;
}

char *cx_email_sendgrid_body(const cx_email_msg *m, cx_err *err)
{
	char **data;
	size_t *len;
	jv body;

	if (read_attachments(m, &data, &len, err) != 0)
		return NULL;
	body = jv_object_set(jv_object(), jv_string("personalizations"), sg_personalization(m));
	body = jv_object_set(body, jv_string("from"), sg_addr(&m->from));
	if (m->reply_to)
		body = jv_object_set(body, jv_string("reply_to"), sg_addr(m->reply_to));
	body = set_str(body, "subject", m->subject ? m->subject : "");
	body = jv_object_set(body, jv_string("content"), sg_content(m));
	if (m->natt)
		body = jv_object_set(body, jv_string("attachments"), sg_attachments(m, data, len));
	body = jv_object_set(body, jv_string("headers"), sg_headers(m));
	body = jv_object_set(body, jv_string("custom_args"), sg_custom_args(m));
	free_attachments(m, data, len);
	return cx_json_dump(body);
}

/* --- Mailgun messages ---------------------------------------------------- */

static void mg_addrs(cx_formdata *f, const char *field, const cx_email_addr *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *h = cx_email_addr_header(&a[i]);

		cx_formdata_field(f, field, h);
		free(h);
	}
}

/* h:Reply-To, h:Message-Id, then h:<name> for each extra header. */
static void mg_headers(cx_formdata *f, const cx_email_msg *m)
{
	if (m->reply_to)
		mg_addrs(f, "h:Reply-To", m->reply_to, 1);
	if (has(m->message_id)) {
		char *id = cx_xasprintf("<%s>", m->message_id);

		cx_formdata_field(f, "h:Message-Id", id);
		free(id);
	}
	for (size_t i = 0; i < m->nheaders; i++) {
		char *name = cx_xasprintf("h:%s", m->headers[i].name);

		cx_formdata_field(f, name, m->headers[i].value);
		free(name);
	}
}

static void mg_variables(cx_formdata *f, const cx_email_msg *m)
{
	if (has(m->tenant))
		cx_formdata_field(f, "v:cx_tenant", m->tenant);
	if (has(m->item))
		cx_formdata_field(f, "v:cx_item", m->item);
	if (has(m->correlation_id))
		cx_formdata_field(f, "v:cx_correlation_id", m->correlation_id);
}

int cx_email_mailgun_form(const cx_email_msg *m, char **body, size_t *len,
    char **content_type, cx_err *err)
{
	cx_formdata *f;
	char **data;
	size_t *dlen;

	if (read_attachments(m, &data, &dlen, err) != 0)
		return -1;
	f = cx_formdata_new();
	mg_addrs(f, "from", &m->from, 1);
	mg_addrs(f, "to", m->to, m->nto);
	mg_addrs(f, "cc", m->cc, m->ncc);
	mg_addrs(f, "bcc", m->bcc, m->nbcc);
	cx_formdata_field(f, "subject", m->subject ? m->subject : "");
	if (has(m->text))
		cx_formdata_field(f, "text", m->text);
	if (has(m->html))
		cx_formdata_field(f, "html", m->html);
	for (size_t i = 0; i < m->natt; i++)
		cx_formdata_file(f, "attachment", m->att[i].filename, m->att[i].content_type,
		    data[i], dlen[i]);
	free_attachments(m, data, dlen);
	mg_headers(f, m);
	mg_variables(f, m);
	return cx_formdata_finish(f, body, len, content_type, err);
}
