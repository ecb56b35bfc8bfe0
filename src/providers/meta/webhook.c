/* webhook.c: Meta's deliveries (WhatsApp, Instagram, Messenger): the
 * subscription handshake (hub.mode, hub.verify_token, hub.challenge) and
 * X-Hub-Signature-256 with the app secret, or the previous one while it
 * rotates. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "crypto.h"
#include "exit.h"
#include "metahub.h"
#include "signature.h"
#include "xalloc.h"

#define SIGNATURE_HEADER "X-Hub-Signature-256"

/* The app secrets (current and previous) and the verify token, read once,
 * from these. */
typedef struct {
	char *secret, *previous, *verify_token;
} meta_keys;

static const char *const secrets[] = { "CX_META_APP_SECRET",
	"CX_META_APP_SECRET_PREVIOUS", "CX_META_VERIFY_TOKEN", NULL };

int meta_signature_valid(const char *header, const void *body, size_t len,
    const char *secret, const char *previous)
{
	unsigned char want[CX_SHA256_LEN];

	if (!header || strncmp(header, "sha256=", 7) != 0 ||
	    strlen(header + 7) != 2 * CX_SHA256_LEN ||
	    cx_crypto_unhex(header + 7, want, sizeof want) != CX_SHA256_LEN)
		return 0;
	return cx_signature_hmac_sha256(want, body, len, secret, previous);
}

static void meta_unload(void *keys)
{
	meta_keys *k = keys;

	if (!k)
		return;
	cx_secret_free(k->secret);
	cx_secret_free(k->previous);
	cx_secret_free(k->verify_token);
	free(k);
}

static int meta_load(void **keys, cx_err *err)
{
	meta_keys *k = cx_xcalloc(1, sizeof *k);

	*keys = NULL;
	if (cx_secret_get(secrets[0], &k->secret, err) < 0 ||
	    cx_secret_get(secrets[1], &k->previous, err) < 0 ||
	    cx_secret_get(secrets[2], &k->verify_token, err) < 0) {
		meta_unload(k);
		return -1;
	}
	if (!k->secret) {
		meta_unload(k);
		return cx_err_set(err, CX_EXIT_CONFIG,
		    "CX_META_APP_SECRET (or CX_META_APP_SECRET_FILE) is not set");
	}
	*keys = k;
	return 0;
}

/* Meta's subscription handshake: the challenge when the token is ours. */
static const char *meta_handshake(const cx_webhook_request *r, const void *keys)
{
	const meta_keys *k = keys;
	const char *mode = r->query(r, "hub.mode");
	const char *token = r->query(r, "hub.verify_token");
	const char *challenge = r->query(r, "hub.challenge");
	const char *want = k->verify_token;

	if (!mode || strcmp(mode, "subscribe") != 0 || !token || !challenge || !want ||
	    !cx_crypto_equal(token, strlen(token), want, strlen(want)))
		return NULL;
	return challenge;
}

static int meta_verify(cx_webhook_request *r, const void *keys, cx_store *store,
    cx_err *err)
{
	const meta_keys *k = keys;

	(void)store;
	(void)err;
	return meta_signature_valid(r->header(r, SIGNATURE_HEADER),
	    r->body ? r->body : "", r->len, k->secret, k->previous);
}

static const char *const routes[] = { "whatsapp", "instagram", "messenger", NULL };

const cx_webhook_source meta_webhook = {
	.routes = routes,
	.secrets = secrets,
	.signature_header = SIGNATURE_HEADER,
	.refused = "bad_signature",
	.load = meta_load,
	.unload = meta_unload,
	.handshake = meta_handshake,
	.verify = meta_verify,
};
