/* token.c: cx_oauth_token, a valid access token, refreshed under a lock
 * row so concurrent callers cause one refresh. HTTP calls never run
 * inside a transaction: a refresh takes the lock row, commits, calls the
 * provider, then records the outcome (tokens, audit, counter, lock
 * release) in one transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "exit.h"
#include "http.h"
#include "oauth.h"
#include "oauthflow.h"
#include "xalloc.h"

#define POLL_MIN_MS 20
#define POLL_JITTER_MS 40

static void owner_id(char out[48])
{
	unsigned char r[8];
	char hex[17];

	cx_crypto_random(r, sizeof r);
	cx_crypto_hex(r, sizeof r, hex);
	snprintf(out, 48, "%ld-%s", (long)getpid(), hex);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Asks the provider for a new access token with what the credential holds
 * (refresh token, service-account key, or a long-lived token the preset
 * exchanges). */
static int renew(cx_oauth_provider *p, const cx_tokenkeys *k, const cx_cred *c,
    long timeout_ms, cx_oauth_grant *g, cx_err *err)
{
	cx_oauth_client cl = { 0 };
	char *secret = NULL, *url = NULL, *form = NULL;
	int rc = -1;

	memset(g, 0, sizeof *g);
	if (strcmp(c->kind, "service_account") == 0)
		return oauth_sa_renew(p, k, c, timeout_ms, g, err);
	if (cx_oauth_client_load(p, &cl, err) < 0)
		goto out;
	if (p->preset->exchange) {
		if (cx_cred_open(k, c, "access", &secret, err) == 0)
			rc = p->preset->exchange(p, &cl, secret, "refresh_refused", timeout_ms,
			    g, err);
		goto out;
	}
	if (cx_cred_open(k, c, "refresh", &secret, err) < 0)
		goto out;
	if (!(url = cx_oauth2_token_url(p, err)))
		goto out;
	form = cx_http_form("grant_type", "refresh_token", "refresh_token", secret,
	    "client_id", cl.id, "client_secret", cx_oauth_client_form_secret(p, &cl), NULL);
	rc = cx_oauth2_token_call(p, &cl, url, form, "refresh_refused", timeout_ms, g, err);
	if (rc == 0) {
		g->rotated = g->refresh != NULL;
		if (!g->refresh)
			g->refresh = cx_xstrdup(secret);   /* not rotated: keep it */
	}
out:
	cx_secret_free(form);
	cx_secret_free(secret);
	free(url);
	cx_oauth_client_free(&cl);
	return rc;
}

static jv refresh_detail(const cx_cred *c)
{
	jv d = jv_object();

	d = jv_object_set(d, jv_string("provider"), jv_string(c->provider));
	d = jv_object_set(d, jv_string("workspace"), jv_string(c->workspace));
	return jv_object_set(d, jv_string("account_id"), oauth_str_or_null(c->account_id));
}

/* Ends a refresh's record in the transaction the caller began: the
 * statement's outcome (ran < 0: it failed), the lock released, the audit
 * row (detail: consumed) and the counter, then commit; rollback on any
 * failure. */
static int refresh_finish(cx_store *s, const cx_cred *c, const char *me, int ran,
    const char *action, jv detail, const char *result, cx_err *err)
{
	char *subject = oauth_subject(c->provider, c->workspace);
	cx_audit_entry e = { .action = action, .subject = subject, .detail = detail };
	int rc = -1;

	if (ran == 0 && cx_cred_lock_release(s, c, me, err) == 0 &&
	    cx_audit_append(s, &e, err) == 0 &&
	    oauth_count(s, "cx_oauth_refresh_total", c->provider, result, err) == 0)
		rc = cx_store_commit(s, err);
	if (rc < 0)
		cx_store_rollback(s);
	jv_free(e.detail);
	free(subject);
	return rc;
}

/* Records a refresh that worked, in one transaction. */
static int refresh_ok(cx_store *s, const cx_tokenkeys *k, const cx_cred *c,
    const char *me, const cx_oauth_grant *g, cx_err *err)
{
	int64_t now = cx_clock_now();
	unsigned char *ab = NULL, *rb = NULL;
	size_t al = 0, rl = 0;
	char *norm = g->scope ? cx_oauth_scopes_normalize(g->scope) : NULL;
	cx_cred_row row = { .key_id = cx_tokenkeys_id(k), .scopes = norm,
		.has_expiry = g->expires_in >= 0, .expires_at = now + g->expires_in };
	jv d;
	int rc = -1;

	if (cx_cred_seal(k, c->provider, c->workspace, "access", g->access, &ab, &al,
	    err) < 0 || (g->refresh && cx_cred_seal(k, c->provider, c->workspace,
	    "refresh", g->refresh, &rb, &rl, err) < 0) || cx_store_begin(s, err) < 0)
		goto out;
	row.access = ab;
	row.access_len = al;
	row.refresh = rb;
	row.refresh_len = rl;
	d = jv_object_set(refresh_detail(c), jv_string("expires_at"),
	    oauth_time_or_null(g->expires_in >= 0, now + g->expires_in));
	d = jv_object_set(d, jv_string("refresh_token_rotated"), jv_bool(g->rotated));
	rc = refresh_finish(s, c, me, cx_cred_refreshed(s, c, &row, now, err),
	    "token_refreshed", d, "ok", err);
out:
	free(ab);
	free(rb);
	free(norm);
	return rc;
}

/* Records a refresh that failed, in one transaction: refused (77) marks
 * the credential refresh_failed. */
static int refresh_failed(cx_store *s, const cx_cred *c, const char *me,
    const cx_err *failure, cx_err *err)
{
	int refused = failure->code == CX_EXIT_NOPERM;
	char buf[48];
	jv d;

	if (cx_store_begin(s, err) < 0)
		return -1;
	d = jv_object_set(refresh_detail(c), jv_string("reason"),
	    jv_string(cx_oauth_reason(failure, buf)));
	d = jv_object_set(d, jv_string("marked_refresh_failed"), jv_bool(refused));
	return refresh_finish(s, c, me, cx_cred_refresh_failed(s, c, failure->msg, refused,
	    cx_clock_now(), err), "token_refresh_failed", d, "failed", err);
}

/* Where one look at the credential leaves cx_oauth_token. */
enum { TOKEN_DONE, TOKEN_WAIT, TOKEN_RENEW };

/* One pass waiting for another process's refresh. */
typedef struct {
	int64_t skew, ttl, waited_until, attempts0;
	char me[48];
} token_wait;

/* What the credential's state allows without a refresh, the caller inside
 * a read transaction that this rolls back: TOKEN_DONE with *token or err,
 * or TOKEN_RENEW to go on. */
static int token_stored(cx_store *s, const cx_oauth_provider *p,
    const cx_tokenkeys *keys, const cx_cred *c, const token_wait *w, int64_t now,
    char **token, cx_err *err)
{
	if (oauth_is_revoked(c)) {
		cx_err_set(err, CX_EXIT_NOPERM, "revoked: the %s credential of %s was "
		    "revoked; connect again with cx-oauth authorize", c->provider, c->workspace);
	} else if (c->access && (!c->has_expiry || c->expires_at - now > w->skew)) {
		cx_cred_open(keys, c, "access", token, err);
	} else if (oauth_refresh_refused(c)) {
		cx_err_set(err, CX_EXIT_NOPERM, "refresh_failed: the provider refused "
		    "to refresh the %s credential of %s; connect again with cx-oauth "
		    "authorize", c->provider, c->workspace);
	} else if (!oauth_can_refresh(p, c, now)) {
		if (c->access && !oauth_is_expired(c, now))
			/* within the skew and nothing to renew it with: still good */
			cx_cred_open(keys, c, "access", token, err);
		else
			cx_err_set(err, CX_EXIT_NOPERM, "expired_no_refresh: the %s token of "
			    "%s expired and cannot be refreshed; connect again", c->provider,
			    c->workspace);
	} else if (w->attempts0 >= 0 && c->attempts != w->attempts0) {
		/* the refresh we waited for failed, and not for good */
		cx_err_set(err, CX_EXIT_TEMPFAIL, "refresh_unavailable: another "
		    "process's refresh just failed (%s); try again later",
		    c->last_error ? c->last_error : "unknown");
	} else {
		return TOKEN_RENEW;
	}
	cx_store_rollback(s);
	return TOKEN_DONE;
}

/* One look at the credential: TOKEN_DONE (*token, or err), TOKEN_WAIT
 * (another process holds the lock), TOKEN_RENEW (the lock is ours, *c
 * loaded). */
static int token_look(cx_store *s, const cx_oauth_provider *p,
    const cx_tokenkeys *keys, const char *workspace, token_wait *w, cx_cred *c,
    char **token, cx_err *err)
{
	int64_t now;
	int rc, held;

	if (cx_store_begin(s, err) < 0)
		return TOKEN_DONE;
	if ((rc = cx_cred_load(s, p->name, workspace, c, err)) <= 0) {
		cx_store_rollback(s);
		if (rc == 0)
			cx_err_set(err, CX_EXIT_NOPERM, "not_connected: no %s credential "
			    "for workspace %s (cx-oauth authorize)", p->name, workspace);
		return TOKEN_DONE;
	}
	now = cx_clock_now();
	if (token_stored(s, p, keys, c, w, now, token, err) == TOKEN_DONE)
		return TOKEN_DONE;
	if ((held = cx_cred_lock_held(s, c, w->me, now, err)) < 0) {
		cx_store_rollback(s);
		return TOKEN_DONE;
	}
	if (held && (!w->waited_until || cx_clock_mono_ms() < w->waited_until)) {
		cx_store_rollback(s);
		if (!w->waited_until) {
			/* CX_NOW may stand still: the wait is bounded in real time */
			w->waited_until = cx_clock_mono_ms() + w->ttl * 1000;
			w->attempts0 = c->attempts;
		}
		return TOKEN_WAIT;
	}
	if (cx_cred_lock_take(s, c, w->me, now + w->ttl, err) < 0 ||
	    cx_store_commit(s, err) < 0) {
		cx_store_rollback(s);
		return TOKEN_DONE;
	}
	return TOKEN_RENEW;
}

/* The lock is ours: one request, bounded inside the lock's life, and its
 * outcome recorded. */
static int token_renew(cx_store *s, cx_oauth_provider *p, const cx_tokenkeys *keys,
    const cx_cred *c, const token_wait *w, char **token, cx_err *err)
{
	cx_oauth_grant g = { 0 };
	cx_err failure = { 0, "" };
	int rc = -1;

	if (renew(p, keys, c, (long)(w->ttl - 1) * 1000, &g, &failure) < 0) {
		if (failure.code == CX_EXIT_CONFIG || failure.code == CX_EXIT_USAGE) {
			/* ours to fix, not the credential's: release and report */
			if (cx_store_begin(s, err) == 0) {
				if (cx_cred_lock_release(s, c, w->me, err) < 0)
					cx_store_rollback(s);
				else
					cx_store_commit(s, err);
			}
			*err = failure;
		} else if (refresh_failed(s, c, w->me, &failure, err) == 0) {
			*err = failure;
		}
	} else if (refresh_ok(s, keys, c, w->me, &g, err) == 0) {
		*token = g.access;
		g.access = NULL;
		rc = 0;
	}
	cx_oauth_grant_free(&g);
	return rc;
}

int cx_oauth_token(cx_store *s, cx_oauth_provider *p, const char *workspace,
    char **token, cx_err *err)
{
	cx_tokenkeys *keys = NULL;
	token_wait w = { .attempts0 = -1 };
	cx_cred c = { 0 };
	int step;
	int rc = -1;

	*token = NULL;
	if (oauth_config_seconds("CX_REFRESH_SKEW_SECONDS", 300, &w.skew, err) < 0 ||
	    oauth_config_seconds("CX_REFRESH_LOCK_TTL_SECONDS", 30, &w.ttl, err) < 0 ||
	    cx_tokenkeys_load(&keys, err) < 0)
		return -1;
	if (w.ttl < 2)
		w.ttl = 2;
	owner_id(w.me);
	while ((step = token_look(s, p, keys, workspace, &w, &c, token, err)) == TOKEN_WAIT) {
		unsigned char j;

		cx_cred_free(&c);
		cx_crypto_random(&j, 1);
		sleep_ms(POLL_MIN_MS + j % POLL_JITTER_MS);
	}
	if (step == TOKEN_RENEW)
		rc = token_renew(s, p, keys, &c, &w, token, err);
	else if (*token)
		rc = 0;
	cx_cred_free(&c);
	cx_tokenkeys_free(keys);
	return rc;
}

int cx_oauth_preset_token(cx_store *s, const cx_oauth_preset *preset,
    const char *workspace, char **token, cx_err *err)
{
	cx_oauth_provider *p = NULL;
	int rc;

	*token = NULL;
	if (cx_oauth_provider_open(preset, NULL, &p, err) < 0)
		return -1;
	rc = cx_oauth_token(s, p, workspace, token, err);
	cx_oauth_provider_free(p);
	return rc;
}
