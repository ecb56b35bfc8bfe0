/* oauthflow.h: what the OAuth flows (authorize.c, callback.c, token.c,
 * revoke.c, rotate.c, serviceaccount.c, status.c) share; not for callers
 * outside src/lib/oauth (they use oauth.h). Same ownership rule as oauth.h:
 * returned strings and jv values are new, arguments stay the caller's. */
#ifndef CX_OAUTHFLOW_H
#define CX_OAUTHFLOW_H

#include <stdint.h>

#include <jv.h>

#include "credentials.h"
#include "err.h"
#include "oauth2.h"
#include "oauthprovider.h"
#include "store.h"
#include "tokencrypt.h"

/* A non-negative number of seconds from the setting name (78 otherwise). */
int oauth_config_seconds(const char *name, int64_t def, int64_t *out, cx_err *err);
/* "<provider>:<workspace>", the subject of audit rows. */
char *oauth_subject(const char *provider, const char *workspace);
jv oauth_time_or_null(int has, int64_t t);
jv oauth_str_or_null(const char *s);
/* The provider's scopes: those it requires (new string), its defaults. */
char *oauth_required_scopes(const cx_oauth_provider *p);
const char *oauth_default_scopes(const cx_oauth_provider *p);

/* Adds one to counter name for provider and result. */
int oauth_count(cx_store *s, const char *name, const char *provider,
    const char *result, cx_err *err);

/* Records a connection attempt that failed (audit + counter: refused for
 * 77, failed otherwise); err keeps the reason it already holds. -1. */
int oauth_refuse(cx_store *s, const char *provider, const char *workspace,
    cx_err *err);

/* A new credential, its tokens in plain text (refresh may be NULL). */
typedef struct {
	const char *kind, *account_id, *username, *scopes, *meta;
	const char *access, *refresh;
} oauth_new_cred;

/* Stores a new credential, its audit row and its counter in one
 * transaction. */
int oauth_cred_store(cx_store *s, const cx_tokenkeys *k,
    const cx_oauth_provider *p, const char *workspace, const oauth_new_cred *n,
    int64_t expires_in, cx_err *err);

int oauth_is_expired(const cx_cred *c, int64_t now);
int oauth_is_revoked(const cx_cred *c);
int oauth_refresh_refused(const cx_cred *c);
/* Whether cx_oauth_token can get a new access token without the user
 * (p NULL: it cannot). */
int oauth_can_refresh(const cx_oauth_provider *p, const cx_cred *c, int64_t now);
/* The status line of credential workspace of p, read afresh (null when
 * it cannot be read). */
jv oauth_status_of(cx_store *s, const cx_oauth_provider *p, const char *workspace);

/* Renews a service account's access token with its sealed key. */
int oauth_sa_renew(cx_oauth_provider *p, const cx_tokenkeys *k, const cx_cred *c,
    long timeout_ms, cx_oauth_grant *g, cx_err *err);

#endif
