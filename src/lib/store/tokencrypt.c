/* tokencrypt.c: AES-256-GCM sealing of tokens over OpenSSL EVP.
 * A blob is "cx1" | key id (8 bytes) | IV (12) | ciphertext | tag (16); the
 * header is authenticated with the caller's aad. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "config.h"
#include "crypto.h"
#include "exit.h"
#include "tokencrypt.h"
#include "xalloc.h"

#define MAGIC "cx1"
#define MAGIC_LEN 3
#define KID_LEN 8
#define IV_LEN 12
#define TAG_LEN 16
#define HEADER_LEN (MAGIC_LEN + KID_LEN + IV_LEN)

typedef struct {
	unsigned char key[CX_TOKENKEY_LEN];
	unsigned char kid[KID_LEN];
	char id[CX_TOKENKEY_ID_LEN];
} tokenkey;

struct cx_tokenkeys {
	tokenkey cur, prev;
	int has_prev;
};

static int parse_key(const char *b64, const char *what, tokenkey *k, cx_err *err)
{
	static const char label[] = "cx-token-key-id:";
	unsigned char buf[sizeof label - 1 + CX_TOKENKEY_LEN];
	unsigned char md[CX_SHA256_LEN];
	size_t n = 0;
	unsigned char *raw = cx_crypto_unbase64(b64, &n);

	if (!raw || n != CX_TOKENKEY_LEN) {
		if (raw) {
			cx_crypto_wipe(raw, n);
			free(raw);
		}
		return cx_err_set(err, CX_EXIT_CONFIG,
		    "%s must be the base64 of 32 random bytes (e.g. openssl rand -base64 32)",
		    what);
	}
	memcpy(k->key, raw, CX_TOKENKEY_LEN);
	cx_crypto_wipe(raw, n);
	free(raw);
	memcpy(buf, label, sizeof label - 1);
	memcpy(buf + sizeof label - 1, k->key, CX_TOKENKEY_LEN);
	cx_crypto_sha256(buf, sizeof buf, md);
	cx_crypto_wipe(buf, sizeof buf);
	memcpy(k->kid, md, KID_LEN);
	cx_crypto_hex(k->kid, KID_LEN, k->id);
	return 0;
}

int cx_tokenkeys_from_base64(const char *b64, const char *what,
    cx_tokenkeys **out, cx_err *err)
{
	cx_tokenkeys *k = cx_xcalloc(1, sizeof *k);

	if (parse_key(b64, what, &k->cur, err) < 0) {
		cx_tokenkeys_free(k);
		return -1;
	}
	*out = k;
	return 0;
}

int cx_tokenkeys_load(cx_tokenkeys **out, cx_err *err)
{
	char *cur = NULL, *prev = NULL;
	int rc;

	rc = cx_secret_get("CX_TOKEN_KEY", &cur, err);
	if (rc == 0)
		return cx_err_set(err, CX_EXIT_CONFIG,
		    "CX_TOKEN_KEY (or CX_TOKEN_KEY_FILE) is not set: tokens are stored "
		    "encrypted under it (make one with openssl rand -base64 32)");
	if (rc < 0)
		return -1;
	rc = cx_tokenkeys_from_base64(cur, "CX_TOKEN_KEY", out, err);
	cx_secret_free(cur);
	if (rc < 0)
		return -1;
	rc = cx_secret_get("CX_TOKEN_KEY_PREVIOUS", &prev, err);
	if (rc > 0) {
		rc = parse_key(prev, "CX_TOKEN_KEY_PREVIOUS", &(*out)->prev, err);
		(*out)->has_prev = rc == 0;
	}
	cx_secret_free(prev);
	if (rc < 0) {
		cx_tokenkeys_free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

void cx_tokenkeys_free(cx_tokenkeys *k)
{
	if (!k)
		return;
	cx_crypto_wipe(k, sizeof *k);
	free(k);
}

const char *cx_tokenkeys_id(const cx_tokenkeys *k)
{
	return k->cur.id;
}

static const tokenkey *find(const cx_tokenkeys *k, const unsigned char kid[KID_LEN])
{
	if (memcmp(k->cur.kid, kid, KID_LEN) == 0)
		return &k->cur;
	if (k->has_prev && memcmp(k->prev.kid, kid, KID_LEN) == 0)
		return &k->prev;
	return NULL;
}

int cx_tokenkeys_has(const cx_tokenkeys *k, const char *key_id)
{
	return strcmp(k->cur.id, key_id) == 0 ||
	    (k->has_prev && strcmp(k->prev.id, key_id) == 0);
}

/* The data GCM authenticates besides the ciphertext: header and aad. */
static int add_aad(EVP_CIPHER_CTX *c, const unsigned char *header, const char *aad)
{
	int n;

	return EVP_EncryptUpdate(c, NULL, &n, header, HEADER_LEN) == 1 &&
	    EVP_EncryptUpdate(c, NULL, &n, (const unsigned char *)aad,
	    (int)strlen(aad)) == 1;
}

static int add_aad_dec(EVP_CIPHER_CTX *c, const unsigned char *header, const char *aad)
{
	int n;

	return EVP_DecryptUpdate(c, NULL, &n, header, HEADER_LEN) == 1 &&
	    EVP_DecryptUpdate(c, NULL, &n, (const unsigned char *)aad,
	    (int)strlen(aad)) == 1;
}

int cx_token_seal(const cx_tokenkeys *k, const char *aad, const void *plain,
    size_t len, unsigned char **blob, size_t *bloblen, cx_err *err)
{
	size_t total = HEADER_LEN + len + TAG_LEN;
	unsigned char *b = cx_xmalloc(total);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, m = 0, ok;

	memcpy(b, MAGIC, MAGIC_LEN);
	memcpy(b + MAGIC_LEN, k->cur.kid, KID_LEN);
	ok = c && len < (size_t)1 << 30 &&
	    cx_crypto_random(b + MAGIC_LEN + KID_LEN, IV_LEN) == 0 &&
	    EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, IV_LEN, NULL) == 1 &&
	    EVP_EncryptInit_ex(c, NULL, NULL, k->cur.key, b + MAGIC_LEN + KID_LEN) == 1 &&
	    add_aad(c, b, aad) &&
	    EVP_EncryptUpdate(c, b + HEADER_LEN, &n, plain, (int)len) == 1 &&
	    EVP_EncryptFinal_ex(c, b + HEADER_LEN + n, &m) == 1 &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN,
	    b + HEADER_LEN + len) == 1;
	EVP_CIPHER_CTX_free(c);
	if (!ok) {
		free(b);
		return cx_err_set(err, CX_EXIT_TEMPFAIL, "token encryption failed");
	}
	*blob = b;
	*bloblen = total;
	return 0;
}

int cx_token_key_id(const void *blob, size_t bloblen, char out[CX_TOKENKEY_ID_LEN])
{
	const unsigned char *b = blob;

	if (!b || bloblen < HEADER_LEN + TAG_LEN || memcmp(b, MAGIC, MAGIC_LEN) != 0)
		return -1;
	cx_crypto_hex(b + MAGIC_LEN, KID_LEN, out);
	return 0;
}

int cx_token_open(const cx_tokenkeys *k, const char *aad, const void *blob,
    size_t bloblen, char **plain, cx_err *err)
{
	const unsigned char *b = blob;
	const tokenkey *key;
	char kid[CX_TOKENKEY_ID_LEN];
	EVP_CIPHER_CTX *c;
	size_t len;
	char *p;
	int n = 0, m = 0, ok;

	if (cx_token_key_id(blob, bloblen, kid) < 0)
		return cx_err_set(err, CX_EXIT_CONFIG,
		    "a stored token is not in cx's sealed format");
	if (!(key = find(k, b + MAGIC_LEN)))
		return cx_err_set(err, CX_EXIT_CONFIG,
		    "CX_TOKEN_KEY (key id %s) is not the key this token was sealed "
		    "with (key id %s): set the right CX_TOKEN_KEY", k->cur.id, kid);
	len = bloblen - HEADER_LEN - TAG_LEN;
	p = cx_xmalloc(len + 1);
	c = EVP_CIPHER_CTX_new();
	ok = c && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, IV_LEN, NULL) == 1 &&
	    EVP_DecryptInit_ex(c, NULL, NULL, key->key, b + MAGIC_LEN + KID_LEN) == 1 &&
	    add_aad_dec(c, b, aad) &&
	    EVP_DecryptUpdate(c, (unsigned char *)p, &n, b + HEADER_LEN, (int)len) == 1 &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
	    (void *)(b + HEADER_LEN + len)) == 1 &&
	    EVP_DecryptFinal_ex(c, (unsigned char *)p + n, &m) == 1;
	EVP_CIPHER_CTX_free(c);
	if (!ok) {
		cx_crypto_wipe(p, len + 1);
		free(p);
		return cx_err_set(err, CX_EXIT_CONFIG,
		    "a stored token does not authenticate under key id %s "
		    "(damaged, or moved from another row)", kid);
	}
	p[len] = '\0';
	*plain = p;
	return 0;
}
