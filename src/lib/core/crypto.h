/* crypto.h: the primitives cx needs, all over OpenSSL libcrypto.
 * Output buffers are the caller's; functions returning char * return a new
 * string the caller frees. Secrets passed in are never copied or logged. */
#ifndef CX_CRYPTO_H
#define CX_CRYPTO_H

#include <stddef.h>

#define CX_SHA256_LEN 32

void cx_crypto_sha256(const void *data, size_t len, unsigned char out[CX_SHA256_LEN]);
void cx_crypto_hmac_sha256(const void *key, size_t keylen, const void *data,
    size_t len, unsigned char out[CX_SHA256_LEN]);
/* Constant-time equality of two byte strings (length is not secret). */
int cx_crypto_equal(const void *a, size_t alen, const void *b, size_t blen);
/* Lower-case hex of len bytes; out must hold 2*len+1. */
void cx_crypto_hex(const unsigned char *in, size_t len, char *out);
/* Decodes hex (either case) into out (capacity cap); returns bytes or -1. */
long cx_crypto_unhex(const char *hex, unsigned char *out, size_t cap);
/* sha256 of data as 64 hex chars + NUL. */
void cx_crypto_sha256_hex(const void *data, size_t len, char out[2 * CX_SHA256_LEN + 1]);
/* Base64 (standard, padded) and base64url (no padding). New strings. */
char *cx_crypto_base64(const void *data, size_t len);
char *cx_crypto_base64url(const void *data, size_t len);
/* Decodes standard or url-safe base64, padded or not. Returns a new buffer
 * and its length in *outlen, or NULL when the input is not base64. */
unsigned char *cx_crypto_unbase64(const char *s, size_t *outlen);
/* Cryptographically random bytes; returns 0 or -1. */
int cx_crypto_random(void *buf, size_t len);
/* An id: prefix and the hex of nbytes (at most 32) random bytes, into out
 * (cap bytes; it must hold them all); returns 0 or -1. */
int cx_crypto_random_id(const char *prefix, size_t nbytes, char *out, size_t cap);
/* Wipes a secret. */
void cx_crypto_wipe(void *buf, size_t len);

#endif
