/* serviceaccount.c: credentials without a user, for a preset with
 * service accounts (Google's JWT bearer grant, in src/providers/google):
 * connected once from the key file, renewed by cx_oauth_token with the
 * sealed key as a refresh token would be. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "exit.h"
#include "json.h"
#include "oauth.h"
#include "oauthflow.h"
#include "xalloc.h"

/* Where a service account's grant goes: the key file's token_uri, unless
 * the token URL is set. NULL with err when there is none. */
static char *sa_token_url(cx_oauth_provider *p, const char *token_uri, cx_err *err)
{
	if (token_uri && !cx_oauth_provider_setting(p, "TOKEN_URL"))
		return cx_xstrdup(token_uri);
	return cx_oauth2_token_url(p, err);
}

static void sa_key_free(cx_oauth_sa_key *k)
{
	free(k->account);
	cx_secret_free(k->sealed);
	free(k->token_uri);
	memset(k, 0, sizeof *k);
}

/* The credential's meta: the subject and the key file's token_uri. */
static char *sa_meta(const char *subject, const char *token_uri)
{
	jv m = jv_object();

	if (subject)
		m = jv_object_set(m, jv_string("subject"), jv_string(subject));
	if (token_uri)
		m = jv_object_set(m, jv_string("token_uri"), jv_string(token_uri));
	return cx_json_dump(m);
}

/* The key file from the preset's setting, parsed. */
static int sa_key_load(const cx_oauth_service_accounts *sa, cx_oauth_sa_key *key,
    cx_err *err)
{
	char *json = NULL;
	int got = cx_secret_get(sa->key_setting, &json, err);

	if (got == 0)
		cx_err_set(err, CX_EXIT_CONFIG, "config: %s (or %s_FILE) is not set",
		    sa->key_setting, sa->key_setting);
	if (got > 0)
		got = sa->key_parse(json, key, err) < 0 ? -1 : 1;
	cx_secret_free(json);
	return got > 0 ? 0 : -1;
}

int cx_oauth_service_account(cx_store *s, cx_oauth_provider *p,
    const char *workspace, const char *scopes, const char *subject, jv *status,
    cx_err *err)
{
	const cx_oauth_service_accounts *sa = p->preset->service_account;
	cx_tokenkeys *keys = NULL;
	char *url = NULL, *scope = NULL, *meta = NULL;
	cx_oauth_sa_key key = { 0 };
	cx_oauth_grant g = { 0 };
	int rc = -1;

	if (!workspace || !*workspace || !scopes)
		return cx_err_set(err, CX_EXIT_USAGE, "usage: a workspace and scopes are required");
	if (!sa)
		return cx_err_set(err, CX_EXIT_USAGE,
		    "usage: service accounts are Google's (--provider google)");
	if (cx_tokenkeys_load(&keys, err) < 0 || sa_key_load(sa, &key, err) < 0)
		goto out;
	scope = cx_oauth_scopes_normalize(scopes);
	if (!(url = sa_token_url(p, key.token_uri, err)))
		goto out;
	if (sa->grant(p, key.sealed, scope, subject, url, "service_account_refused", 0, &g,
	    err) < 0) {
		if (err->code == CX_EXIT_NOPERM)
			oauth_refuse(s, p->name, workspace, err);
		goto out;
	}
	meta = sa_meta(subject, key.token_uri);
	{
		oauth_new_cred n = { .kind = "service_account", .account_id = key.account,
			.username = subject ? subject : key.account,
			.scopes = g.scope ? g.scope : scope, .meta = meta,
			.access = g.access, .refresh = key.sealed };

		rc = oauth_cred_store(s, keys, p, workspace, &n, g.expires_in, err);
	}
	if (rc == 0)
		*status = oauth_status_of(s, p, workspace);
out:
	free(url);
	free(scope);
	free(meta);
	sa_key_free(&key);
	cx_oauth_grant_free(&g);
	cx_tokenkeys_free(keys);
	return rc;
}

int oauth_sa_renew(cx_oauth_provider *p, const cx_tokenkeys *k, const cx_cred *c,
    long timeout_ms, cx_oauth_grant *g, cx_err *err)
{
	const cx_oauth_service_accounts *sa = p->preset->service_account;
	jv meta = jv_parse(c->meta ? c->meta : "{}");
	const char *sub = jv_get_kind(meta) == JV_KIND_OBJECT ?
	    cx_json_str(meta, "subject") : NULL;
	const char *uri = jv_get_kind(meta) == JV_KIND_OBJECT ?
	    cx_json_str(meta, "token_uri") : NULL;
	char *secret = NULL, *url = NULL;
	int rc = -1;

	if (!sa)
		cx_err_set(err, CX_EXIT_CONFIG, "config: %s:%s is a service account, which "
		    "%s does not have", c->provider, c->workspace, p->name);
	else if (cx_cred_open(k, c, "refresh", &secret, err) == 0 &&
	    (url = sa_token_url(p, uri, err)))
		rc = sa->grant(p, secret, c->scopes, sub, url, "refresh_refused", timeout_ms,
		    g, err);
	if (rc == 0) {
		/* the key stays; it is sealed again with the new token */
		cx_secret_free(g->refresh);
		g->refresh = secret;
		secret = NULL;
	}
	cx_secret_free(secret);
	free(url);
	jv_free(meta);
	return rc;
}
