/* mailgunhook.c: the mailgun route: Mailgun's signed webhooks, a JSON
 * body whose signature object holds timestamp, token and signature, the
 * hex HMAC-SHA256 of timestamp + token with the webhook signing key
 * (CX_MAILGUN_WEBHOOK_SIGNING_KEY, or _FILE). The timestamp must be within
 * CX_WEBHOOK_TOLERANCE_SECONDS of now and the token new: accepted tokens
 * are kept (webhook_nonces) for twice the tolerance, the longest a token
 * with a fresh timestamp can come back in. The body is stored as posted.
 * A token is kept once its delivery is verified, before it is stored: a
 * retry after a failed store (503) with the same token is refused. */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "emailhooks.h"
#include "json.h"
#include "log.h"
#include "nonces.h"
#include "signature.h"
#include "xalloc.h"

#define MAX_TOKEN 256

static const char *const secrets[] = { "CX_MAILGUN_WEBHOOK_SIGNING_KEY", NULL };

void mailgun_keys_unload(void *keys)
{
	mailgun_keys *k = keys;

	if (!k)
		return;
	cx_secret_free(k->key);
	free(k);
}

int mailgun_keys_load(void **keys, cx_err *err)
{
	mailgun_keys *k = cx_xcalloc(1, sizeof *k);

	if (email_hook_tolerance(&k->tolerance, err) < 0 ||
	    cx_secret_get(secrets[0], &k->key, err) < 0) {
		mailgun_keys_unload(k);
		return -1;
	}
	*keys = k;
	return 0;
}

/* Whether signature is the hex HMAC of timestamp + token. */
static int hmac_valid(const char *key, const char *timestamp, const char *token,
    const char *signature)
{
	unsigned char want[CX_SHA256_LEN];
	char *data;
	int ok;

	if (strlen(signature) != 2 * CX_SHA256_LEN ||
	    cx_crypto_unhex(signature, want, sizeof want) != CX_SHA256_LEN)
		return 0;
	data = cx_xasprintf("%s%s", timestamp, token);
	ok = cx_signature_hmac_sha256(want, data, strlen(data), key, NULL);
	free(data);
	return ok;
}

int mailgun_signed(const mailgun_keys *k, const char *route, const char *timestamp,
    const char *token, const char *signature, cx_store *store, cx_err *err)
{
	int rc;

	if (!k->key) {
		cx_log_warn("%s: %s is not set", route, secrets[0]);
		return 0;
	}
	if (!timestamp || !token || !signature || !*token ||
	    strlen(token) > MAX_TOKEN ||
	    !hmac_valid(k->key, timestamp, token, signature)) {
		cx_log_warn("%s: no valid signature", route);
		return 0;
	}
	if (!email_hook_fresh(timestamp, k->tolerance)) {
		cx_log_warn("%s: the signed timestamp is outside the tolerance", route);
		return 0;
	}
	rc = cx_nonce_claim(store, route, token, cx_clock_now(), 2 * k->tolerance, err);
	if (rc == 0)
		cx_log_warn("%s: the token was used before (a replay)", route);
	return rc;
}

static int mailgun_verify(cx_webhook_request *r, const void *keys, cx_store *store,
    cx_err *err)
{
	jv body = r->body ? jv_parse_sized(r->body, (int)r->len) : jv_invalid();
	jv sig = jv_get_kind(body) == JV_KIND_OBJECT ?
	    jv_object_get(jv_copy(body), jv_string("signature")) : jv_invalid();
	int ok = 0;

	if (jv_get_kind(sig) == JV_KIND_OBJECT)
		ok = mailgun_signed(keys, "mailgun", cx_json_str(sig, "timestamp"),
		    cx_json_str(sig, "token"), cx_json_str(sig, "signature"), store, err);
	else
		cx_log_warn("mailgun: no signature object");
	jv_free(sig);
	jv_free(body);
	return ok;
}

static const char *const routes[] = { "mailgun", NULL };

const cx_webhook_source mailgun_webhook = {
	.routes = routes,
	.secrets = secrets,
	.refused = "bad_signature",
	.needs_store = 1,
	.load = mailgun_keys_load,
	.unload = mailgun_keys_unload,
	.verify = mailgun_verify,
};
