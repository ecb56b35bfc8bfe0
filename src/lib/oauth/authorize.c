/* authorize.c: the start of an authorization: a single-use state (kept
 * only as its hash), the PKCE verifier sealed beside it, and the URL the
 * user is sent to. */
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "exit.h"
#include "http.h"
#include "oauth.h"
#include "oauthflow.h"
#include "xalloc.h"

#define STATE_BYTES 32         /* 256 bits */
#define VERIFIER_BYTES 48      /* 64 base64url characters */
#define STATE_KEEP_SECONDS 86400

/* What one authorization is made of. */
typedef struct {
	const char *redirect;
	char *scope, *base;
	char *state, *verifier, *challenge;
	char hash[2 * CX_SHA256_LEN + 1];
	unsigned char *blob;           /* the sealed verifier */
	size_t bloblen;
	int64_t ttl;
} request;

static void request_free(request *q)
{
	free(q->scope);
	free(q->base);
	cx_secret_free(q->state);
	cx_secret_free(q->verifier);
	free(q->challenge);
	free(q->blob);
	memset(q, 0, sizeof *q);
}

/* The settings an authorization needs: state lifetime, client, keys,
 * redirect URI, scopes, the authorization endpoint. */
static int request_config(cx_oauth_provider *p, const char *scopes, request *q,
    cx_oauth_client *c, cx_tokenkeys **keys, cx_err *err)
{
	if (oauth_config_seconds("CX_OAUTH_STATE_TTL_SECONDS", 600, &q->ttl, err) < 0 ||
	    cx_oauth_client_load(p, c, err) < 0 || cx_tokenkeys_load(keys, err) < 0)
		return -1;
	if (!(q->redirect = cx_oauth_provider_setting(p, "REDIRECT_URI")))
		return cx_err_set(err, CX_EXIT_CONFIG, "config: %s_REDIRECT_URI is not set",
		    p->env);
	q->scope = cx_oauth_scopes_normalize(scopes ? scopes : oauth_default_scopes(p));
	if (!*q->scope) {
		if (scopes)
			return cx_err_set(err, CX_EXIT_USAGE, "usage: --scopes names no scope");
		return cx_err_set(err, CX_EXIT_CONFIG, "config: %s_SCOPES is not set; set it "
		    "or give --scopes", p->env);
	}
	return cx_oauth_provider_endpoint(p, CX_OAUTH_EP_AUTHORIZE, &q->base, err);
}

/* A random state and, when the provider takes PKCE, a verifier sealed for
 * the state and its S256 challenge. */
static int request_secrets(const cx_oauth_provider *p, const cx_tokenkeys *keys,
    request *q, cx_err *err)
{
	unsigned char raw[VERIFIER_BYTES], md[CX_SHA256_LEN];
	int rc = -1;

	if (cx_crypto_random(raw, STATE_BYTES) < 0) {
		cx_err_set(err, CX_EXIT_TEMPFAIL, "no random bytes for the state");
		goto out;
	}
	q->state = cx_crypto_base64url(raw, STATE_BYTES);
	cx_crypto_sha256_hex(q->state, strlen(q->state), q->hash);
	if (p->preset->pkce) {
		if (cx_crypto_random(raw, VERIFIER_BYTES) < 0) {
			cx_err_set(err, CX_EXIT_TEMPFAIL, "no random bytes for the verifier");
			goto out;
		}
		q->verifier = cx_crypto_base64url(raw, VERIFIER_BYTES);
		cx_crypto_sha256(q->verifier, strlen(q->verifier), md);
		q->challenge = cx_crypto_base64url(md, sizeof md);
		if (cx_authstate_seal(keys, q->hash, q->verifier, &q->blob, &q->bloblen,
		    err) < 0)
			goto out;
	}
	rc = 0;
out:
	cx_crypto_wipe(raw, sizeof raw);
	return rc;
}

/* Stores the state with its audit row, pruning old ones, in one
 * transaction. */
static int request_record(cx_store *s, const cx_oauth_provider *p,
    const char *workspace, const request *q, const cx_tokenkeys *keys, cx_err *err)
{
	int64_t now = cx_clock_now();
	char *subject = oauth_subject(p->name, workspace);
	cx_audit_entry e = { .action = "oauth_authorize", .subject = subject };
	cx_authstate st = { .provider = p->name, .workspace = (char *)workspace,
		.redirect_uri = (char *)q->redirect, .scopes = q->scope,
		.verifier = q->blob, .verifier_len = q->bloblen, .expires_at = now + q->ttl };
	int rc = -1;

	e.detail = jv_null();
	if (cx_store_begin(s, err) < 0)
		goto out;
	if (cx_authstate_prune(s, now - STATE_KEEP_SECONDS, err) < 0 ||
	    cx_authstate_add(s, q->hash, &st, cx_tokenkeys_id(keys), now, err) < 0)
		goto fail;
	e.detail = jv_object();
	e.detail = jv_object_set(e.detail, jv_string("provider"), jv_string(p->name));
	e.detail = jv_object_set(e.detail, jv_string("workspace"), jv_string(workspace));
	e.detail = jv_object_set(e.detail, jv_string("scopes"),
	    cx_oauth_scopes_array(q->scope));
	e.detail = jv_object_set(e.detail, jv_string("pkce"), jv_bool(q->verifier != NULL));
	e.detail = jv_object_set(e.detail, jv_string("expires_at"),
	    oauth_time_or_null(1, now + q->ttl));
	if (cx_audit_append(s, &e, err) < 0 || cx_store_commit(s, err) < 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	cx_store_rollback(s);
out:
	jv_free(e.detail);
	free(subject);
	return rc;
}

static char *request_url(const cx_oauth_provider *p, const cx_oauth_client *c,
    const request *q)
{
	const char *const *extra = p->preset->authorize_extra;
	char *joined = cx_oauth_scopes_join(q->scope, p->preset->scope_sep);
	char *url = cx_http_url_with(q->base, "response_type", "code", "client_id", c->id,
	    "redirect_uri", q->redirect, "scope", joined, "state", q->state,
	    "code_challenge", q->challenge,
	    "code_challenge_method", q->challenge ? "S256" : NULL,
	    extra[0], extra[1], extra[2], extra[3], NULL);

	free(joined);
	return url;
}

int cx_oauth_authorize(cx_store *s, cx_oauth_provider *p, const char *workspace,
    const char *scopes, char **url, cx_err *err)
{
	request q = { 0 };
	cx_tokenkeys *keys = NULL;
	cx_oauth_client c = { 0 };
	int rc = -1;

	if (!workspace || !*workspace)
		return cx_err_set(err, CX_EXIT_USAGE, "usage: a workspace is required");
	if (request_config(p, scopes, &q, &c, &keys, err) == 0 &&
	    request_secrets(p, keys, &q, err) == 0 &&
	    request_record(s, p, workspace, &q, keys, err) == 0) {
		*url = request_url(p, &c, &q);
		rc = 0;
	}
	request_free(&q);
	cx_oauth_client_free(&c);
	cx_tokenkeys_free(keys);
	return rc;
}
