/* callback.c: the end of an authorization: the state consumed exactly
 * once, the RFC 9207 issuer check, the code exchange, the identity and
 * granted scopes, and the credential stored. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "exit.h"
#include "http.h"
#include "oauth.h"
#include "oauthflow.h"
#include "xalloc.h"

/* A provider's error code from the redirect, reduced to a safe alphabet. */
static void safe_word(const char *in, char out[64])
{
	size_t n = 0;

	for (; in && *in && n < 63; in++)
		out[n++] = isalnum((unsigned char)*in) || *in == '_' || *in == '.' ? *in : '?';
	out[n] = '\0';
}

/* The grant of a code: the exchange, then the preset's exchange for a
 * long-lived token (Meta) when it has one. */
static int exchange_code(cx_oauth_provider *p, const cx_oauth_client *c,
    const cx_authstate *st, const char *code, const char *verifier, cx_oauth_grant *g,
    cx_err *err)
{
	char *url = cx_oauth2_token_url(p, err), *form;
	int rc;

	if (!url)
		return -1;
	form = cx_http_form("grant_type", "authorization_code", "code", code,
	    "redirect_uri", st->redirect_uri, "code_verifier", verifier,
	    "client_id", c->id, "client_secret", cx_oauth_client_form_secret(p, c), NULL);
	rc = cx_oauth2_token_call(p, c, url, form, "code_exchange_refused", 0, g, err);
	cx_secret_free(form);
	free(url);
	if (rc == 0 && p->preset->exchange) {
		cx_oauth_grant ll;

		rc = p->preset->exchange(p, c, g->access, "code_exchange_refused", 0, &ll, err);
		cx_oauth_grant_free(g);
		if (rc == 0)
			*g = ll;
	}
	return rc;
}

/* RFC 9207: the redirect's iss must be the configured issuer when the
 * server sends one or advertises that it does; a difference is a mix-up
 * (a response from another server) and refused with 77. */
static int iss_check(cx_oauth_provider *p, const char *iss, cx_err *err)
{
	const char *issuer;
	int required;

	if (cx_oauth_provider_issuer(p, &issuer, &required, err) < 0)
		return -1;
	if (!issuer)
		return 0;
	if (!iss && required)
		return cx_err_set(err, CX_EXIT_NOPERM, "iss_missing: the redirect carries no "
		    "iss though the server advertises authorization_response_iss_parameter_"
		    "supported (RFC 9207); refused as a possible mix-up");
	if (iss && strcmp(iss, issuer) != 0)
		return cx_err_set(err, CX_EXIT_NOPERM, "iss_mismatch: the redirect's iss is "
		    "not %s_ISSUER (RFC 9207); refused as a possible mix-up", p->env);
	return 0;
}

/* One callback as it goes. */
typedef struct {
	cx_store *s;
	const cx_oauth_redirect *r;
	char hash[2 * CX_SHA256_LEN + 1];
	cx_authstate st;
	cx_oauth_provider *p;
	cx_tokenkeys *keys;
	cx_oauth_client c;
	cx_oauth_grant g;
	cx_oauth_identity id;
	int64_t now;
} callback;

static void callback_free(callback *cb)
{
	cx_authstate_free(&cb->st);
	cx_oauth_provider_free(cb->p);
	cx_tokenkeys_free(cb->keys);
	cx_oauth_client_free(&cb->c);
	cx_oauth_grant_free(&cb->g);
	cx_oauth_identity_free(&cb->id);
}

/* The state the redirect names: 1 found, -1 with err (refused and
 * recorded when no authorization was started with it). */
static int callback_state(callback *cb, cx_err *err)
{
	const cx_oauth_redirect *r = cb->r;
	unsigned char md[CX_SHA256_LEN];
	int known;

	if (!r->state || !*r->state)
		return cx_err_set(err, r->error ? CX_EXIT_NOPERM : CX_EXIT_USAGE,
		    "%s: the redirect carries no state", r->error ? "authorization_denied" :
		    "usage");
	cx_crypto_sha256(r->state, strlen(r->state), md);
	cx_crypto_hex(md, sizeof md, cb->hash);
	if ((known = cx_authstate_get(cb->s, cb->hash, &cb->st, err)) < 0)
		return -1;
	if (!known) {
		cx_err_set(err, CX_EXIT_NOPERM,
		    "state_unknown: no authorization was started with this state");
		return oauth_refuse(cb->s, r->provider ? r->provider : "unknown", NULL, err);
	}
	return 1;
}

/* What the redirect says before anything is spent: the issuer, an error
 * from the provider, a code, the provider the caller expects. */
static int callback_checks(callback *cb, cx_err *err)
{
	const cx_oauth_redirect *r = cb->r;
	const cx_authstate *st = &cb->st;
	char word[64];

	if (iss_check(cb->p, r->iss, err) < 0) {
		if (err->code == CX_EXIT_NOPERM) {
			cx_authstate_consume(cb->s, cb->hash, st->provider, cb->now, NULL);
			oauth_refuse(cb->s, st->provider, st->workspace, err);
		}
		return -1;
	}
	if (r->error) {
		/* the user said no (or the provider failed): the state is spent */
		cx_authstate_consume(cb->s, cb->hash, st->provider, cb->now, NULL);
		safe_word(r->error, word);
		cx_err_set(err, CX_EXIT_NOPERM,
		    "authorization_denied: the provider redirected with error=%s", word);
		return oauth_refuse(cb->s, st->provider, st->workspace, err);
	}
	if (!r->code || !*r->code)
		return cx_err_set(err, CX_EXIT_USAGE, "usage: the redirect carries no code");
	if (r->provider && strcmp(r->provider, st->provider) != 0) {
		cx_err_set(err, CX_EXIT_NOPERM,
		    "state_provider_mismatch: the state was issued for %s, not %s",
		    st->provider, r->provider);
		return oauth_refuse(cb->s, r->provider, st->workspace, err);
	}
	return 0;
}

/* Spends the state, once; configuration first, so a misconfigured run
 * does not spend it. */
static int callback_consume(callback *cb, cx_err *err)
{
	cx_authstate *st = &cb->st;
	int rc;

	if (cx_oauth_client_load(cb->p, &cb->c, err) < 0 ||
	    cx_tokenkeys_load(&cb->keys, err) < 0)
		return -1;
	if ((rc = cx_authstate_consume(cb->s, cb->hash, st->provider, cb->now, err)) < 0)
		return -1;
	if (rc == 0) {
		cx_authstate again;

		if (cx_authstate_get(cb->s, cb->hash, &again, err) == 1) {
			st->used = again.used;
			cx_authstate_free(&again);
		}
		if (st->used)
			cx_err_set(err, CX_EXIT_NOPERM, "state_used: this state was already used");
		else
			cx_err_set(err, CX_EXIT_NOPERM, "state_expired: the authorization expired "
			    "(CX_OAUTH_STATE_TTL_SECONDS); start again with cx-oauth authorize");
		return oauth_refuse(cb->s, st->provider, st->workspace, err);
	}
	return 0;
}

/* The code for tokens, and whose they are. */
static int callback_grant(callback *cb, cx_err *err)
{
	const cx_authstate *st = &cb->st;
	char *verifier = NULL;
	int rc = 0;

	if (st->verifier)
		rc = cx_authstate_open(cb->keys, cb->hash, st, &verifier, err);
	if (rc == 0 && (exchange_code(cb->p, &cb->c, st, cb->r->code, verifier, &cb->g,
	    err) < 0 || cx_oauth2_identity(cb->p, &cb->c, cb->g.access, cb->g.scope ?
	    cb->g.scope : st->scopes, &cb->id, err) < 0)) {
		oauth_refuse(cb->s, st->provider, st->workspace, err);
		rc = -1;
	}
	cx_secret_free(verifier);
	return rc;
}

/* The granted scopes must hold the required ones; then the credential is
 * stored. */
static int callback_store(callback *cb, cx_err *err)
{
	const cx_authstate *st = &cb->st;
	cx_oauth_grant *g = &cb->g;
	const char *granted = cb->id.scopes ? cb->id.scopes : g->scope ? g->scope :
	    st->scopes;
	char *norm = cx_oauth_scopes_normalize(granted);
	char *req = oauth_required_scopes(cb->p);
	char *missing;
	int rc;

	free(g->scope);
	g->scope = norm;
	missing = cx_oauth_scopes_missing(g->scope, req);
	if (*missing) {
		cx_err_set(err, CX_EXIT_NOPERM,
		    "missing_scope: the grant lacks %s (granted: %s); nothing was stored",
		    missing, *g->scope ? g->scope : "none");
		rc = oauth_refuse(cb->s, st->provider, st->workspace, err);
	} else {
		oauth_new_cred n = { .kind = "user", .account_id = cb->id.id,
			.username = cb->id.username, .scopes = g->scope, .access = g->access,
			.refresh = g->refresh };

		rc = oauth_cred_store(cb->s, cb->keys, cb->p, st->workspace, &n,
		    g->expires_in, err);
	}
	free(req);
	free(missing);
	return rc;
}

int cx_oauth_callback(cx_store *s, cx_oauth_open_fn open,
    const cx_oauth_redirect *r, jv *status, cx_err *err)
{
	callback cb = { .s = s, .r = r, .now = cx_clock_now() };
	int rc = -1;

	if (callback_state(&cb, err) == 1 &&
	    open(cb.st.provider, &cb.p, err) == 0 &&
	    callback_checks(&cb, err) == 0 &&
	    callback_consume(&cb, err) == 0 &&
	    callback_grant(&cb, err) == 0 &&
	    callback_store(&cb, err) == 0) {
		*status = oauth_status_of(s, cb.p, cb.st.workspace);
		rc = 0;
	}
	callback_free(&cb);
	return rc;
}
