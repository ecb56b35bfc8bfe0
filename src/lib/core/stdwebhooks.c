/* stdwebhooks.c: Standard Webhooks signing and verification (see
 * stdwebhooks.h). Keys are decoded per call and wiped after use. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "crypto.h"
#include "exit.h"
#include "stdwebhooks.h"
#include "xalloc.h"

#define PREFIX "whsec_"
#define SECRET_BYTES 24
#define SIG_PREFIX "v1,"

int cx_stdwebhooks_new_secret(char **secret, cx_err *err)
{
	unsigned char raw[SECRET_BYTES];
	char *b64;

	if (cx_crypto_random(raw, sizeof raw) < 0)
		return cx_err_set(err, CX_EXIT_TEMPFAIL, "no random bytes for a webhook secret");
	b64 = cx_crypto_base64(raw, sizeof raw);
	cx_crypto_wipe(raw, sizeof raw);
	*secret = cx_xasprintf(PREFIX "%s", b64);
	cx_secret_free(b64);
	return 0;
}

/* The key bytes of "whsec_<base64>" (new, wiped by the caller), or NULL. */
static unsigned char *secret_key(const char *secret, size_t *len)
{
	unsigned char *key;

	if (!secret || strncmp(secret, PREFIX, strlen(PREFIX)) != 0 ||
	    !secret[strlen(PREFIX)])
		return NULL;
	key = cx_crypto_unbase64(secret + strlen(PREFIX), len);
	if (key && *len == 0) {
		free(key);
		return NULL;
	}
	return key;
}

static void key_free(unsigned char *key, size_t len)
{
	cx_crypto_wipe(key, len);
	free(key);
}

/* HMAC-SHA256 of "<msg_id>.<timestamp>.<body>" under key. */
static void mac(const unsigned char *key, size_t keylen, const char *msg_id,
    int64_t timestamp, const void *body, size_t len, unsigned char out[CX_SHA256_LEN])
{
	char *head = cx_xasprintf("%s.%" PRId64 ".", msg_id, timestamp);
	size_t hlen = strlen(head);
	char *content = cx_xmalloc(hlen + len + 1);

	memcpy(content, head, hlen);
	if (len)
		memcpy(content + hlen, body, len);
	cx_crypto_hmac_sha256(key, keylen, content, hlen + len, out);
	free(content);
	free(head);
}

int cx_stdwebhooks_sign(const char *const *secrets, size_t n, const char *msg_id,
    int64_t timestamp, const void *body, size_t len, char **header, cx_err *err)
{
	char *out = cx_xstrdup("");

	for (size_t i = 0; i < n; i++) {
		unsigned char digest[CX_SHA256_LEN];
		size_t keylen;
		unsigned char *key = secret_key(secrets[i], &keylen);
		char *b64, *next;

		if (!key) {
			free(out);
			return cx_err_set(err, CX_EXIT_DATAERR,
			    "webhook secret %zu is not whsec_ followed by base64", i + 1);
		}
		mac(key, keylen, msg_id, timestamp, body, len, digest);
		key_free(key, keylen);
		b64 = cx_crypto_base64(digest, sizeof digest);
		next = cx_xasprintf("%s%s" SIG_PREFIX "%s", out, *out ? " " : "", b64);
		free(b64);
		free(out);
		out = next;
	}
	if (!*out) {
		free(out);
		return cx_err_set(err, CX_EXIT_DATAERR, "no webhook secret to sign with");
	}
	*header = out;
	return 0;
}

/* Whether the signature token (not NUL-terminated, tlen bytes) is a v1
 * signature equal to digest. */
static int token_matches(const char *tok, size_t tlen, const unsigned char digest[CX_SHA256_LEN])
{
	size_t plen = strlen(SIG_PREFIX), got_len;
	char *b64;
	unsigned char *got;
	int ok;

	if (tlen <= plen || strncmp(tok, SIG_PREFIX, plen) != 0)
		return 0;
	b64 = cx_xstrndup(tok + plen, tlen - plen);
	got = cx_crypto_unbase64(b64, &got_len);
	free(b64);
	if (!got)
		return 0;
	ok = cx_crypto_equal(got, got_len, digest, CX_SHA256_LEN);
	free(got);
	return ok;
}

int cx_stdwebhooks_verify(const char *const *secrets, size_t n, const char *msg_id,
    int64_t timestamp, const void *body, size_t len, const char *header)
{
	int found = 0;

	if (!header)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char digest[CX_SHA256_LEN];
		size_t keylen;
		unsigned char *key = secret_key(secrets[i], &keylen);

		if (!key)
			continue;
		mac(key, keylen, msg_id, timestamp, body, len, digest);
		key_free(key, keylen);
		/* Every token is compared, so the time taken does not say which matched. */
		for (const char *p = header; *p;) {
			size_t tlen = strcspn(p, " ");

			found |= token_matches(p, tlen, digest);
			p += tlen;
			p += strspn(p, " ");
		}
		cx_crypto_wipe(digest, sizeof digest);
	}
	return found;
}
