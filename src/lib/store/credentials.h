/* credentials.h: every SQL statement of OAuth (SPEC §6 cx-oauth): the
 * credential rows (oauth_credentials) with their tokens sealed under
 * CX_TOKEN_KEY (tokencrypt.h, bound to "cred:<provider>:<workspace>:<field>"),
 * the pending authorization states (oauth_states, the PKCE verifier sealed
 * under "state:<hash>"), the refresh lock rows (oauth_refresh_locks) and
 * the reseal of all of them under a new key. No network here; the flows in
 * src/lib/oauth decide what to store and group these calls into their
 * transactions (cx_store_begin/commit), except cx_authstate_consume, which
 * is its own.
 * Rows read are new structs the caller frees (cx_cred_free,
 * cx_authstate_free); sealed blobs are new buffers (free), opened tokens
 * new strings (cx_secret_free); strings passed in stay the caller's. */
#ifndef CX_CREDENTIALS_H
#define CX_CREDENTIALS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"
#include "tokencrypt.h"

/* A stored credential. access and refresh are sealed blobs (NULL: none). */
typedef struct {
	char *provider, *workspace, *kind, *account_id, *username, *scopes;
	char *key_id, *status, *last_error, *meta;
	unsigned char *access, *refresh;
	size_t access_len, refresh_len;
	int64_t expires_at, last_error_at, generation, attempts;
	int64_t created_at, updated_at, refreshed_at;
	int has_expiry, has_refreshed;
} cx_cred;

void cx_cred_free(cx_cred *c);

/* 1 with *c, 0 when there is none, -1 with err. */
int cx_cred_load(cx_store *s, const char *provider, const char *workspace,
    cx_cred *c, cx_err *err);
/* Calls each with every credential (provider and workspace NULL: all),
 * ordered by provider and workspace; the row is each()'s only for the call. */
int cx_cred_each(cx_store *s, const char *provider, const char *workspace,
    void (*each)(const cx_cred *c, void *ctx), void *ctx, cx_err *err);

/* Seals plain for field ("access", "refresh") of provider:workspace. */
int cx_cred_seal(const cx_tokenkeys *k, const char *provider,
    const char *workspace, const char *field, const char *plain,
    unsigned char **blob, size_t *len, cx_err *err);
/* Opens field of c; 78 naming the credential when it does not open. */
int cx_cred_open(const cx_tokenkeys *k, const cx_cred *c, const char *field,
    char **plain, cx_err *err);

/* What a write stores: tokens already sealed (refresh may be NULL). */
typedef struct {
	const char *kind, *account_id, *username, *scopes, *meta, *key_id;
	const unsigned char *access, *refresh;
	size_t access_len, refresh_len;
	int has_expiry;
	int64_t expires_at;
} cx_cred_row;

/* Inserts or replaces the credential (status ok, a new generation). */
int cx_cred_put(cx_store *s, const char *provider, const char *workspace,
    const cx_cred_row *r, int64_t now, cx_err *err);
/* A refresh that worked: new tokens, key id, expiry and (when r->scopes
 * is set) scopes; status ok. */
int cx_cred_refreshed(cx_store *s, const cx_cred *c, const cx_cred_row *r,
    int64_t now, cx_err *err);
/* A refresh that failed: last_error; refused marks it refresh_failed. */
int cx_cred_refresh_failed(cx_store *s, const cx_cred *c, const char *last_error,
    int refused, int64_t now, cx_err *err);
/* Marks the credential revoked and forgets its tokens. */
int cx_cred_revoke(cx_store *s, const char *provider, const char *workspace,
    int64_t now, cx_err *err);

/* The refresh lock of a credential: a row with an owner and an expiry.
 * held: 1 when another owner than me holds a live one. */
int cx_cred_lock_held(cx_store *s, const cx_cred *c, const char *me, int64_t now,
    cx_err *err);
int cx_cred_lock_take(cx_store *s, const cx_cred *c, const char *me,
    int64_t expires_at, cx_err *err);
int cx_cred_lock_release(cx_store *s, const cx_cred *c, const char *me, cx_err *err);
/* Drops the lock whoever holds it. */
int cx_cred_lock_drop(cx_store *s, const char *provider, const char *workspace,
    cx_err *err);

/* A pending authorization, found by the hash of its state. verifier is
 * sealed (NULL: no PKCE). */
typedef struct {
	char *provider, *workspace, *redirect_uri, *scopes;
	unsigned char *verifier;
	size_t verifier_len;
	int64_t expires_at;
	int used;
} cx_authstate;

void cx_authstate_free(cx_authstate *st);

/* Seals and opens a state's PKCE verifier. */
int cx_authstate_seal(const cx_tokenkeys *k, const char *hash, const char *verifier,
    unsigned char **blob, size_t *len, cx_err *err);
int cx_authstate_open(const cx_tokenkeys *k, const char *hash,
    const cx_authstate *st, char **verifier, cx_err *err);
/* Deletes the states that expired before before. */
int cx_authstate_prune(cx_store *s, int64_t before, cx_err *err);
/* Stores a new state (provider, workspace, redirect_uri, scopes, verifier
 * and expires_at of st) sealed under key_id. */
int cx_authstate_add(cx_store *s, const char *hash, const cx_authstate *st,
    const char *key_id, int64_t now, cx_err *err);
/* 1 with *st, 0 when no state has this hash, -1 with err. */
int cx_authstate_get(cx_store *s, const char *hash, cx_authstate *st, cx_err *err);
/* Marks the state used, once, in its own transaction: 1 when this call
 * consumed it, 0 when it was used or expired meanwhile. */
int cx_authstate_consume(cx_store *s, const char *hash, const char *provider,
    int64_t now, cx_err *err);

/* Key rotation: opens every sealed token and verifier under old and seals
 * it under new_keys, inside the caller's transaction; *creds and *states
 * count the rows. */
int cx_cred_reseal_all(cx_store *s, const cx_tokenkeys *old,
    const cx_tokenkeys *new_keys, int64_t *creds, int64_t *states, cx_err *err);

#endif
