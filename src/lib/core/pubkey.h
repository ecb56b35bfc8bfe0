/* pubkey.h: public-key signatures webhook senders sign with (RSA PKCS#1
 * v1.5 with SHA-1 or SHA-256, ECDSA P-256 with SHA-256), and the X.509
 * certificate chain check that makes a downloaded key trusted. Over
 * OpenSSL libcrypto; no network. A cx_pubkey is its creator's, released
 * with cx_pubkey_free; everything passed in stays the caller's. */
#ifndef CX_PUBKEY_H
#define CX_PUBKEY_H

#include <stddef.h>

#include "err.h"

typedef struct cx_pubkey cx_pubkey;

/* The public key of the first certificate of a PEM text, once that
 * certificate verified now as a chain (the text's further certificates as
 * untrusted intermediates, at most 8 in all) up to a certificate of the
 * PEM bundle ca_file, or of the system's store when ca_file is NULL; an
 * intermediate CA in the bundle counts as an anchor. Unless issuer_at_hand,
 * a chain that ends at an issuer nobody has at hand (a server that sends
 * the leaf alone, as Amazon SNS does) still passes when the rest of it
 * holds (dates, signatures): the caller trusts the text for where it came
 * from. NULL with err (CX_EXIT_NOPERM when the chain does not verify,
 * CX_EXIT_DATAERR when the text holds no certificate, CX_EXIT_CONFIG when
 * ca_file cannot be read). */
cx_pubkey *cx_pubkey_from_cert(const char *pem, size_t len, const char *ca_file,
    int issuer_at_hand, cx_err *err);
/* The key of a DER SubjectPublicKeyInfo, or NULL with err (DATAERR). */
cx_pubkey *cx_pubkey_from_spki(const unsigned char *der, size_t len, cx_err *err);
/* "RSA", "P-256", or "other". */
const char *cx_pubkey_type(const cx_pubkey *k);
/* Whether sig (RSA: PKCS#1 v1.5; EC: a DER ECDSA-Sig-Value) is k's
 * signature of data with digest "sha1" or "sha256": 1 or 0. */
int cx_pubkey_verify(const cx_pubkey *k, const char *digest, const void *data,
    size_t len, const unsigned char *sig, size_t siglen);
void cx_pubkey_free(cx_pubkey *k);

#endif
