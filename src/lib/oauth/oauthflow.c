/* oauthflow.c: what the OAuth flows share: settings in seconds, audit
 * subjects and values, the provider's scopes, the refusal record and the
 * storing of a new credential. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "clock.h"
#include "config.h"
#include "exit.h"
#include "log.h"
#include "metrics.h"
#include "oauth.h"
#include "oauthflow.h"
#include "xalloc.h"

const char *cx_oauth_reason(const cx_err *err, char buf[48])
{
	size_t n = 0;

	while (n < 47 && (islower((unsigned char)err->msg[n]) || err->msg[n] == '_'))
		n++;
	if (n == 0 || err->msg[n] != ':' || n >= 47)
		return "error";
	memcpy(buf, err->msg, n);
	buf[n] = '\0';
	return buf;
}

int oauth_config_seconds(const char *name, int64_t def, int64_t *out,
    cx_err *err)
{
	if (cx_config_int(name, def, out, err) < 0)
		return -1;
	if (*out < 0)
		return cx_err_set(err, CX_EXIT_CONFIG, "config: %s must not be negative", name);
	return 0;
}

char *oauth_subject(const char *provider, const char *workspace)
{
	return cx_xasprintf("%s:%s", provider, workspace);
}

/* Usernames that are e-mail addresses are masked in audit rows. */
static jv audit_username(const char *username)
{
	jv v;
	char *m;

	if (!username)
		return jv_null();
	if (!strchr(username, '@'))
		return jv_string(username);
	m = cx_log_mask_email(username);
	v = jv_string(m);
	free(m);
	return v;
}

jv oauth_time_or_null(int has, int64_t t)
{
	char ts[CX_RFC3339_LEN];

	if (!has)
		return jv_null();
	cx_clock_rfc3339(t, -1, ts);
	return jv_string(ts);
}

jv oauth_str_or_null(const char *s)
{
	return s ? jv_string(s) : jv_null();
}

char *oauth_required_scopes(const cx_oauth_provider *p)
{
	const char *r = cx_oauth_provider_setting(p, "REQUIRED_SCOPES");

	return cx_xstrdup(r ? r : p->preset->required_scopes);
}

const char *oauth_default_scopes(const cx_oauth_provider *p)
{
	const char *d = cx_oauth_provider_setting(p, "SCOPES");

	return d ? d : p->preset->default_scopes;
}

int oauth_count(cx_store *s, const char *name, const char *provider,
    const char *result, cx_err *err)
{
	char *labels = cx_metrics_labels("provider", provider, "result", result, NULL);
	int rc = cx_metrics_add(s, name, labels, 1, err);

	free(labels);
	return rc;
}

/* Records a connection attempt that failed (audit + counter: refused for
 * 77, failed otherwise); err keeps the reason it already holds. -1. */
int oauth_refuse(cx_store *s, const char *provider, const char *workspace,
    cx_err *err)
{
	char buf[48];
	const char *reason = cx_oauth_reason(err, buf);
	char *subject = workspace ? oauth_subject(provider, workspace) : NULL;
	cx_audit_entry e = { .action = "oauth_callback_refused", .subject = subject };
	cx_err e2;

	e.detail = jv_object_set(jv_object(), jv_string("reason"), jv_string(reason));
	e.detail = jv_object_set(e.detail, jv_string("provider"), jv_string(provider));
	if (workspace)
		e.detail = jv_object_set(e.detail, jv_string("workspace"), jv_string(workspace));
	e.detail = jv_object_set(e.detail, jv_string("exit"), jv_number(err->code));
	if (cx_store_begin(s, &e2) == 0) {
		if (cx_audit_append(s, &e, &e2) < 0 ||
		    oauth_count(s, "cx_oauth_connections_total", provider,
		    err->code == CX_EXIT_NOPERM ? "refused" : "failed", &e2) < 0)
			cx_store_rollback(s);
		else
			cx_store_commit(s, &e2);
	}
	jv_free(e.detail);
	free(subject);
	return -1;
}

/* Stores a new credential, its audit row and its counter in one
 * transaction. */
int oauth_cred_store(cx_store *s, const cx_tokenkeys *k,
    const cx_oauth_provider *p, const char *workspace, const oauth_new_cred *n,
    int64_t expires_in, cx_err *err)
{
	unsigned char *ab = NULL, *rb = NULL;
	size_t al = 0, rl = 0;
	int64_t now = cx_clock_now();
	char *subject = oauth_subject(p->name, workspace);
	cx_audit_entry e = { .action = "token_issued", .subject = subject };
	cx_cred_row row = { .kind = n->kind, .account_id = n->account_id,
		.username = n->username, .scopes = n->scopes, .meta = n->meta,
		.key_id = cx_tokenkeys_id(k), .has_expiry = expires_in >= 0,
		.expires_at = now + expires_in };
	int rc = -1;

	e.detail = jv_null();
	if (cx_cred_seal(k, p->name, workspace, "access", n->access, &ab, &al, err) < 0 ||
	    (n->refresh && cx_cred_seal(k, p->name, workspace, "refresh", n->refresh,
	    &rb, &rl, err) < 0))
		goto out;
	row.access = ab;
	row.access_len = al;
	row.refresh = rb;
	row.refresh_len = rl;
	if (cx_store_begin(s, err) < 0)
		goto out;
	if (cx_cred_put(s, p->name, workspace, &row, now, err) < 0 ||
	    cx_cred_lock_drop(s, p->name, workspace, err) < 0)
		goto fail;
	e.detail = jv_object();
	e.detail = jv_object_set(e.detail, jv_string("provider"), jv_string(p->name));
	e.detail = jv_object_set(e.detail, jv_string("workspace"), jv_string(workspace));
	e.detail = jv_object_set(e.detail, jv_string("kind"), jv_string(n->kind));
	e.detail = jv_object_set(e.detail, jv_string("account_id"),
	    oauth_str_or_null(n->account_id));
	e.detail = jv_object_set(e.detail, jv_string("username"),
	    audit_username(n->username));
	e.detail = jv_object_set(e.detail, jv_string("scopes"),
	    cx_oauth_scopes_array(n->scopes));
	e.detail = jv_object_set(e.detail, jv_string("has_refresh_token"),
	    jv_bool(n->refresh != NULL));
	e.detail = jv_object_set(e.detail, jv_string("expires_at"),
	    oauth_time_or_null(expires_in >= 0, now + expires_in));
	if (cx_audit_append(s, &e, err) < 0 ||
	    oauth_count(s, "cx_oauth_connections_total", p->name, "ok", err) < 0)
		goto fail;
	rc = cx_store_commit(s, err);
	goto out;
fail:
	cx_store_rollback(s);
out:
	jv_free(e.detail);
	free(ab);
	free(rb);
	free(subject);
	return rc;
}
