/* status.c: what a stored credential looks like from outside: the status
 * line (SPEC §6: connected, valid, refreshable, missing scopes) and the
 * inventory listing. */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "oauth.h"
#include "oauthflow.h"
#include "xalloc.h"

int oauth_is_expired(const cx_cred *c, int64_t now)
{
	return c->has_expiry && c->expires_at <= now;
}

int oauth_is_revoked(const cx_cred *c)
{
	return strcmp(c->status, "revoked") == 0;
}

int oauth_refresh_refused(const cx_cred *c)
{
	return strcmp(c->status, "refresh_failed") == 0;
}

int oauth_can_refresh(const cx_oauth_provider *p, const cx_cred *c,
    int64_t now)
{
	if (!p || oauth_is_revoked(c) || oauth_refresh_refused(c))
		return 0;
	if (strcmp(c->kind, "service_account") == 0)
		return c->refresh != NULL;
	if (p->preset->exchange)
		/* long-lived tokens: renewed by exchange before they expire */
		return c->access != NULL && !oauth_is_expired(c, now);
	return c->refresh != NULL;
}

/* What the status line and the listing both start with. */
static jv cred_fields(const cx_cred *c)
{
	jv o = jv_object();

	o = jv_object_set(o, jv_string("provider"), jv_string(c->provider));
	o = jv_object_set(o, jv_string("workspace"), jv_string(c->workspace));
	o = jv_object_set(o, jv_string("kind"), jv_string(c->kind));
	o = jv_object_set(o, jv_string("account_id"), oauth_str_or_null(c->account_id));
	return jv_object_set(o, jv_string("username"), oauth_str_or_null(c->username));
}

/* The status line of a credential (SPEC §6): connected is true only when
 * it is not revoked and the token is valid or can be renewed, and the
 * scopes the provider requires are granted. */
static jv cred_status(const cx_oauth_provider *p, const cx_cred *c, int64_t now)
{
	int revoked = oauth_is_revoked(c), expired = oauth_is_expired(c, now);
	int valid = !revoked && c->access && !expired;
	int refreshable = oauth_can_refresh(p, c, now);
	char *req = p ? oauth_required_scopes(p) : cx_xstrdup("");
	char *missing = cx_oauth_scopes_missing(c->scopes ? c->scopes : "", req);
	const char *reason;
	int connected;
	jv o;

	if (revoked)
		reason = "revoked";
	else if (*missing)
		reason = "missing_scope";
	else if (oauth_refresh_refused(c))
		reason = "refresh_failed";
	else if (valid)
		reason = "ok";
	else if (refreshable)
		reason = "refreshable";
	else
		reason = "expired_no_refresh";
	connected = !revoked && !*missing && (valid || refreshable);
	o = cred_fields(c);
	o = jv_object_set(o, jv_string("scopes"), cx_oauth_scopes_array(c->scopes));
	o = jv_object_set(o, jv_string("connected"), jv_bool(connected));
	o = jv_object_set(o, jv_string("access_token_valid"), jv_bool(valid));
	o = jv_object_set(o, jv_string("is_expired"), jv_bool(expired));
	o = jv_object_set(o, jv_string("can_auto_refresh"), jv_bool(refreshable));
	o = jv_object_set(o, jv_string("connected_reason"), jv_string(reason));
	if (*missing)
		o = jv_object_set(o, jv_string("missing_scopes"), cx_oauth_scopes_array(missing));
	o = jv_object_set(o, jv_string("expires_at"),
	    oauth_time_or_null(c->has_expiry, c->expires_at));
	o = jv_object_set(o, jv_string("refreshed_at"),
	    oauth_time_or_null(c->has_refreshed, c->refreshed_at));
	o = jv_object_set(o, jv_string("last_error"), oauth_str_or_null(c->last_error));
	free(req);
	free(missing);
	return o;
}

static jv cred_listing(const cx_cred *c)
{
	jv o = cred_fields(c);

	o = jv_object_set(o, jv_string("status"), jv_string(c->status));
	o = jv_object_set(o, jv_string("has_refresh_token"), jv_bool(c->refresh != NULL));
	o = jv_object_set(o, jv_string("key_id"), jv_string(c->key_id));
	o = jv_object_set(o, jv_string("created_at"), oauth_time_or_null(1, c->created_at));
	o = jv_object_set(o, jv_string("updated_at"), oauth_time_or_null(1, c->updated_at));
	o = jv_object_set(o, jv_string("expires_at"),
	    oauth_time_or_null(c->has_expiry, c->expires_at));
	return o;
}

typedef struct {
	cx_oauth_open_fn open;
	int64_t now;
	void (*each)(jv row, void *ctx);
	void *ctx;
} listing;

static void status_row(const cx_cred *c, void *ctx)
{
	listing *l = ctx;
	cx_oauth_provider *p = NULL;
	cx_err ignored;

	if (l->open(c->provider, &p, &ignored) < 0)
		p = NULL;
	l->each(cred_status(p, c, l->now), l->ctx);
	cx_oauth_provider_free(p);
}

int cx_oauth_status(cx_store *s, cx_oauth_open_fn open, const char *provider,
    const char *workspace, void (*each)(jv row, void *ctx), void *ctx,
    cx_err *err)
{
	listing l = { open, cx_clock_now(), each, ctx };

	return cx_cred_each(s, provider, workspace, status_row, &l, err);
}

static void list_row(const cx_cred *c, void *ctx)
{
	listing *l = ctx;

	l->each(cred_listing(c), l->ctx);
}

int cx_oauth_list(cx_store *s, const char *provider, const char *workspace,
    void (*each)(jv row, void *ctx), void *ctx, cx_err *err)
{
	listing l = { NULL, 0, each, ctx };

	return cx_cred_each(s, provider, workspace, list_row, &l, err);
}

jv oauth_status_of(cx_store *s, const cx_oauth_provider *p, const char *workspace)
{
	cx_cred c;
	cx_err e;
	jv out;

	if (cx_cred_load(s, p->name, workspace, &c, &e) != 1)
		return jv_null();
	out = cred_status(p, &c, cx_clock_now());
	cx_cred_free(&c);
	return out;
}
