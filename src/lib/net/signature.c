/* signature.c: webhook signature checks over crypto.c. */
#include <string.h>

#include "crypto.h"
#include "signature.h"

static int hmac_matches(const unsigned char *want, const void *body, size_t len,
    const char *secret)
{
	unsigned char mac[CX_SHA256_LEN];
	int ok;

	if (!secret || !*secret)
		return 0;
	cx_crypto_hmac_sha256(secret, strlen(secret), body, len, mac);
	ok = cx_crypto_equal(mac, sizeof mac, want, CX_SHA256_LEN);
	cx_crypto_wipe(mac, sizeof mac);
	return ok;
}

int cx_signature_hmac_sha256(const unsigned char *want, const void *body,
    size_t len, const char *secret, const char *previous)
{
	/* Both are computed so timing does not tell which secret matched. */
	int cur = hmac_matches(want, body, len, secret);
	int prev = hmac_matches(want, body, len, previous);

	return cur || prev;
}
