/* subscriptions.c: the trigger subscriptions of integrations and their
 * signing secrets, sealed under CX_TOKEN_KEY with the aad
 * "whsec:<subscription>:<secret_id>" so a blob moved to another row does
 * not open. A person's changes check the role and run in their own
 * transaction; the _in calls of cx-ingest serve (REST hooks) and
 * cx-publish join the caller's. */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "exit.h"
#include "inbox.h"
#include "integrationchange.h"
#include "integrations.h"
#include "stdwebhooks.h"
#include "subscriptions.h"
#include "url.h"
#include "xalloc.h"

#define URL_MAX_LEN 2048

/* The canonical event types (SPEC §5, cx-events(5)). */
static const char *const events[] = {
	"message", "message.status", "read.receipt", "typing", "reaction.added",
	"reaction.removed", "comment", "lead", "x.mention", "calendar.event.created",
	"calendar.event.updated", "calendar.event.deleted", "calendar.sync.requested",
	"email.sent", "email.delivered", "email.delayed", "email.bounced",
	"email.complained", "email.rejected", "email.received", "action.requested",
	"post.proposed", "post.approved", "post.rejected", "post.published",
	"post.failed", "delivery.status", NULL,
};

int cx_subscriptions_valid_event(const char *type, cx_err *err)
{
	for (const char *const *e = events; type && *e; e++)
		if (strcmp(type, *e) == 0)
			return 1;
	cx_err_set(err, CX_EXIT_USAGE, "'%.64s' is not an event type (message, lead, "
	    "comment, calendar.event.created, email.received, post.published, ...: "
	    "see cx-events(5))", type ? type : "");
	return 0;
}

/* Whether the authority host[:port] (n bytes) has a host, no user info
 * and a numeric port. */
static int authority_ok(const char *a, size_t n)
{
	const char *end = a + n, *colon;

	if (n == 0 || memchr(a, '@', n))
		return 0;
	if (*a == '[') {
		const char *close = memchr(a, ']', n);

		if (!close || close == a + 1)
			return 0;
		colon = close + 1 < end ? close + 1 : NULL;
		if (colon && *colon != ':')
			return 0;
	} else {
		colon = memchr(a, ':', n);
		if (colon == a)
			return 0;
	}
	if (!colon)
		return 1;
	if (colon + 1 == end || end - colon > 6)
		return 0;
	for (const char *p = colon + 1; p < end; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

int cx_subscriptions_valid_url(const char *url, cx_err *err)
{
	size_t n = url ? strlen(url) : 0, skip = 0;
	int ok = n > 0 && n <= URL_MAX_LEN;

	for (size_t i = 0; ok && i < n; i++)
		ok = (unsigned char)url[i] > 0x20 && url[i] != 0x7f;
	if (ok && strncasecmp(url, "https://", 8) == 0)
		skip = 8;
	else if (ok && strncasecmp(url, "http://", 7) == 0)
		skip = 7;
	if (ok && skip && authority_ok(url + skip, strcspn(url + skip, "/?#")))
		return 1;
	cx_err_set(err, CX_EXIT_USAGE, "a target URL is an absolute http:// or https:// URL "
	    "with a host, no user name or password, at most %d characters", URL_MAX_LEN);
	return 0;
}

static char *secret_aad(const char *id, int64_t secret_id)
{
	return cx_xasprintf("whsec:%s:%lld", id, (long long)secret_id);
}

static const char sql_add_secret[] =
    "INSERT INTO trigger_secrets (subscription_id, secret_id, sealed, created_at)"
    " VALUES (?1, ?2, ?3, ?4)";

/* A new secret for id with number secret_id, sealed and stored; *secret
 * gets its text. */
static int add_secret(cx_store *s, const cx_tokenkeys *keys, const char *id,
    int64_t secret_id, int64_t now, char **secret, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_add_secret, err);
	unsigned char *blob = NULL;
	size_t len = 0;
	char *aad;
	int rc;

	*secret = NULL;
	if (!st)
		return -1;
	if (!keys)
		return cx_err_set(err, CX_EXIT_CONFIG, "CX_TOKEN_KEY is needed to keep "
		    "subscription secrets");
	if (cx_stdwebhooks_new_secret(secret, err) < 0)
		return -1;
	aad = secret_aad(id, secret_id);
	rc = cx_token_seal(keys, aad, *secret, strlen(*secret), &blob, &len, err);
	free(aad);
	if (rc == 0) {
		cx_stmt_text(st, 1, id);
		cx_stmt_int(st, 2, secret_id);
		cx_stmt_blob(st, 3, blob, len);
		cx_stmt_int(st, 4, now);
		rc = cx_stmt_run(st, err);
	}
	free(blob);
	if (rc < 0) {
		cx_secret_free(*secret);
		*secret = NULL;
	}
	return rc;
}

/* What every subscription's audit detail holds. */
static jv sub_detail(const char *id, const char *integration_id, const char *tenant,
    const char *event)
{
	jv d = jv_object_set(jv_object(), jv_string("subscription_id"), jv_string(id));

	d = jv_object_set(d, jv_string("integration_id"), jv_string(integration_id));
	d = jv_object_set(d, jv_string("tenant"), jv_string(tenant));
	return jv_object_set(d, jv_string("event"), jv_string(event));
}

/* The integration may subscribe to event: 0, else -1 with err. */
static int may_subscribe(cx_store *s, const char *integration_id, const char *event,
    cx_integration *in, cx_err *err)
{
	char *scope;
	int rc = cx_integrations_get(s, integration_id, in, err), ok;

	if (rc <= 0)
		return rc < 0 ? -1 : cx_err_set(err, CX_EXIT_SOME_FAILED,
		    "no integration %.64s", integration_id);
	if (strcmp(in->state, "active") != 0)
		return cx_err_set(err, CX_EXIT_NOPERM, "integration %s is %s", in->id,
		    in->state);
	scope = cx_xasprintf("trigger:%s", event);
	ok = cx_integrations_has_scope(in, scope);
	free(scope);
	if (!ok)
		return cx_err_set(err, CX_EXIT_NOPERM, "integration %s has no scope "
		    "trigger:%s", in->id, event);
	return 0;
}

static const char sql_create[] =
    "INSERT INTO trigger_subscriptions (id, integration_id, tenant, event, target_url,"
    " origin, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)";

static int insert_sub(cx_store *s, const char *id, const cx_integration *in,
    const char *event, const char *url, const char *origin, int64_t now, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_create, err);

	if (!st)
		return -1;
	cx_stmt_text(st, 1, id);
	cx_stmt_text(st, 2, in->id);
	cx_stmt_text(st, 3, in->tenant);
	cx_stmt_text(st, 4, event);
	cx_stmt_text(st, 5, url);
	cx_stmt_text(st, 6, origin);
	cx_stmt_int(st, 7, now);
	return cx_stmt_run(st, err);
}

int cx_subscriptions_create_in(cx_store *s, const cx_tokenkeys *keys,
    const char *integration_id, const char *event, const char *url,
    const char *origin, const char *actor, const char *correlation_id,
    char **id, char **secret, cx_err *err)
{
	char sid[CX_SUBSCRIPTION_ID_LEN], *plain = NULL, *target;
	cx_integration in;
	int64_t now = cx_clock_now();
	jv d;

	*id = NULL;
	if (secret)
		*secret = NULL;
	if (!cx_subscriptions_valid_event(event, err) || !cx_subscriptions_valid_url(url, err))
		return -1;
	if (!origin || (strcmp(origin, "hook") != 0 && strcmp(origin, "cli") != 0))
		return cx_err_set(err, CX_EXIT_USAGE, "a subscription's origin is hook or cli");
	if (may_subscribe(s, integration_id, event, &in, err) < 0 ||
	    cx_integration_random_hex("sub_", sid, sizeof sid, err) < 0 ||
	    insert_sub(s, sid, &in, event, url, origin, now, err) < 0 ||
	    add_secret(s, keys, sid, 1, now, &plain, err) < 0) {
		cx_integration_free(&in);
		return -1;
	}
	d = sub_detail(sid, in.id, in.tenant, event);
	target = cx_url_for_log(url);
	d = jv_object_set(d, jv_string("target"), jv_string(target));
	d = jv_object_set(d, jv_string("origin"), jv_string(origin));
	free(target);
	cx_integration_free(&in);
	if (cx_integration_change_record(s, "subscription_created", "subscribed", sid, actor,
	    correlation_id, d, err) < 0) {
		cx_secret_free(plain);
		return -1;
	}
	*id = cx_xstrdup(sid);
	if (secret)
		*secret = plain;
	else
		cx_secret_free(plain);
	return 0;
}

int cx_subscriptions_create(cx_store *s, const cx_tokenkeys *keys,
    const char *integration_id, const char *event, const char *url,
    const char *origin, const char *actor, char **id, char **secret,
    cx_err *err)
{
	char cid[CX_CORRELATION_ID_LEN];
	int rc;

	*id = NULL;
	if (secret)
		*secret = NULL;
	if (cx_integration_change_begin(s, actor, "subscribe integrations", integration_id,
	    err) < 0)
		return -1;
	cx_inbox_new_correlation_id(cid);
	rc = cx_subscriptions_create_in(s, keys, integration_id, event, url, origin, actor,
	    cid, id, secret, err);
	if (cx_integration_change_end(s, rc, err) == 0)
		return 0;
	free(*id);
	*id = NULL;
	if (secret) {
		cx_secret_free(*secret);
		*secret = NULL;
	}
	return -1;
}

/* A subscription that is not deleted: its integration, tenant and event. */
typedef struct {
	char *integration_id, *tenant, *event, *state;
} sub_row;

static void sub_row_free(sub_row *r)
{
	free(r->integration_id);
	free(r->tenant);
	free(r->event);
	free(r->state);
	memset(r, 0, sizeof *r);
}

static const char sql_find[] =
    "SELECT integration_id, tenant, event, state FROM trigger_subscriptions"
    " WHERE id = ?1 AND state <> 'deleted'";

static int find_sub(cx_store *s, const char *id, sub_row *r, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_find, err);
	int rc;

	memset(r, 0, sizeof *r);
	if (!st)
		return -1;
	cx_stmt_text(st, 1, id);
	if ((rc = cx_stmt_step(st, err)) == 1) {
		r->integration_id = cx_stmt_col_dup(st, 0);
		r->tenant = cx_stmt_col_dup(st, 1);
		r->event = cx_stmt_col_dup(st, 2);
		r->state = cx_stmt_col_dup(st, 3);
	}
	cx_stmt_reset(st);
	return rc;
}

static const char sql_delete[] =
    "UPDATE trigger_subscriptions SET state = 'deleted', state_reason = 'unsubscribed',"
    " updated_at = ?2 WHERE id = ?1";
/* A deleted subscription signs nothing: its secrets go. */
static const char sql_forget_secrets[] =
    "DELETE FROM trigger_secrets WHERE subscription_id = ?1";

int cx_subscriptions_delete_in(cx_store *s, const char *id,
    const char *integration_id, const char *actor, const char *correlation_id,
    int *found, cx_err *err)
{
	const char *const sqls[] = { sql_delete, sql_forget_secrets };
	sub_row r;
	int rc;

	*found = 0;
	if ((rc = find_sub(s, id, &r, err)) <= 0)
		return rc;
	if (integration_id && strcmp(integration_id, r.integration_id) != 0) {
		sub_row_free(&r);
		return 0;
	}
	for (size_t i = 0; i < 2 && rc == 1; i++) {
		cx_stmt *st = cx_store_prepare(s, sqls[i], err);

		if (!st)
			rc = -1;
		else {
			cx_stmt_text(st, 1, id);
			if (i == 0)
				cx_stmt_int(st, 2, cx_clock_now());
			rc = cx_stmt_run(st, err) < 0 ? -1 : 1;
		}
	}
	if (rc == 1)
		rc = cx_integration_change_record(s, "subscription_deleted", "unsubscribed", id,
		    actor, correlation_id, sub_detail(id, r.integration_id, r.tenant, r.event),
		    err);
	sub_row_free(&r);
	*found = rc == 0;
	return rc;
}

int cx_subscriptions_delete(cx_store *s, const char *id, const char *actor,
    cx_err *err)
{
	char cid[CX_CORRELATION_ID_LEN];
	int found = 0, rc;

	if (cx_integration_change_begin(s, actor, "unsubscribe integrations", id, err) < 0)
		return -1;
	cx_inbox_new_correlation_id(cid);
	rc = cx_subscriptions_delete_in(s, id, NULL, actor, cid, &found, err);
	if (rc == 0 && !found)
		rc = cx_err_set(err, CX_EXIT_SOME_FAILED, "no subscription %.64s", id);
	return cx_integration_change_end(s, rc, err);
}

/* Every secret of id that still signs stops at when, unless it stops
 * sooner; *next gets the number of the next secret. */
static const char sql_expire_secrets[] =
    "UPDATE trigger_secrets SET expires_at = ?3 WHERE subscription_id = ?1"
    " AND (expires_at IS NULL OR expires_at > ?3) AND (expires_at IS NULL"
    " OR expires_at > ?2)";
static const char sql_next_secret[] =
    "SELECT coalesce(max(secret_id), 0) + 1 FROM trigger_secrets WHERE subscription_id = ?1";

static int expire_secrets(cx_store *s, const char *id, int64_t now, int64_t when,
    int64_t *next, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_expire_secrets, err);
	int rc;

	if (!st)
		return -1;
	cx_stmt_text(st, 1, id);
	cx_stmt_int(st, 2, now);
	cx_stmt_int(st, 3, when);
	if (cx_stmt_run(st, err) < 0 || !(st = cx_store_prepare(s, sql_next_secret, err)))
		return -1;
	cx_stmt_text(st, 1, id);
	if ((rc = cx_stmt_step(st, err)) == 1)
		*next = cx_stmt_col_int(st, 0);
	cx_stmt_reset(st);
	return rc == 1 ? 0 : -1;
}

static int rotate_in(cx_store *s, const cx_tokenkeys *keys, const char *id,
    int64_t grace, const char *actor, char **secret, cx_err *err)
{
	char cid[CX_CORRELATION_ID_LEN];
	int64_t now = cx_clock_now(), next = 0;
	sub_row r;
	int rc = find_sub(s, id, &r, err);
	jv d;

	if (rc <= 0)
		return rc < 0 ? -1 : cx_err_set(err, CX_EXIT_SOME_FAILED,
		    "no subscription %.64s", id);
	if (expire_secrets(s, id, now, now + grace, &next, err) < 0 ||
	    add_secret(s, keys, id, next, now, secret, err) < 0) {
		sub_row_free(&r);
		return -1;
	}
	d = sub_detail(id, r.integration_id, r.tenant, r.event);
	d = jv_object_set(d, jv_string("secret_id"), jv_number((double)next));
	d = jv_object_set(d, jv_string("grace_seconds"), jv_number((double)grace));
	sub_row_free(&r);
	cx_inbox_new_correlation_id(cid);
	return cx_integration_change_record(s, "subscription_secret_rotated",
	    "secret_rotated", id, actor, cid, d, err);
}

int cx_subscriptions_rotate_secret(cx_store *s, const cx_tokenkeys *keys,
    const char *id, int64_t grace, const char *actor, char **secret,
    cx_err *err)
{
	int rc;

	*secret = NULL;
	if (grace < 0)
		return cx_err_set(err, CX_EXIT_USAGE, "a grace is seconds, 0 or more");
	if (cx_integration_change_begin(s, actor, "rotate subscription secrets", id, err) < 0)
		return -1;
	rc = rotate_in(s, keys, id, grace, actor, secret, err);
	if (cx_integration_change_end(s, rc, err) == 0)
		return 0;
	cx_secret_free(*secret);
	*secret = NULL;
	return -1;
}

static const char sql_disable[] =
    "UPDATE trigger_subscriptions SET state = 'disabled', state_reason = ?2,"
    " updated_at = ?3 WHERE id = ?1 AND state = 'active'"
    " RETURNING integration_id, tenant, event";

int cx_subscriptions_disable_in(cx_store *s, const char *id, const char *reason,
    const char *actor, const char *correlation_id, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_disable, err);
	jv d = jv_invalid();
	int rc;

	if (!st)
		return -1;
	cx_stmt_text(st, 1, id);
	cx_stmt_text(st, 2, reason);
	cx_stmt_int(st, 3, cx_clock_now());
	if ((rc = cx_stmt_step(st, err)) == 1)
		d = sub_detail(id, cx_stmt_col_text(st, 0), cx_stmt_col_text(st, 1),
		    cx_stmt_col_text(st, 2));
	cx_stmt_reset(st);
	if (rc != 1)
		return rc;
	d = jv_object_set(d, jv_string("reason"), jv_string(reason ? reason : ""));
	return cx_integration_change_record(s, "subscription_disabled",
	    "subscription_disabled", id, actor, correlation_id, d, err);
}

static const char sql_active_of[] =
    "SELECT id FROM trigger_subscriptions WHERE integration_id = ?1"
    " AND state = 'active' ORDER BY id";

int cx_subscriptions_disable_all_in(cx_store *s, const char *integration_id,
    const char *reason, const char *actor, const char *correlation_id, jv *ids,
    cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_active_of, err);
	jv found = jv_array();
	int rc;

	if (!st) {
		jv_free(found);
		return -1;
	}
	cx_stmt_text(st, 1, integration_id);
	while ((rc = cx_stmt_step(st, err)) == 1)
		found = jv_array_append(found, cx_stmt_col_jv(st, 0));
	cx_stmt_reset(st);
	jv_array_foreach(found, i, id) {
		if (rc == 0)
			rc = cx_subscriptions_disable_in(s, jv_string_value(id), reason, actor,
			    correlation_id, err);
		if (rc == 0)
			*ids = jv_array_append(*ids, jv_copy(id));
		jv_free(id);
		(void)i;
	}
	jv_free(found);
	return rc;
}

#define SQL_SUB_COLUMNS \
    "SELECT s.id, s.integration_id, s.tenant, s.event, s.target_url, s.origin," \
    " s.state, s.state_reason, s.created_at, (SELECT count(*) FROM trigger_secrets t" \
    "  WHERE t.subscription_id = s.id AND (t.expires_at IS NULL OR t.expires_at > ?3))" \
    " FROM trigger_subscriptions s"

static const char sql_list[] = SQL_SUB_COLUMNS
    " WHERE (?1 IS NULL OR s.integration_id = ?1) AND s.state <> 'deleted'"
    " ORDER BY s.id";
static const char sql_matching[] = SQL_SUB_COLUMNS
    " JOIN integrations i ON i.id = s.integration_id WHERE s.tenant = ?1"
    " AND s.event = ?2 AND s.state = 'active' AND i.state = 'active' ORDER BY s.id";

static jv sub_jv(cx_stmt *st)
{
	static const char *const names[] = { "subscription_id", "integration_id",
		"tenant", "event", "target_url", "origin", "state", "state_reason" };
	jv row = jv_object();

	for (int i = 0; i < (int)(sizeof names / sizeof *names); i++)
		row = jv_object_set(row, jv_string(names[i]), cx_stmt_col_jv(st, i));
	row = jv_object_set(row, jv_string("created_at"), cx_stmt_col_time(st, 8));
	return jv_object_set(row, jv_string("secrets_active"),
	    jv_number((double)cx_stmt_col_int(st, 9)));
}

static int each_sub(cx_store *s, const char *sql, const char *a, const char *b,
    void (*each)(jv row, void *ctx), void *ctx, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql, err);
	int rc;

	if (!st)
		return -1;
	cx_stmt_text(st, 1, a);
	cx_stmt_text(st, 2, b);
	cx_stmt_int(st, 3, cx_clock_now());
	while ((rc = cx_stmt_step(st, err)) == 1)
		each(sub_jv(st), ctx);
	cx_stmt_reset(st);
	return rc;
}

int cx_subscriptions_list(cx_store *s, const char *integration_id,
    void (*each)(jv row, void *ctx), void *ctx, cx_err *err)
{
	return each_sub(s, sql_list, integration_id, NULL, each, ctx, err);
}

int cx_subscriptions_matching(cx_store *s, const char *tenant, const char *event,
    void (*each)(jv row, void *ctx), void *ctx, cx_err *err)
{
	return each_sub(s, sql_matching, tenant, event, each, ctx, err);
}

static const char sql_secrets[] =
    "SELECT secret_id, sealed FROM trigger_secrets WHERE subscription_id = ?1"
    " AND (expires_at IS NULL OR expires_at > ?2) ORDER BY secret_id DESC";

static void free_secrets(char **secrets, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cx_secret_free(secrets[i]);
	free(secrets);
}

int cx_subscriptions_secrets(cx_store *s, const cx_tokenkeys *keys,
    const char *id, int64_t now, char ***secrets, size_t *n, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_secrets, err);
	int rc;

	*secrets = NULL;
	*n = 0;
	if (!st)
		return -1;
	if (!keys)
		return cx_err_set(err, CX_EXIT_CONFIG, "CX_TOKEN_KEY is needed to open "
		    "subscription secrets");
	cx_stmt_text(st, 1, id);
	cx_stmt_int(st, 2, now);
	while ((rc = cx_stmt_step(st, err)) == 1) {
		size_t len = 0;
		const void *blob = cx_stmt_col_blob(st, 1, &len);
		char *aad = secret_aad(id, cx_stmt_col_int(st, 0)), *plain = NULL;

		rc = cx_token_open(keys, aad, blob, len, &plain, err);
		free(aad);
		if (rc < 0)
			break;
		*secrets = cx_xrealloc(*secrets, (*n + 1) * sizeof **secrets);
		(*secrets)[(*n)++] = plain;
	}
	cx_stmt_reset(st);
	if (rc == 0)
		return 0;
	free_secrets(*secrets, *n);
	*secrets = NULL;
	*n = 0;
	return -1;
}

static const char sql_sealed_all[] =
    "SELECT subscription_id, secret_id, sealed FROM trigger_secrets"
    " ORDER BY subscription_id, secret_id";
static const char sql_reseal[] =
    "UPDATE trigger_secrets SET sealed = ?3 WHERE subscription_id = ?1"
    " AND secret_id = ?2";

/* Opens the secret (sub, secret_id) sealed in blob under old and stores it
 * sealed under new_keys. */
static int reseal_one(cx_store *s, const cx_tokenkeys *old, const cx_tokenkeys *new_keys,
    const char *sub, int64_t secret_id, const void *blob, size_t len, cx_err *err)
{
	char *aad = secret_aad(sub, secret_id), *plain = NULL;
	unsigned char *out = NULL;
	size_t outlen = 0;
	cx_stmt *st;
	int rc = cx_token_open(old, aad, blob, len, &plain, err);

	if (rc == 0)
		rc = cx_token_seal(new_keys, aad, plain, strlen(plain), &out, &outlen, err);
	cx_secret_free(plain);
	free(aad);
	if (rc == 0 && (st = cx_store_prepare(s, sql_reseal, err))) {
		cx_stmt_text(st, 1, sub);
		cx_stmt_int(st, 2, secret_id);
		cx_stmt_blob(st, 3, out, outlen);
		rc = cx_stmt_run(st, err);
	} else if (rc == 0) {
		rc = -1;
	}
	free(out);
	return rc;
}

/* One sealed secret as read for a reseal. */
typedef struct {
	char *sub;
	int64_t secret_id;
	unsigned char *blob;
	size_t len;
} sealed_row;

int cx_subscriptions_reseal_all(cx_store *s, const cx_tokenkeys *old,
    const cx_tokenkeys *new_keys, int64_t *n, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_sealed_all, err);
	sealed_row *rows = NULL;
	size_t count = 0;
	int rc;

	*n = 0;
	if (!st)
		return -1;
	/* read them all first: each is rewritten while none is being read */
	while ((rc = cx_stmt_step(st, err)) == 1) {
		const void *blob;
		sealed_row *r;

		rows = cx_xrealloc(rows, (count + 1) * sizeof *rows);
		r = &rows[count++];
		r->sub = cx_stmt_col_dup(st, 0);
		r->secret_id = cx_stmt_col_int(st, 1);
		blob = cx_stmt_col_blob(st, 2, &r->len);
		r->blob = cx_xmalloc(r->len + 1);
		memcpy(r->blob, blob ? blob : "", r->len);
	}
	cx_stmt_reset(st);
	for (size_t i = 0; i < count; i++) {
		if (rc == 0 && reseal_one(s, old, new_keys, rows[i].sub, rows[i].secret_id,
		    rows[i].blob, rows[i].len, err) < 0)
			rc = cx_err_set(err, CX_EXIT_CONFIG, "the secret of subscription %s "
			    "does not open under CX_TOKEN_KEY", rows[i].sub);
		else if (rc == 0)
			(*n)++;
		free(rows[i].sub);
		free(rows[i].blob);
	}
	free(rows);
	return rc;
}
