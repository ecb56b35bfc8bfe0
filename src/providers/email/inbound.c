/* inbound.c: inbound mail, the sendgrid-inbound and mailgun-inbound
 * routes. SendGrid's Inbound Parse posts multipart/form-data with HTTP
 * Basic auth (CX_SENDGRID_INBOUND_USER, CX_SENDGRID_INBOUND_PASSWORD, both
 * compared in constant time); a Mailgun route forwards multipart/form-data
 * or a urlencoded form whose timestamp, token and signature fields are
 * signed as Mailgun's webhooks are (mailgunhook.c), replays refused alike.
 * Neither form is stored as posted: the stored body is
 *   {"form":{"<field>":"<value>",...},
 *    "attachments":[{"field":"attachment1","filename":"a.pdf",
 *      "content_type":"application/pdf","size":1234,"sha256":"<hex>"}]}
 * text fields as UTF-8 (invalid bytes replaced by U+FFFD; a repeated field
 * keeps its last value), file parts only as that description, never their
 * bytes (content_type application/octet-stream when the part names none).
 * share/cx/parsers/{sendgrid,mailgun}-inbound.jq read that shape. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "crypto.h"
#include "emailhooks.h"
#include "json.h"
#include "log.h"
#include "multipart.h"
#include "xalloc.h"

typedef struct {
	char *user, *password;
} basic_keys;

static const char *const sendgrid_secrets[] = { "CX_SENDGRID_INBOUND_USER",
	"CX_SENDGRID_INBOUND_PASSWORD", NULL };
static const char *const mailgun_secrets[] = { "CX_MAILGUN_WEBHOOK_SIGNING_KEY", NULL };

static void basic_unload(void *keys)
{
	basic_keys *k = keys;

	if (!k)
		return;
	cx_secret_free(k->user);
	cx_secret_free(k->password);
	free(k);
}

static int basic_load(void **keys, cx_err *err)
{
	basic_keys *k = cx_xcalloc(1, sizeof *k);

	if (cx_secret_get(sendgrid_secrets[0], &k->user, err) < 0 ||
	    cx_secret_get(sendgrid_secrets[1], &k->password, err) < 0) {
		basic_unload(k);
		return -1;
	}
	*keys = k;
	return 0;
}

/* Whether an Authorization header carries the user and password (both
 * compared, in constant time, whatever the first gives). */
static int basic_auth_ok(const basic_keys *k, const char *header)
{
	unsigned char *plain;
	size_t len = 0;
	char *colon;
	int ok;

	if (!k->user || !k->password || !header || strncasecmp(header, "Basic ", 6) != 0 ||
	    !(plain = cx_crypto_unbase64(header + 6 + strspn(header + 6, " "), &len)))
		return 0;
	plain = cx_xrealloc(plain, len + 1);
	plain[len] = '\0';
	if (!(colon = memchr(plain, ':', len))) {
		cx_crypto_wipe(plain, len);
		free(plain);
		return 0;
	}
	ok = cx_crypto_equal(plain, (size_t)(colon - (char *)plain), k->user,
	    strlen(k->user));
	ok &= cx_crypto_equal(colon + 1, len - (size_t)(colon + 1 - (char *)plain),
	    k->password, strlen(k->password));
	cx_crypto_wipe(plain, len);
	free(plain);
	return ok;
}

/* The form of a request: multipart/form-data, or (when urlencoded is set)
 * application/x-www-form-urlencoded. 0, or -1 (logged). */
static int read_form(const char *route, const cx_webhook_request *r, int urlencoded,
    cx_form *form)
{
	const char *type = r->header(r, "Content-Type");
	const char *body = r->body ? r->body : "";
	cx_err err = { 0, "" };
	char *boundary;
	int rc;

	if (urlencoded && type && strncasecmp(type, "application/x-www-form-urlencoded",
	    33) == 0 && strchr("; \t", type[33]))
		rc = cx_form_urlencoded_parse(body, r->len, form, &err);
	else if ((boundary = cx_multipart_boundary(type, &err))) {
		rc = cx_multipart_parse(body, r->len, boundary, form, &err);
		free(boundary);
	} else {
		rc = -1;
	}
	if (rc < 0)
		cx_log_warn("%s: %s", route, err.msg);
	return rc;
}

/* The body to store for a form (see the top of the file). */
static char *form_json(const cx_form *form)
{
	jv fields = jv_object(), files = jv_array();

	for (size_t i = 0; i < form->n; i++) {
		const cx_form_field *f = &form->fields[i];
		char hex[2 * CX_SHA256_LEN + 1];
		jv a;

		/* jv_string and jv_string_sized replace invalid UTF-8 */
		if (!f->filename) {
			fields = jv_object_set(fields, jv_string(f->name),
			    jv_string_sized(f->data, (int)f->len));
			continue;
		}
		cx_crypto_sha256_hex(f->data, f->len, hex);
		a = jv_object_set(jv_object(), jv_string("field"), jv_string(f->name));
		a = jv_object_set(a, jv_string("filename"), jv_string(f->filename));
		a = jv_object_set(a, jv_string("content_type"), jv_string(f->content_type ?
		    f->content_type : "application/octet-stream"));
		a = jv_object_set(a, jv_string("size"), jv_number((double)f->len));
		a = jv_object_set(a, jv_string("sha256"), jv_string(hex));
		files = jv_array_append(files, a);
	}
	return cx_json_dump(jv_object_set(jv_object_set(jv_object(), jv_string("form"),
	    fields), jv_string("attachments"), files));
}

static void replace_body(cx_webhook_request *r, const cx_form *form)
{
	free(r->body);
	r->body = form_json(form);
	r->len = strlen(r->body);
}

static int sendgrid_inbound_verify(cx_webhook_request *r, const void *keys,
    cx_store *store, cx_err *err)
{
	cx_form form = { NULL, 0 };

	(void)store;
	(void)err;
	if (!basic_auth_ok(keys, r->header(r, "Authorization"))) {
		cx_log_warn("sendgrid-inbound: no valid Basic credentials");
		return 0;
	}
	if (read_form("sendgrid-inbound", r, 0, &form) < 0)
		return 0;
	replace_body(r, &form);
	cx_form_free(&form);
	return 1;
}

static const char *field(const cx_form *form, const char *name)
{
	const cx_form_field *f = cx_form_get(form, name);

	return f && !f->filename && strlen(f->data) == f->len ? f->data : NULL;
}

static int mailgun_inbound_verify(cx_webhook_request *r, const void *keys,
    cx_store *store, cx_err *err)
{
	cx_form form = { NULL, 0 };
	int ok;

	if (read_form("mailgun-inbound", r, 1, &form) < 0)
		return 0;
	ok = mailgun_signed(keys, "mailgun-inbound", field(&form, "timestamp"),
	    field(&form, "token"), field(&form, "signature"), store, err);
	if (ok > 0)
		replace_body(r, &form);
	cx_form_free(&form);
	return ok;
}

static const char *const sendgrid_routes[] = { "sendgrid-inbound", NULL };
static const char *const mailgun_routes[] = { "mailgun-inbound", NULL };

const cx_webhook_source sendgrid_inbound_webhook = {
	.routes = sendgrid_routes,
	.secrets = sendgrid_secrets,
	.refused = "unauthorized",
	.load = basic_load,
	.unload = basic_unload,
	.verify = sendgrid_inbound_verify,
};

const cx_webhook_source mailgun_inbound_webhook = {
	.routes = mailgun_routes,
	.secrets = mailgun_secrets,
	.refused = "bad_signature",
	.needs_store = 1,
	.load = mailgun_keys_load,
	.unload = mailgun_keys_unload,
	.verify = mailgun_inbound_verify,
};
