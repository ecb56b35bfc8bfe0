/* pubkey.c: public-key signatures and certificate chains (pubkey.h). */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "exit.h"
#include "pubkey.h"
#include "xalloc.h"

#define MAX_CHAIN 8

struct cx_pubkey {
	EVP_PKEY *pkey;
};

static cx_pubkey *wrap(EVP_PKEY *pkey)
{
	cx_pubkey *k = cx_xcalloc(1, sizeof *k);

	k->pkey = pkey;
	return k;
}

/* The certificates of a PEM text: the first in *leaf, the others pushed
 * on rest. 0, or -1 when there is none or more than MAX_CHAIN. */
static int read_certs(const char *pem, size_t len, X509 **leaf, STACK_OF(X509) *rest)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	X509 *c;
	int n = 0, rc = 0;

	*leaf = NULL;
	while (b && (c = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
		if (++n > MAX_CHAIN) {
			X509_free(c);
			rc = -1;
			break;
		}
		if (!*leaf)
			*leaf = c;
		else
			sk_X509_push(rest, c);
	}
	BIO_free(b);
	return *leaf && rc == 0 ? 0 : -1;
}

static X509_STORE *trust_store(const char *ca_file, cx_err *err)
{
	X509_STORE *st = X509_STORE_new();

	if (!st || !(ca_file ? X509_STORE_load_file(st, ca_file) :
	    X509_STORE_set_default_paths(st))) {
		X509_STORE_free(st);
		cx_err_set(err, CX_EXIT_CONFIG, "cannot read the trusted certificates%s%s",
		    ca_file ? " of " : "", ca_file ? ca_file : "");
		return NULL;
	}
	X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN);
	return st;
}

/* Lets a chain whose issuer is not at hand through (the rest of it, dates
 * and signatures, is still checked). */
static int issuer_optional(int ok, X509_STORE_CTX *ctx)
{
	int e = X509_STORE_CTX_get_error(ctx);

	if (!ok && (e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	    e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
	    e == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE))
		return 1;
	return ok;
}

cx_pubkey *cx_pubkey_from_cert(const char *pem, size_t len, const char *ca_file,
    int issuer_at_hand, cx_err *err)
{
	STACK_OF(X509) *rest = sk_X509_new_null();
	X509_STORE *st = NULL;
	X509_STORE_CTX *ctx = NULL;
	X509 *leaf = NULL;
	EVP_PKEY *pkey = NULL;

	if (read_certs(pem, len, &leaf, rest) < 0) {
		cx_err_set(err, CX_EXIT_DATAERR, "not a PEM certificate (or a chain over %d)",
		    MAX_CHAIN);
		goto done;
	}
	if (!(st = trust_store(ca_file, err)))
		goto done;
	ctx = X509_STORE_CTX_new();
	if (!ctx || !X509_STORE_CTX_init(ctx, st, leaf, rest)) {
		cx_err_set(err, CX_EXIT_TEMPFAIL, "cannot check a certificate chain");
		goto done;
	}
	if (!issuer_at_hand)
		X509_STORE_CTX_set_verify_cb(ctx, issuer_optional);
	if (X509_verify_cert(ctx) != 1) {
		cx_err_set(err, CX_EXIT_NOPERM, "the certificate does not verify: %s",
		    X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		goto done;
	}
	pkey = X509_get_pubkey(leaf);
	if (!pkey)
		cx_err_set(err, CX_EXIT_DATAERR, "the certificate holds no usable key");
done:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	X509_free(leaf);
	sk_X509_pop_free(rest, X509_free);
	return pkey ? wrap(pkey) : NULL;
}

cx_pubkey *cx_pubkey_from_spki(const unsigned char *der, size_t len, cx_err *err)
{
	const unsigned char *p = der;
	EVP_PKEY *pkey = d2i_PUBKEY(NULL, &p, (long)len);

	if (!pkey || p != der + len) {
		EVP_PKEY_free(pkey);
		cx_err_set(err, CX_EXIT_DATAERR, "not a DER SubjectPublicKeyInfo");
		return NULL;
	}
	return wrap(pkey);
}

const char *cx_pubkey_type(const cx_pubkey *k)
{
	char group[64];

	if (EVP_PKEY_is_a(k->pkey, "RSA"))
		return "RSA";
	if (EVP_PKEY_is_a(k->pkey, "EC") &&
	    EVP_PKEY_get_group_name(k->pkey, group, sizeof group, NULL) &&
	    strcmp(group, "prime256v1") == 0)
		return "P-256";
	return "other";
}

int cx_pubkey_verify(const cx_pubkey *k, const char *digest, const void *data,
    size_t len, const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	const EVP_MD *md = strcmp(digest, "sha1") == 0 ? EVP_sha1() : EVP_sha256();
	int ok;

	ok = ctx && EVP_DigestVerifyInit(ctx, NULL, md, NULL, k->pkey) == 1 &&
	    EVP_DigestVerify(ctx, sig, siglen, data, len) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

void cx_pubkey_free(cx_pubkey *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}
