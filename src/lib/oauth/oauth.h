/* oauth.h: OAuth2 credentials for every tool (SPEC §6 cx-oauth), one flow
 * for every provider (oauthprovider.h: a preset from src/providers or a
 * generic RFC 6749 server): single-use authorization states with PKCE
 * (authorize.c), the RFC 9207 issuer check and the code exchange
 * (callback.c), the credential store sealed under CX_TOKEN_KEY
 * (credentials.h), cx_oauth_token, which hands out a valid access token
 * and refreshes it under a per-credential lock so concurrent callers cause
 * one refresh (token.c), revocation (revoke.c), key rotation (rotate.c),
 * service accounts (serviceaccount.c), status listings (status.c).
 *
 * The flows never look a provider up by name: they take an opened handle
 * (cx_oauth_provider_open, or the registry's cx_presets_open). Where a
 * flow meets a name its caller did not give (the provider stored in an
 * authorization state, those of the credentials a status lists), the
 * caller passes an opener, a cx_oauth_open_fn (tools: cx_presets_open).
 *
 * Failures set err->code (64 usage, 69 an endpoint that does not answer
 * OAuth, 75 transport or upstream 5xx/429, 77 refused: state, issuer,
 * scope, identity, refresh, revoked; 78 configuration) and start
 * err->msg with a reason code, "state_used: ...", that
 * cx_oauth_reason extracts. Every change is audited (never a token) in its
 * own transaction, and refreshes are counted in cx_oauth_refresh_total.
 * Returned strings are new (tokens: free with cx_secret_free, which wipes);
 * jv values handed out are the caller's; strings and handles passed in
 * stay the caller's. */
#ifndef CX_OAUTH_H
#define CX_OAUTH_H

#include <jv.h>

#include "err.h"
#include "oauthprovider.h"
#include "store.h"
#include "tokencrypt.h"

/* Opens the provider called name into *p (64 for an unknown name); the
 * flow that calls it frees what it opened. */
typedef int (*cx_oauth_open_fn)(const char *name, cx_oauth_provider **p,
    cx_err *err);

/* Starts an authorization: stores a state (>= 128 random bits, kept only as
 * its hash) with the workspace, the sealed PKCE verifier, the redirect URI
 * and an expiry (CX_OAUTH_STATE_TTL_SECONDS, 600), and returns the URL to
 * send the user to. scopes NULL: the provider's defaults; spaces or commas
 * separate scopes. */
int cx_oauth_authorize(cx_store *s, cx_oauth_provider *p, const char *workspace,
    const char *scopes, char **url, cx_err *err);

/* What came back on the redirect. provider, when set, must be the state's
 * (the caller has checked that it names a provider). */
typedef struct {
	const char *provider;
	const char *code, *state;
	const char *error, *error_description;   /* an error= redirect */
	const char *iss;                          /* RFC 9207, when sent */
} cx_oauth_redirect;

/* Consumes the state (exactly once, even under concurrent callbacks),
 * opens the state's provider with open, exchanges the code, checks the
 * granted scopes and the identity, stores the credential, and returns its
 * status line in *status. Nothing is stored when any check fails. */
int cx_oauth_callback(cx_store *s, cx_oauth_open_fn open,
    const cx_oauth_redirect *r, jv *status, cx_err *err);

/* A valid access token for p + workspace, refreshed first when it is
 * within CX_REFRESH_SKEW_SECONDS (300) of expiry. The refresh runs under a
 * lock row (CX_REFRESH_LOCK_TTL_SECONDS, 30): other callers wait for it and
 * return the new token. A refused refresh marks the credential
 * refresh_failed (77, no retries); transport errors and 5xx are 75. */
int cx_oauth_token(cx_store *s, cx_oauth_provider *p, const char *workspace,
    char **token, cx_err *err);
/* cx_oauth_token for provider code that holds its own preset. */
int cx_oauth_preset_token(cx_store *s, const cx_oauth_preset *preset,
    const char *workspace, char **token, cx_err *err);

/* One status object per credential (provider and workspace may be NULL
 * for all): connected, access_token_valid, is_expired, can_auto_refresh,
 * connected_reason, scopes, account... open tells what each credential's
 * provider is (one it cannot open is not refreshable). each() owns the
 * object. */
int cx_oauth_status(cx_store *s, cx_oauth_open_fn open, const char *provider,
    const char *workspace, void (*each)(jv row, void *ctx), void *ctx,
    cx_err *err);
/* The inventory: one object per credential with its kind, state and key id. */
int cx_oauth_list(cx_store *s, const char *provider, const char *workspace,
    void (*each)(jv row, void *ctx), void *ctx, cx_err *err);

/* Revokes at the provider (unless local_only) and forgets the tokens; the
 * credential stays, as revoked. *result tells what happened upstream. */
int cx_oauth_revoke(cx_store *s, cx_oauth_provider *p, const char *workspace,
    int local_only, jv *result, cx_err *err);

/* Re-seals every stored token and pending verifier under new_keys (the old
 * key is CX_TOKEN_KEY) in one transaction. */
int cx_oauth_rotate_key(cx_store *s, const cx_tokenkeys *new_keys, jv *result,
    cx_err *err);

/* Connects a service account (server-to-server, for a preset with
 * service_account: Google's JWT bearer grant signed RS256) from the key in
 * the preset's key setting (CX_GOOGLE_SERVICE_ACCOUNT_KEY, or _FILE): gets
 * a first token to prove it works and stores the key sealed, so
 * cx_oauth_token renews it like a refresh. subject may be NULL (domain-wide
 * delegation otherwise). */
int cx_oauth_service_account(cx_store *s, cx_oauth_provider *p,
    const char *workspace, const char *scopes, const char *subject, jv *status,
    cx_err *err);

/* The reason code that starts err->msg ("state_used"), or "error". */
const char *cx_oauth_reason(const cx_err *err, char buf[48]);

#endif
