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

int cx_signature_meta(const char *header, const void *body, size_t len,
    const char *secret, const char *previous)
{
	unsigned char want[CX_SHA256_LEN];
	int cur, prev;

	if (!header || strncmp(header, "sha256=", 7) != 0 ||
	    strlen(header + 7) != 2 * CX_SHA256_LEN ||
	    cx_crypto_unhex(header + 7, want, sizeof want) != CX_SHA256_LEN)
		return 0;
	/* Both are computed so timing does not tell which secret matched. */
	cur = hmac_matches(want, body, len, secret);
	prev = hmac_matches(want, body, len, previous);
	return cur || prev;
}
