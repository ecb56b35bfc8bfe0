/* revoke.c: cx_oauth_revoke: best effort at the provider (RFC 7009, or the
 * preset's style), confirmed by introspection when the server has it,
 * then the tokens forgotten here whatever the provider said. */
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "clock.h"
#include "config.h"
#include "exit.h"
#include "oauth.h"
#include "oauthflow.h"

/* RFC 7662 after RFC 7009: whether the server now calls the revoked
 * token inactive ("inactive", "active"), or NULL when it has no
 * introspection or did not answer. */
static const char *revoke_confirm(cx_oauth_provider *p, const cx_oauth_client *cl,
    const char *token, const char *hint)
{
	cx_err ignored;
	char *url = NULL;
	int active;

	if (cx_oauth_provider_endpoint(p, CX_OAUTH_EP_INTROSPECT, &url, &ignored) < 0 ||
	    !url)
		return NULL;
	active = cx_oauth2_introspect(p, cl, url, token, hint, NULL, &ignored);
	free(url);
	return active < 0 ? NULL : active ? "active" : "inactive";
}

/* Best effort at the provider: "ok", "failed" or "skipped"; *confirmed
 * is what introspection says afterwards (NULL: not asked). */
static const char *revoke_upstream(cx_oauth_provider *p, const cx_tokenkeys *k,
    const cx_cred *c, const char **confirmed, cx_err *why)
{
	cx_oauth_client cl = { 0 };
	char *token = NULL, *url = NULL;
	int refresh = c->refresh && strcmp(c->kind, "user") == 0;
	const char *hint = refresh ? "refresh_token" : "access_token";
	const unsigned char *blob = refresh ? c->refresh : c->access;
	const char *out = "failed";

	*confirmed = NULL;
	if (!blob || strcmp(c->kind, "service_account") == 0)
		return "skipped";
	if (cx_oauth_provider_endpoint(p, CX_OAUTH_EP_REVOKE, &url, why) < 0)
		return "failed";
	if (!url)
		return "skipped";
	if (cx_cred_open(k, c, refresh ? "refresh" : "access", &token, why) < 0 ||
	    cx_oauth_client_load(p, &cl, why) < 0)
		goto done;
	if (cx_oauth2_revoke(p, &cl, url, token, hint, why) == 0) {
		out = "ok";
		*confirmed = revoke_confirm(p, &cl, token, hint);
	}
done:
	cx_secret_free(token);
	free(url);
	cx_oauth_client_free(&cl);
	return out;
}

/* The revocation's audit detail and the caller's result share these. */
static jv revoke_fields(jv o, const char *provider, const char *workspace)
{
	o = jv_object_set(o, jv_string("provider"), jv_string(provider));
	return jv_object_set(o, jv_string("workspace"), jv_string(workspace));
}

/* Forgets the tokens, with the audit row, in one transaction. */
static int revoke_record(cx_store *s, const cx_cred *c, const char *upstream,
    const char *confirmed, const cx_err *why, cx_err *err)
{
	char *subject = oauth_subject(c->provider, c->workspace);
	cx_audit_entry e = { .action = "token_revoked", .subject = subject };
	char buf[48];
	int rc = -1;

	e.detail = revoke_fields(jv_object(), c->provider, c->workspace);
	e.detail = jv_object_set(e.detail, jv_string("account_id"),
	    oauth_str_or_null(c->account_id));
	e.detail = jv_object_set(e.detail, jv_string("upstream"), jv_string(upstream));
	if (confirmed)
		e.detail = jv_object_set(e.detail, jv_string("introspection"),
		    jv_string(confirmed));
	if (why->msg[0])
		e.detail = jv_object_set(e.detail, jv_string("upstream_reason"),
		    jv_string(cx_oauth_reason(why, buf)));
	if (cx_store_begin(s, err) == 0) {
		if (cx_cred_revoke(s, c->provider, c->workspace, cx_clock_now(), err) < 0 ||
		    cx_cred_lock_drop(s, c->provider, c->workspace, err) < 0 ||
		    cx_audit_append(s, &e, err) < 0 || cx_store_commit(s, err) < 0)
			cx_store_rollback(s);
		else
			rc = 0;
	}
	jv_free(e.detail);
	free(subject);
	return rc;
}

int cx_oauth_revoke(cx_store *s, cx_oauth_provider *p, const char *workspace,
    int local_only, jv *result, cx_err *err)
{
	cx_tokenkeys *keys = NULL;
	const char *upstream = "skipped", *confirmed = NULL;
	cx_err why = { 0, "" };
	cx_cred c = { 0 };
	int rc;

	if ((rc = cx_cred_load(s, p->name, workspace, &c, err)) <= 0) {
		if (rc == 0)
			cx_err_set(err, CX_EXIT_NOPERM, "not_connected: no %s credential for "
			    "workspace %s", p->name, workspace);
		return -1;
	}
	rc = -1;
	if (!local_only && !oauth_is_revoked(&c)) {
		if (cx_tokenkeys_load(&keys, err) < 0)
			goto out;
		upstream = revoke_upstream(p, keys, &c, &confirmed, &why);
	}
	if (revoke_record(s, &c, upstream, confirmed, &why, err) < 0)
		goto out;
	*result = revoke_fields(jv_object(), p->name, workspace);
	*result = jv_object_set(*result, jv_string("revoked"), jv_true());
	*result = jv_object_set(*result, jv_string("upstream"), jv_string(upstream));
	if (confirmed)
		*result = jv_object_set(*result, jv_string("introspection"), jv_string(confirmed));
	if (why.msg[0])
		*result = jv_object_set(*result, jv_string("upstream_error"), jv_string(why.msg));
	rc = 0;
out:
	cx_cred_free(&c);
	cx_tokenkeys_free(keys);
	return rc;
}
