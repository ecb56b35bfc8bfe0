/* credentials.c: the SQL of OAuth: credential rows and their sealed
 * tokens, pending authorization states, refresh locks, and the reseal of
 * all of them under a new key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "credentials.h"
#include "exit.h"
#include "xalloc.h"

void cx_cred_free(cx_cred *c)
{
	free(c->provider);
	free(c->workspace);
	free(c->kind);
	free(c->account_id);
	free(c->username);
	free(c->scopes);
	free(c->key_id);
	free(c->status);
	free(c->last_error);
	free(c->meta);
	free(c->access);
	free(c->refresh);
	memset(c, 0, sizeof *c);
}

#define CRED_COLUMNS \
    "provider, workspace, kind, account_id, username, scopes, access_token," \
    " refresh_token, key_id, expires_at, status, last_error, last_error_at, meta," \
    " generation, attempts, created_at, updated_at, refreshed_at"

static unsigned char *col_blob(cx_stmt *st, int col, size_t *len)
{
	const void *b;
	unsigned char *out;

	*len = 0;
	if (cx_stmt_col_is_null(st, col))
		return NULL;
	b = cx_stmt_col_blob(st, col, len);
	out = cx_xmalloc(*len ? *len : 1);
	if (*len)
		memcpy(out, b, *len);
	return out;
}

static void cred_read(cx_stmt *st, cx_cred *c)
{
	memset(c, 0, sizeof *c);
	c->provider = cx_stmt_col_dup(st, 0);
	c->workspace = cx_stmt_col_dup(st, 1);
	c->kind = cx_stmt_col_dup(st, 2);
	c->account_id = cx_stmt_col_dup(st, 3);
	c->username = cx_stmt_col_dup(st, 4);
	c->scopes = cx_stmt_col_dup(st, 5);
	c->access = col_blob(st, 6, &c->access_len);
	c->refresh = col_blob(st, 7, &c->refresh_len);
	c->key_id = cx_stmt_col_dup(st, 8);
	c->has_expiry = !cx_stmt_col_is_null(st, 9);
	c->expires_at = cx_stmt_col_int(st, 9);
	c->status = cx_stmt_col_dup(st, 10);
	c->last_error = cx_stmt_col_dup(st, 11);
	c->last_error_at = cx_stmt_col_int(st, 12);
	c->meta = cx_stmt_col_dup(st, 13);
	c->generation = cx_stmt_col_int(st, 14);
	c->attempts = cx_stmt_col_int(st, 15);
	c->created_at = cx_stmt_col_int(st, 16);
	c->updated_at = cx_stmt_col_int(st, 17);
	c->has_refreshed = !cx_stmt_col_is_null(st, 18);
	c->refreshed_at = cx_stmt_col_int(st, 18);
}

static const char sql_cred_get[] =
    "SELECT " CRED_COLUMNS " FROM oauth_credentials WHERE provider = ?1 AND workspace = ?2";

int cx_cred_load(cx_store *s, const char *provider, const char *workspace,
    cx_cred *c, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_cred_get, err);
	int rc;

	if (!st)
		return -1;
	cx_stmt_text(st, 1, provider);
	cx_stmt_text(st, 2, workspace);
	rc = cx_stmt_step(st, err);
	if (rc == 1)
		cred_read(st, c);
	cx_stmt_reset(st);
	return rc;
}

static const char sql_cred_all[] =
    "SELECT " CRED_COLUMNS " FROM oauth_credentials"
    " WHERE (?1 IS NULL OR provider = ?1) AND (?2 IS NULL OR workspace = ?2)"
    " ORDER BY provider, workspace";

int cx_cred_each(cx_store *s, const char *provider, const char *workspace,
    void (*each)(const cx_cred *c, void *ctx), void *ctx, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_cred_all, err);
	int rc;

	if (!st)
		return -1;
	cx_stmt_text(st, 1, provider);
	cx_stmt_text(st, 2, workspace);
	while ((rc = cx_stmt_step(st, err)) == 1) {
		cx_cred c;

		cred_read(st, &c);
		each(&c, ctx);
		cx_cred_free(&c);
	}
	cx_stmt_reset(st);
	return rc;
}

static char *aad_of(const char *provider, const char *workspace, const char *field)
{
	return cx_xasprintf("cred:%s:%s:%s", provider, workspace, field);
}

int cx_cred_seal(const cx_tokenkeys *k, const char *provider,
    const char *workspace, const char *field, const char *plain,
    unsigned char **blob, size_t *len, cx_err *err)
{
	char *aad = aad_of(provider, workspace, field);
	int rc = cx_token_seal(k, aad, plain, strlen(plain), blob, len, err);

	free(aad);
	return rc;
}

int cx_cred_open(const cx_tokenkeys *k, const cx_cred *c, const char *field,
    char **plain, cx_err *err)
{
	int refresh = strcmp(field, "refresh") == 0;
	char *aad = aad_of(c->provider, c->workspace, field);
	int rc = cx_token_open(k, aad, refresh ? c->refresh : c->access,
	    refresh ? c->refresh_len : c->access_len, plain, err);

	free(aad);
	if (rc < 0) {
		char msg[sizeof err->msg];

		snprintf(msg, sizeof msg, "%s", err->msg);
		cx_err_set(err, CX_EXIT_CONFIG, "config: %s:%s: %s", c->provider,
		    c->workspace, msg);
	}
	return rc;
}

static const char sql_cred_upsert[] =
    "INSERT INTO oauth_credentials (provider, workspace, kind, account_id, username,"
    " scopes, access_token, refresh_token, key_id, expires_at, status, meta,"
    " generation, attempts, created_at, updated_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'ok', ?11, 1, 0, ?12, ?12)"
    " ON CONFLICT (provider, workspace) DO UPDATE SET kind = excluded.kind,"
    " account_id = excluded.account_id, username = excluded.username,"
    " scopes = excluded.scopes, access_token = excluded.access_token,"
    " refresh_token = excluded.refresh_token, key_id = excluded.key_id,"
    " expires_at = excluded.expires_at, status = 'ok', last_error = NULL,"
    " last_error_at = NULL, meta = excluded.meta, generation = generation + 1,"
    " created_at = excluded.created_at, updated_at = excluded.updated_at,"
    " refreshed_at = NULL";

static const char sql_lock_drop[] =
    "DELETE FROM oauth_refresh_locks WHERE provider = ?1 AND workspace = ?2";

static void bind_blob(cx_stmt *st, int idx, const unsigned char *b, size_t len)
{
	if (b)
		cx_stmt_blob(st, idx, b, len);
	else
		cx_stmt_null(st, idx);
}

int cx_cred_put(cx_store *s, const char *provider, const char *workspace,
    const cx_cred_row *r, int64_t now, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_cred_upsert, err);

	if (!st)
		return -1;
	cx_stmt_text(st, 1, provider);
	cx_stmt_text(st, 2, workspace);
	cx_stmt_text(st, 3, r->kind);
	cx_stmt_text(st, 4, r->account_id);
	cx_stmt_text(st, 5, r->username);
	cx_stmt_text(st, 6, r->scopes);
	cx_stmt_blob(st, 7, r->access, r->access_len);
	bind_blob(st, 8, r->refresh, r->refresh_len);
	cx_stmt_text(st, 9, r->key_id);
	if (r->has_expiry)
		cx_stmt_int(st, 10, r->expires_at);
	else
		cx_stmt_null(st, 10);
	cx_stmt_text(st, 11, r->meta ? r->meta : "{}");
	cx_stmt_int(st, 12, now);
	return cx_stmt_run(st, err);
}

int cx_cred_lock_drop(cx_store *s, const char *provider, const char *workspace,
    cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_lock_drop, err);

	if (!st)
		return -1;
	cx_stmt_text(st, 1, provider);
	cx_stmt_text(st, 2, workspace);
	return cx_stmt_run(st, err);
}

static const char sql_lock_get[] =
    "SELECT owner, expires_at FROM oauth_refresh_locks WHERE provider = ?1 AND workspace = ?2";

static const char sql_lock_take[] =
    "INSERT INTO oauth_refresh_locks (provider, workspace, owner, expires_at)"
    " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (provider, workspace) DO UPDATE SET"
    " owner = excluded.owner, expires_at = excluded.expires_at";

static const char sql_lock_release[] =
    "DELETE FROM oauth_refresh_locks WHERE provider = ?1 AND workspace = ?2 AND owner = ?3";

static const char sql_refresh_ok[] =
    "UPDATE oauth_credentials SET access_token = ?3, refresh_token = ?4, key_id = ?5,"
    " expires_at = ?6, scopes = coalesce(?7, scopes), status = 'ok', last_error = NULL,"
    " last_error_at = NULL, generation = generation + 1, attempts = attempts + 1,"
    " updated_at = ?8, refreshed_at = ?8 WHERE provider = ?1 AND workspace = ?2";

static const char sql_refresh_refused[] =
    "UPDATE oauth_credentials SET status = 'refresh_failed', last_error = ?3,"
    " last_error_at = ?4, attempts = attempts + 1, updated_at = ?4"
    " WHERE provider = ?1 AND workspace = ?2";

static const char sql_refresh_failed[] =
    "UPDATE oauth_credentials SET last_error = ?3, last_error_at = ?4,"
    " attempts = attempts + 1, updated_at = ?4 WHERE provider = ?1 AND workspace = ?2";

int cx_cred_lock_held(cx_store *s, const cx_cred *c, const char *me, int64_t now,
    cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_lock_get, err);
	int rc, held = 0;

	if (!st)
		return -1;
	cx_stmt_text(st, 1, c->provider);
	cx_stmt_text(st, 2, c->workspace);
	rc = cx_stmt_step(st, err);
	if (rc == 1)
		held = strcmp(cx_stmt_col_text(st, 0), me) != 0 && cx_stmt_col_int(st, 1) > now;
	cx_stmt_reset(st);
	return rc < 0 ? -1 : held;
}

static int lock_run(cx_store *s, const char *sql, const cx_cred *c, const char *me,
    int64_t expires, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql, err);

	if (!st)
		return -1;
	cx_stmt_text(st, 1, c->provider);
	cx_stmt_text(st, 2, c->workspace);
	cx_stmt_text(st, 3, me);
	if (sql == sql_lock_take)
		cx_stmt_int(st, 4, expires);
	return cx_stmt_run(st, err);
}

int cx_cred_lock_take(cx_store *s, const cx_cred *c, const char *me,
    int64_t expires_at, cx_err *err)
{
	return lock_run(s, sql_lock_take, c, me, expires_at, err);
}

int cx_cred_lock_release(cx_store *s, const cx_cred *c, const char *me, cx_err *err)
{
	return lock_run(s, sql_lock_release, c, me, 0, err);
}

int cx_cred_refreshed(cx_store *s, const cx_cred *c, const cx_cred_row *r,
    int64_t now, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_refresh_ok, err);

	if (!st)
		return -1;
	cx_stmt_text(st, 1, c->provider);
	cx_stmt_text(st, 2, c->workspace);
	cx_stmt_blob(st, 3, r->access, r->access_len);
	bind_blob(st, 4, r->refresh, r->refresh_len);
	cx_stmt_text(st, 5, r->key_id);
	if (r->has_expiry)
		cx_stmt_int(st, 6, r->expires_at);
	else
		cx_stmt_null(st, 6);
	if (r->scopes)
		cx_stmt_text(st, 7, r->scopes);
	else
		cx_stmt_null(st, 7);
	cx_stmt_int(st, 8, now);
	return cx_stmt_run(st, err);
}

int cx_cred_refresh_failed(cx_store *s, const cx_cred *c, const char *last_error,
    int refused, int64_t now, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, refused ? sql_refresh_refused :
	    sql_refresh_failed, err);

	if (!st)
		return -1;
	cx_stmt_text(st, 1, c->provider);
	cx_stmt_text(st, 2, c->workspace);
	cx_stmt_text(st, 3, last_error);
	cx_stmt_int(st, 4, now);
	return cx_stmt_run(st, err);
}

static const char sql_revoke[] =
    "UPDATE oauth_credentials SET status = 'revoked', access_token = NULL,"
    " refresh_token = NULL, expires_at = NULL, updated_at = ?3"
    " WHERE provider = ?1 AND workspace = ?2";

int cx_cred_revoke(cx_store *s, const char *provider, const char *workspace,
    int64_t now, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_revoke, err);

	if (!st)
		return -1;
	cx_stmt_text(st, 1, provider);
	cx_stmt_text(st, 2, workspace);
	cx_stmt_int(st, 3, now);
	return cx_stmt_run(st, err);
}

/* ---- pending authorization states ------------------------------------ */

void cx_authstate_free(cx_authstate *st)
{
	free(st->provider);
	free(st->workspace);
	free(st->redirect_uri);
	free(st->scopes);
	free(st->verifier);
	memset(st, 0, sizeof *st);
}

static const char sql_state_prune[] =
    "DELETE FROM oauth_states WHERE expires_at < ?1";

static const char sql_state_add[] =
    "INSERT INTO oauth_states (state_hash, provider, workspace, redirect_uri, scopes,"
    " verifier, key_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

static const char sql_state_get[] =
    "SELECT provider, workspace, redirect_uri, scopes, verifier, expires_at, used"
    " FROM oauth_states WHERE state_hash = ?1";

static const char sql_state_use[] =
    "UPDATE oauth_states SET used = 1, used_at = ?2, verifier = NULL"
    " WHERE state_hash = ?1 AND used = 0 AND expires_at > ?2 AND provider = ?3";

static char *state_aad(const char *hash)
{
	return cx_xasprintf("state:%s", hash);
}

int cx_authstate_seal(const cx_tokenkeys *k, const char *hash, const char *verifier,
    unsigned char **blob, size_t *len, cx_err *err)
{
	char *aad = state_aad(hash);
	int rc = cx_token_seal(k, aad, verifier, strlen(verifier), blob, len, err);

	free(aad);
	return rc;
}

int cx_authstate_open(const cx_tokenkeys *k, const char *hash,
    const cx_authstate *st, char **verifier, cx_err *err)
{
	char *aad = state_aad(hash);
	int rc = cx_token_open(k, aad, st->verifier, st->verifier_len, verifier, err);

	free(aad);
	return rc;
}

int cx_authstate_prune(cx_store *s, int64_t before, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_state_prune, err);

	if (!st)
		return -1;
	cx_stmt_int(st, 1, before);
	return cx_stmt_run(st, err);
}

int cx_authstate_add(cx_store *s, const char *hash, const cx_authstate *a,
    const char *key_id, int64_t now, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_state_add, err);

	if (!st)
		return -1;
	cx_stmt_text(st, 1, hash);
	cx_stmt_text(st, 2, a->provider);
	cx_stmt_text(st, 3, a->workspace);
	cx_stmt_text(st, 4, a->redirect_uri);
	cx_stmt_text(st, 5, a->scopes);
	bind_blob(st, 6, a->verifier, a->verifier_len);
	cx_stmt_text(st, 7, key_id);
	cx_stmt_int(st, 8, now);
	cx_stmt_int(st, 9, a->expires_at);
	return cx_stmt_run(st, err);
}

int cx_authstate_get(cx_store *s, const char *hash, cx_authstate *st, cx_err *err)
{
	cx_stmt *q = cx_store_prepare(s, sql_state_get, err);
	int rc;

	if (!q)
		return -1;
	cx_stmt_text(q, 1, hash);
	rc = cx_stmt_step(q, err);
	if (rc == 1) {
		memset(st, 0, sizeof *st);
		st->provider = cx_stmt_col_dup(q, 0);
		st->workspace = cx_stmt_col_dup(q, 1);
		st->redirect_uri = cx_stmt_col_dup(q, 2);
		st->scopes = cx_stmt_col_dup(q, 3);
		st->verifier = col_blob(q, 4, &st->verifier_len);
		st->expires_at = cx_stmt_col_int(q, 5);
		st->used = (int)cx_stmt_col_int(q, 6);
	}
	cx_stmt_reset(q);
	return rc;
}

int cx_authstate_consume(cx_store *s, const char *hash, const char *provider,
    int64_t now, cx_err *err)
{
	cx_stmt *st;
	int used;

	if (cx_store_begin(s, err) < 0)
		return -1;
	if (!(st = cx_store_prepare(s, sql_state_use, err))) {
		cx_store_rollback(s);
		return -1;
	}
	cx_stmt_text(st, 1, hash);
	cx_stmt_int(st, 2, now);
	cx_stmt_text(st, 3, provider);
	if (cx_stmt_run(st, err) < 0) {
		cx_store_rollback(s);
		return -1;
	}
	used = cx_store_changes(s) == 1;
	if (cx_store_commit(s, err) < 0)
		return -1;
	return used;
}

/* ---- key rotation ------------------------------------------------ */

static const char sql_rotate_creds[] =
    "SELECT " CRED_COLUMNS " FROM oauth_credentials ORDER BY provider, workspace";

static const char sql_rotate_cred[] =
    "UPDATE oauth_credentials SET access_token = ?3, refresh_token = ?4, key_id = ?5"
    " WHERE provider = ?1 AND workspace = ?2";

static const char sql_rotate_states[] =
    "SELECT state_hash, verifier FROM oauth_states WHERE verifier IS NOT NULL";

static const char sql_rotate_state[] =
    "UPDATE oauth_states SET verifier = ?2, key_id = ?3 WHERE state_hash = ?1";

/* Opens blob under old and seals it under new for the same aad. */
static int reseal(const cx_tokenkeys *old, const cx_tokenkeys *new_keys,
    const char *aad, const unsigned char *blob, size_t len, unsigned char **out,
    size_t *outlen, cx_err *err)
{
	char *plain = NULL;
	int rc;

	*out = NULL;
	*outlen = 0;
	if (!blob)
		return 0;
	if (cx_token_open(old, aad, blob, len, &plain, err) < 0)
		return -1;
	rc = cx_token_seal(new_keys, aad, plain, strlen(plain), out, outlen, err);
	cx_secret_free(plain);
	return rc;
}

static int rotate_creds(cx_store *s, const cx_tokenkeys *old,
    const cx_tokenkeys *new_keys, int64_t *n, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_rotate_creds, err);
	cx_cred *all = NULL;
	size_t count_rows = 0, cap = 0;
	int rc;

	if (!st)
		return -1;
	while ((rc = cx_stmt_step(st, err)) == 1) {
		if (count_rows == cap)
			all = cx_xrealloc(all, (cap = cap ? cap * 2 : 8) * sizeof *all);
		cred_read(st, &all[count_rows++]);
	}
	cx_stmt_reset(st);
	for (size_t i = 0; rc == 0 && i < count_rows; i++) {
		cx_cred *c = &all[i];
		unsigned char *ab = NULL, *rb = NULL;
		size_t al = 0, rl = 0;
		char *aa = aad_of(c->provider, c->workspace, "access");
		char *ra = aad_of(c->provider, c->workspace, "refresh");

		if (reseal(old, new_keys, aa, c->access, c->access_len, &ab, &al, err) < 0 ||
		    reseal(old, new_keys, ra, c->refresh, c->refresh_len, &rb, &rl, err) < 0 ||
		    !(st = cx_store_prepare(s, sql_rotate_cred, err))) {
			char msg[sizeof err->msg];

			snprintf(msg, sizeof msg, "%s", err->msg);
			cx_err_set(err, CX_EXIT_CONFIG, "config: %s:%s: %s", c->provider,
			    c->workspace, msg);
			rc = -1;
		} else {
			cx_stmt_text(st, 1, c->provider);
			cx_stmt_text(st, 2, c->workspace);
			bind_blob(st, 3, ab, al);
			bind_blob(st, 4, rb, rl);
			cx_stmt_text(st, 5, cx_tokenkeys_id(new_keys));
			rc = cx_stmt_run(st, err);
			(*n)++;
		}
		free(ab);
		free(rb);
		free(aa);
		free(ra);
	}
	for (size_t i = 0; i < count_rows; i++)
		cx_cred_free(&all[i]);
	free(all);
	return rc;
}

static int rotate_states(cx_store *s, const cx_tokenkeys *old,
    const cx_tokenkeys *new_keys, int64_t *n, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_rotate_states, err);
	cx_authstate *all = NULL;
	char **hashes = NULL;
	size_t rows = 0, cap = 0;
	int rc;

	if (!st)
		return -1;
	while ((rc = cx_stmt_step(st, err)) == 1) {
		if (rows == cap) {
			cap = cap ? cap * 2 : 8;
			all = cx_xrealloc(all, cap * sizeof *all);
			hashes = cx_xrealloc(hashes, cap * sizeof *hashes);
		}
		memset(&all[rows], 0, sizeof *all);
		hashes[rows] = cx_stmt_col_dup(st, 0);
		all[rows].verifier = col_blob(st, 1, &all[rows].verifier_len);
		rows++;
	}
	cx_stmt_reset(st);
	for (size_t i = 0; rc == 0 && i < rows; i++) {
		unsigned char *b = NULL;
		size_t bl = 0;
		char *aad = state_aad(hashes[i]);

		if (reseal(old, new_keys, aad, all[i].verifier, all[i].verifier_len, &b, &bl,
		    err) < 0 || !(st = cx_store_prepare(s, sql_rotate_state, err))) {
			rc = -1;
		} else {
			cx_stmt_text(st, 1, hashes[i]);
			bind_blob(st, 2, b, bl);
			cx_stmt_text(st, 3, cx_tokenkeys_id(new_keys));
			rc = cx_stmt_run(st, err);
			(*n)++;
		}
		free(b);
		free(aad);
	}
	for (size_t i = 0; i < rows; i++) {
		cx_authstate_free(&all[i]);
		free(hashes[i]);
	}
	free(all);
	free(hashes);
	return rc;
}

int cx_cred_reseal_all(cx_store *s, const cx_tokenkeys *old,
    const cx_tokenkeys *new_keys, int64_t *creds, int64_t *states, cx_err *err)
{
	if (rotate_creds(s, old, new_keys, creds, err) < 0)
		return -1;
	return rotate_states(s, old, new_keys, states, err);
}
