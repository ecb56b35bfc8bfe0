/* crypto.c: SHA-256, HMAC, constant-time compare, hex, base64, random. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "crypto.h"
#include "xalloc.h"

/* Fetched once: EVP_sha256() makes every digest look the implementation up
 * again, under a lock, which costs three times the hashing of a short key. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void cx_crypto_sha256(const void *data, size_t len, unsigned char out[CX_SHA256_LEN])
{
	unsigned int n = CX_SHA256_LEN;

	pthread_once(&sha256_once, sha256_fetch);
	EVP_Digest(data, len, out, &n, sha256_md ? sha256_md : EVP_sha256(), NULL);
}

void cx_crypto_hmac_sha256(const void *key, size_t keylen, const void *data,
    size_t len, unsigned char out[CX_SHA256_LEN])
{
	unsigned int n = CX_SHA256_LEN;

	HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &n);
}

int cx_crypto_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && CRYPTO_memcmp(a, b, alen) == 0;
}

void cx_crypto_hex(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long cx_crypto_unhex(const char *hex, unsigned char *out, size_t cap)
{
	size_t n = strlen(hex);

	if (n % 2 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return (long)(n / 2);
}

void cx_crypto_sha256_hex(const void *data, size_t len, char out[2 * CX_SHA256_LEN + 1])
{
	unsigned char md[CX_SHA256_LEN];

	cx_crypto_sha256(data, len, md);
	cx_crypto_hex(md, sizeof md, out);
}

char *cx_crypto_base64(const void *data, size_t len)
{
	char *out = cx_xmalloc(4 * ((len + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

char *cx_crypto_base64url(const void *data, size_t len)
{
	char *out = cx_crypto_base64(data, len);
	char *p;

	for (p = out; *p && *p != '='; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
	}
	*p = '\0';
	return out;
}

unsigned char *cx_crypto_unbase64(const char *s, size_t *outlen)
{
	size_t n = strlen(s), padded = (n + 3) / 4 * 4, pad;
	char *in = cx_xmalloc(padded + 1);
	unsigned char *out;
	int got;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		in[i] = c;
	}
	for (size_t i = n; i < padded; i++)
		in[i] = '=';
	in[padded] = '\0';
	out = cx_xmalloc(padded / 4 * 3 + 1);
	got = padded ? EVP_DecodeBlock(out, (unsigned char *)in, (int)padded) : 0;
	pad = 0;
	for (size_t i = padded; i > 0 && in[i - 1] == '=' && pad < 2; i--)
		pad++;
	cx_crypto_wipe(in, padded);
	free(in);
	if (got < 0 || (size_t)got < pad) {
		free(out);
		return NULL;
	}
	*outlen = (size_t)got - pad;
	return out;
}

int cx_crypto_random(void *buf, size_t len)
{
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

void cx_crypto_wipe(void *buf, size_t len)
{
	OPENSSL_cleanse(buf, len);
}

int cx_crypto_random_id(const char *prefix, size_t nbytes, char *out, size_t cap)
{
	unsigned char r[32];
	size_t n = strlen(prefix);

	if (nbytes > sizeof r || n + 2 * nbytes + 1 > cap || cx_crypto_random(r, nbytes) < 0)
		return -1;
	memcpy(out, prefix, n);
	cx_crypto_hex(r, nbytes, out + n);
	return 0;
}
