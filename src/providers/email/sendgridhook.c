/* sendgridhook.c: the sendgrid route: SendGrid's signed Event Webhook.
 * X-Twilio-Email-Event-Webhook-Signature is a base64 DER ECDSA P-256
 * signature (SHA-256) of X-Twilio-Email-Event-Webhook-Timestamp followed
 * by the raw body, made with the key SendGrid shows as base64 DER
 * (CX_SENDGRID_WEBHOOK_PUBLIC_KEY, or _FILE). The timestamp must be within
 * CX_WEBHOOK_TOLERANCE_SECONDS of now. The body is a JSON array of events;
 * the inbox keeps objects, so the stored body is {"events":<the array as
 * received, byte for byte>}. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "crypto.h"
#include "emailhooks.h"
#include "exit.h"
#include "json.h"
#include "log.h"
#include "pubkey.h"
#include "utf8.h"
#include "xalloc.h"

#define SIGNATURE_HEADER "X-Twilio-Email-Event-Webhook-Signature"
#define TIMESTAMP_HEADER "X-Twilio-Email-Event-Webhook-Timestamp"

typedef struct {
	cx_pubkey *key;         /* NULL when the setting is unset */
	int64_t tolerance;
} sendgrid_keys;

static const char *const secrets[] = { "CX_SENDGRID_WEBHOOK_PUBLIC_KEY", NULL };

static void sendgrid_unload(void *keys)
{
	sendgrid_keys *k = keys;

	if (!k)
		return;
	cx_pubkey_free(k->key);
	free(k);
}

/* The key of a base64 DER SubjectPublicKeyInfo, which must be P-256. */
static int read_key(const char *b64, cx_pubkey **key, cx_err *err)
{
	size_t len = 0;
	unsigned char *der = cx_crypto_unbase64(b64, &len);

	*key = der ? cx_pubkey_from_spki(der, len, err) : NULL;
	free(der);
	if (*key && strcmp(cx_pubkey_type(*key), "P-256") == 0)
		return 0;
	cx_pubkey_free(*key);
	*key = NULL;
	return cx_err_set(err, CX_EXIT_CONFIG, "%s is not a base64 DER P-256 public key",
	    secrets[0]);
}

static int sendgrid_load(void **keys, cx_err *err)
{
	sendgrid_keys *k = cx_xcalloc(1, sizeof *k);
	char *b64 = NULL;
	int rc;

	rc = email_hook_tolerance(&k->tolerance, err);
	if (rc == 0 && (rc = cx_secret_get(secrets[0], &b64, err)) > 0)
		rc = read_key(b64, &k->key, err);
	cx_secret_free(b64);
	if (rc < 0) {
		sendgrid_unload(k);
		return -1;
	}
	*keys = k;
	return 0;
}

/* Whether body[0..len) is one JSON array. */
static int json_array(const char *body, size_t len)
{
	size_t i = 0;

	while (i < len && strchr(" \t\r\n", body[i]))
		i++;
	return i < len && body[i] == '[' && cx_utf8_valid(body, len) &&
	    cx_json_check(body, len) == CX_JSON_NOT_OBJECT;
}

static int signature_valid(const sendgrid_keys *k, const char *sig64, const char *ts,
    const char *body, size_t len)
{
	size_t siglen = 0, tl = strlen(ts);
	unsigned char *sig = cx_crypto_unbase64(sig64, &siglen);
	char *data;
	int ok;

	if (!sig)
		return 0;
	data = cx_xmalloc(tl + len + 1);
	memcpy(data, ts, tl);
	memcpy(data + tl, body, len);
	ok = cx_pubkey_verify(k->key, "sha256", data, tl + len, sig, siglen);
	free(data);
	free(sig);
	return ok;
}

static int sendgrid_verify(cx_webhook_request *r, const void *keys, cx_store *store,
    cx_err *err)
{
	const sendgrid_keys *k = keys;
	const char *sig = r->header(r, SIGNATURE_HEADER);
	const char *ts = r->header(r, TIMESTAMP_HEADER);
	const char *body = r->body ? r->body : "";
	char *wrapped;

	(void)store;
	(void)err;
	if (!k->key) {
		cx_log_warn("sendgrid: %s is not set", secrets[0]);
		return 0;
	}
	if (!sig || !ts || !email_hook_fresh(ts, k->tolerance) ||
	    !signature_valid(k, sig, ts, body, r->len)) {
		cx_log_warn("sendgrid: no valid signature with a fresh timestamp");
		return 0;
	}
	if (!json_array(body, r->len)) {
		cx_log_warn("sendgrid: the body is not a JSON array");
		return 0;
	}
	wrapped = cx_xasprintf("{\"events\":%.*s}", (int)r->len, body);
	free(r->body);
	r->body = wrapped;
	r->len = strlen(wrapped);
	return 1;
}

static const char *const routes[] = { "sendgrid", NULL };

const cx_webhook_source sendgrid_webhook = {
	.routes = routes,
	.secrets = secrets,
	.signature_header = SIGNATURE_HEADER,
	.refused = "bad_signature",
	.load = sendgrid_load,
	.unload = sendgrid_unload,
	.verify = sendgrid_verify,
};
