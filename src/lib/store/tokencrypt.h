/* tokencrypt.h: tokens at rest, sealed with AES-256-GCM under CX_TOKEN_KEY
 * (base64 of 32 random bytes, or CX_TOKEN_KEY_FILE), with a key id so a
 * wrong or rotated key is told apart from damaged data. During a rotation
 * CX_TOKEN_KEY_PREVIOUS may hold the old key: it still opens, never seals.
 * A cx_tokenkeys is the caller's (cx_tokenkeys_free wipes it); sealed blobs
 * and opened plaintexts are new buffers the caller frees (plaintexts with
 * cx_secret_free, which wipes). */
#ifndef CX_TOKENCRYPT_H
#define CX_TOKENCRYPT_H

#include <stddef.h>

#include "err.h"

#define CX_TOKENKEY_LEN 32
#define CX_TOKENKEY_ID_LEN 17   /* 16 hex digits + NUL */

typedef struct cx_tokenkeys cx_tokenkeys;

/* The configured keys. A missing or malformed CX_TOKEN_KEY is a
 * configuration error (CX_EXIT_CONFIG) that names the variable. */
int cx_tokenkeys_load(cx_tokenkeys **out, cx_err *err);
/* One key from its base64 text; what names it in errors. */
int cx_tokenkeys_from_base64(const char *b64, const char *what,
    cx_tokenkeys **out, cx_err *err);
void cx_tokenkeys_free(cx_tokenkeys *k);
/* The id of the key that seals: 16 hex digits, not secret. */
const char *cx_tokenkeys_id(const cx_tokenkeys *k);
/* Whether a key with this id is loaded (current or previous). */
int cx_tokenkeys_has(const cx_tokenkeys *k, const char *key_id);

/* Seals len bytes of plain; aad binds the blob to where it is stored
 * (e.g. "cred:x:acme:access"), so a blob moved elsewhere does not open. */
int cx_token_seal(const cx_tokenkeys *k, const char *aad, const void *plain,
    size_t len, unsigned char **blob, size_t *bloblen, cx_err *err);
/* Opens a blob into a NUL-terminated string. A blob sealed under a key
 * that is not loaded, or that does not authenticate, is CX_EXIT_CONFIG. */
int cx_token_open(const cx_tokenkeys *k, const char *aad, const void *blob,
    size_t bloblen, char **plain, cx_err *err);
/* The key id a blob was sealed with (out holds CX_TOKENKEY_ID_LEN), or -1
 * when the blob is not one of ours. */
int cx_token_key_id(const void *blob, size_t bloblen, char out[CX_TOKENKEY_ID_LEN]);

#endif
