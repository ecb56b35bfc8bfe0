/* commands.c: the publish_commands table: accepting commands under their
 * idempotency keys, claims and outcomes, each with its audit row and
 * counter in one transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "audit.h"
#include "clock.h"
#include "commands.h"
#include "crypto.h"
#include "exit.h"
#include "identity.h"
#include "inbox.h"
#include "json.h"
#include "metrics.h"
#include "xalloc.h"
#include "xtext.h"

#define COLUMNS \
	"id, state, channel, kind, workspace, account, tenant, text, text_sha256," \
	" in_reply_to, meta, idempotency_key, origin, correlation_id, requested_by," \
	" requested_at, attempts, next_attempt_at, lease_owner, lease_expires_at," \
	" provider_ref, error_code, error_detail, published_at, updated_at"

enum {
	C_ID, C_STATE, C_CHANNEL, C_KIND, C_WORKSPACE, C_ACCOUNT, C_TENANT, C_TEXT,
	C_SHA, C_REPLY, C_META, C_KEY, C_ORIGIN, C_CID, C_REQUESTED_BY,
	C_REQUESTED_AT, C_ATTEMPTS, C_NEXT_AT, C_LEASE_OWNER, C_LEASE_EXPIRES,
	C_PROVIDER_REF, C_ERROR_CODE, C_ERROR_DETAIL, C_PUBLISHED_AT, C_UPDATED_AT,
};

/* The fields of a command that are columns; everything else is meta. */
static const char *const column_fields[] = {
	"channel", "kind", "workspace", "text", "in_reply_to", "correlation_id",
	"account", "idempotency_key", NULL,
};

static jv col_str(cx_stmt *st, int col)
{
	return cx_stmt_col_is_null(st, col) ? jv_null() :
	    jv_string(cx_stmt_col_text(st, col));
}

static jv col_time(cx_stmt *st, int col)
{
	char ts[CX_RFC3339_LEN];

	if (cx_stmt_col_is_null(st, col))
		return jv_null();
	cx_clock_rfc3339(cx_stmt_col_int(st, col), -1, ts);
	return jv_string(ts);
}

static jv item_from_row(cx_stmt *st)
{
	static const struct {
		const char *key;
		int col, time;
	} cols[] = {
		{ "state", C_STATE, 0 }, { "channel", C_CHANNEL, 0 }, { "kind", C_KIND, 0 },
		{ "workspace", C_WORKSPACE, 0 }, { "account", C_ACCOUNT, 0 },
		{ "tenant", C_TENANT, 0 }, { "text", C_TEXT, 0 }, { "text_sha256", C_SHA, 0 },
		{ "in_reply_to", C_REPLY, 0 }, { "idempotency_key", C_KEY, 0 },
		{ "origin", C_ORIGIN, 0 }, { "correlation_id", C_CID, 0 },
		{ "requested_by", C_REQUESTED_BY, 0 }, { "requested_at", C_REQUESTED_AT, 1 },
		{ "next_attempt_at", C_NEXT_AT, 1 }, { "lease_owner", C_LEASE_OWNER, 0 },
		{ "lease_expires_at", C_LEASE_EXPIRES, 1 },
		{ "provider_ref", C_PROVIDER_REF, 0 }, { "error_code", C_ERROR_CODE, 0 },
		{ "error_detail", C_ERROR_DETAIL, 0 }, { "published_at", C_PUBLISHED_AT, 1 },
		{ "updated_at", C_UPDATED_AT, 1 },
	};
	jv item = jv_object_set(jv_object(), jv_string("id"),
	    jv_number((double)cx_stmt_col_int(st, C_ID)));
	jv meta = jv_parse(cx_stmt_col_text(st, C_META));

	for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
		item = jv_object_set(item, jv_string(cols[i].key), cols[i].time ?
		    col_time(st, cols[i].col) : col_str(st, cols[i].col));
	item = jv_object_set(item, jv_string("attempts"),
	    jv_number((double)cx_stmt_col_int(st, C_ATTEMPTS)));
	item = jv_object_set(item, jv_string("meta"),
	    jv_get_kind(meta) == JV_KIND_OBJECT ? meta : (jv_free(meta), jv_object()));
	return item;
}

static const char sql_get[] = "SELECT " COLUMNS " FROM publish_commands WHERE id = ?1";

int cx_commands_get(cx_store *s, int64_t id, jv *item, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_get, err);
	int rc;

	if (!st)
		return -1;
	cx_stmt_int(st, 1, id);
	rc = cx_stmt_step(st, err);
	if (rc == 1)
		*item = item_from_row(st);
	cx_stmt_reset(st);
	if (rc == 0)
		return cx_err_set(err, CX_EXIT_SOME_FAILED, "no command %lld", (long long)id);
	return rc < 0 ? -1 : 0;
}

static const char sql_list[] =
    "SELECT " COLUMNS " FROM publish_commands WHERE (?1 IS NULL OR state = ?1)"
    " AND (?2 IS NULL OR channel = ?2) ORDER BY id";

int cx_commands_list(cx_store *s, const char *state, const char *channel,
    void (*each)(jv item, void *ctx), void *ctx, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_list, err);
	int rc;

	if (!st)
		return -1;
	cx_stmt_text(st, 1, state);
	cx_stmt_text(st, 2, channel);
	while ((rc = cx_stmt_step(st, err)) == 1)
		each(item_from_row(st), ctx);
	cx_stmt_reset(st);
	return rc;
}

/* --- events and audit ----------------------------------------------------- */

static void copy_if_set(jv *dst, jv src, const char *key, const char *as)
{
	jv v = jv_object_get(jv_copy(src), jv_string(key));

	if (jv_is_valid(v) && jv_get_kind(v) != JV_KIND_NULL)
		*dst = jv_object_set(*dst, jv_string(as ? as : key), v);
	else
		jv_free(v);
}

static int64_t id_of(jv item)
{
	jv v = jv_object_get(jv_copy(item), jv_string("id"));
	int64_t id = jv_get_kind(v) == JV_KIND_NUMBER ? (int64_t)jv_number_value(v) : 0;

	jv_free(v);
	return id;
}

jv cx_commands_event(jv item, const char *state, const char *actor)
{
	int64_t id = id_of(item);
	jv data = jv_object_set(jv_object(), jv_string("command_id"), jv_number((double)id));
	jv ev = jv_object_set(jv_object(), jv_string("v"), jv_number(1));

	copy_if_set(&data, item, "idempotency_key", NULL);
	copy_if_set(&data, item, "channel", NULL);
	copy_if_set(&data, item, "kind", NULL);
	copy_if_set(&data, item, "workspace", NULL);
	copy_if_set(&data, item, "text", NULL);
	copy_if_set(&data, item, "in_reply_to", NULL);
	copy_if_set(&data, item, "origin", NULL);
	data = jv_object_set(data, jv_string("actor"), jv_string(actor));
	if (strcmp(state, "published") == 0)
		copy_if_set(&data, item, "provider_ref", NULL);
	if (strcmp(state, "failed") == 0 || strcmp(state, "dead") == 0 ||
	    strcmp(state, "unknown") == 0)
		copy_if_set(&data, item, "error_code", NULL);
	ev = jv_object_set(ev, jv_string("type"), jv_string_fmt("post.%s", state));
	ev = jv_object_set(ev, jv_string("dedupe_key"), jv_string_fmt("command:%lld:%s",
	    (long long)id, state));
	copy_if_set(&ev, item, "channel", NULL);
	copy_if_set(&ev, item, "tenant", NULL);
	copy_if_set(&ev, item, "account", NULL);
	copy_if_set(&ev, item, "updated_at", "occurred_at");
	copy_if_set(&ev, item, "correlation_id", NULL);
	ev = jv_object_set(ev, jv_string("data"), data);
	jv_free(item);
	return ev;
}

/* Appends the audit row of a change to item (not consumed). */
static int audit_change(cx_store *s, const char *action, const char *actor,
    jv item, jv detail, cx_err *err)
{
	int64_t id = id_of(item);
	char *subject = cx_xasprintf("command:%lld", (long long)id);
	cx_audit_entry e = { .action = action, .actor = actor, .subject = subject,
		.correlation_id = cx_json_str(item, "correlation_id") };
	int rc;

	detail = jv_object_set(detail, jv_string("command_id"), jv_number((double)id));
	copy_if_set(&detail, item, "channel", NULL);
	copy_if_set(&detail, item, "kind", NULL);
	copy_if_set(&detail, item, "idempotency_key", NULL);
	e.detail = detail;
	rc = cx_audit_append(s, &e, err);
	free(subject);
	return rc;
}

static int count(cx_store *s, const char *name, const char *channel,
    const char *key, const char *value, cx_err *err)
{
	char *labels = cx_metrics_labels("channel", channel, key, value, NULL);
	int rc = cx_metrics_add(s, name, labels, 1, err);

	free(labels);
	return rc;
}

/* --- accepting ------------------------------------------------------------ */

static const char sql_by_key[] =
    "SELECT id FROM publish_commands WHERE channel = ?1 AND workspace = ?2"
    " AND idempotency_key = ?3";
static const char sql_insert[] =
    "INSERT INTO publish_commands (channel, kind, workspace, account, tenant, text,"
    " text_sha256, in_reply_to, meta, idempotency_key, origin, state, correlation_id,"
    " requested_by, requested_at, next_attempt_at, updated_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'approved', ?12, ?13,"
    " ?14, ?14, ?14)";

/* The id of the command stored under channel, workspace and key; 0 when
 * there is none. */
static int find_key(cx_store *s, const char *channel, const char *workspace,
    const char *key, int64_t *id, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_by_key, err);
	int rc;

	*id = 0;
	if (!st)
		return -1;
	cx_stmt_text(st, 1, channel);
	cx_stmt_text(st, 2, workspace);
	cx_stmt_text(st, 3, key);
	if ((rc = cx_stmt_step(st, err)) == 1)
		*id = cx_stmt_col_int(st, 0);
	cx_stmt_reset(st);
	return rc < 0 ? -1 : 0;
}

/* Keys travel in an Idempotency-Key header: visible ASCII only. */
static int key_ok(const char *key)
{
	size_t n = key ? strlen(key) : 0;

	if (n == 0 || n > 256)
		return 0;
	for (const char *p = key; *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			return 0;
	return 1;
}

/* The account a command sends from, when it names one: its account, or a
 * WhatsApp phone_number_id (as for queue items). */
static const char *account_of(jv c, const char *channel)
{
	const char *account = cx_json_str(c, "account");

	if (!account && strcmp(channel, "whatsapp") == 0)
		return cx_json_str(c, "phone_number_id");
	return account;
}

int cx_commands_accept(cx_store *s, jv c, const char *origin, const char *key,
    const char *actor, const char *audit_action, jv *item, int *fresh,
    const char **problem, cx_err *err)
{
	char sha[2 * CX_SHA256_LEN + 1], cid[CX_CORRELATION_ID_LEN];
	const char *channel, *workspace, *account, *text, *given;
	char *nfc = NULL, *meta_json = NULL, *tenant = NULL;
	int64_t id, now = cx_clock_now();
	size_t len = 0;
	cx_stmt *st;
	jv meta, detail;

	*fresh = 0;
	if (!key_ok(key)) {
		jv_free(c);
		if (problem)
			*problem = "invalid_idempotency_key";
		return cx_err_set(err, CX_EXIT_DATAERR, "idempotency_key must be 1 to 256 "
		    "visible ASCII characters (it is sent as a header)");
	}
	text = cx_json_str(c, "text");
	if (text) {
		nfc = cx_xtext_nfc(text, strlen(text), &len);
		c = jv_object_set(c, jv_string("text"), jv_string_sized(nfc, (int)len));
	}
	if (cx_queue_validate(jv_copy(c), problem, err) < 0) {
		free(nfc);
		jv_free(c);
		return -1;
	}
	channel = cx_json_str(c, "channel");
	workspace = cx_json_str(c, "workspace");
	account = account_of(c, channel);
	cx_crypto_sha256_hex(nfc ? nfc : "", len, sha);
	if (!(given = cx_json_str(c, "correlation_id")))
		cx_inbox_new_correlation_id(cid);
	meta = jv_copy(c);
	for (const char *const *f = column_fields; *f; f++)
		meta = jv_object_delete(meta, jv_string(*f));
	meta_json = cx_json_dump(meta);
	if (cx_store_begin(s, err) < 0)
		goto out;
	if (find_key(s, channel, workspace, key, &id, err) < 0)
		goto fail;
	if (id > 0) {
		if (cx_commands_get(s, id, item, err) < 0 || cx_store_commit(s, err) < 0)
			goto fail;
		goto done;
	}
	tenant = cx_accounts_tenant(s, channel, account ? account : workspace, err);
	if (!tenant || !(st = cx_store_prepare(s, sql_insert, err)))
		goto fail;
	cx_stmt_text(st, 1, channel);
	cx_stmt_text(st, 2, cx_json_str(c, "kind"));
	cx_stmt_text(st, 3, workspace);
	cx_stmt_text(st, 4, account);
	cx_stmt_text(st, 5, tenant);
	cx_stmt_textn(st, 6, nfc ? nfc : "", len);
	cx_stmt_text(st, 7, sha);
	cx_stmt_text(st, 8, cx_json_str(c, "in_reply_to"));
	cx_stmt_text(st, 9, meta_json);
	cx_stmt_text(st, 10, key);
	cx_stmt_text(st, 11, origin);
	cx_stmt_text(st, 12, given ? given : cid);
	cx_stmt_text(st, 13, actor);
	cx_stmt_int(st, 14, now);
	if (cx_stmt_run(st, err) < 0)
		goto fail;
	id = cx_store_last_id(s);
	if (cx_commands_get(s, id, item, err) < 0)
		goto fail;
	detail = jv_object_set(jv_object(), jv_string("origin"), jv_string(origin));
	detail = jv_object_set(detail, jv_string("text_sha256"), jv_string(sha));
	if (audit_change(s, audit_action, actor, *item, detail, err) < 0 ||
	    count(s, "cx_publish_commands_total", channel, "origin", origin, err) < 0 ||
	    cx_store_commit(s, err) < 0) {
		jv_free(*item);
		goto fail;
	}
	*fresh = 1;
done:
	free(tenant);
	free(meta_json);
	free(nfc);
	jv_free(c);
	return 0;
fail:
	cx_store_rollback(s);
out:
	free(tenant);
	free(meta_json);
	free(nfc);
	jv_free(c);
	return -1;
}

/* --- claims and outcomes -------------------------------------------------- */

typedef struct {
	int64_t *ids;
	size_t n, cap;
} id_list;

static int collect_ids(cx_stmt *st, id_list *l, cx_err *err)
{
	int rc;

	while ((rc = cx_stmt_step(st, err)) == 1) {
		if (l->n == l->cap) {
			l->cap = l->cap ? l->cap * 2 : 16;
			l->ids = cx_xrealloc(l->ids, l->cap * sizeof *l->ids);
		}
		l->ids[l->n++] = cx_stmt_col_int(st, 0);
	}
	cx_stmt_reset(st);
	return rc;
}

static const char sql_due[] =
    "SELECT id FROM publish_commands WHERE state = 'approved' AND next_attempt_at <= ?1"
    " AND (?2 IS NULL OR channel = ?2) AND (?4 <= 0 OR id = ?4)"
    " ORDER BY next_attempt_at, id LIMIT ?3";
static const char sql_claim[] =
    "UPDATE publish_commands SET state = 'publishing', lease_owner = ?2,"
    " lease_expires_at = ?3, attempts = attempts + 1, updated_at = ?4"
    " WHERE id = ?1 AND state = 'approved'";

int cx_commands_claim(cx_store *s, const char *channel, int64_t max,
    int64_t only_id, const char *owner, int64_t lease,
    void (*each)(jv item, void *ctx), void *ctx, cx_err *err)
{
	int64_t now = cx_clock_now();
	id_list due = { 0 };
	jv claimed = jv_array();
	cx_stmt *st;

	if (!owner || !*owner || lease <= 0) {
		jv_free(claimed);
		return cx_err_set(err, CX_EXIT_USAGE, "a claim needs an owner and a lease");
	}
	if (cx_store_begin(s, err) < 0) {
		jv_free(claimed);
		return -1;
	}
	if (!(st = cx_store_prepare(s, sql_due, err)))
		goto fail;
	cx_stmt_int(st, 1, now);
	cx_stmt_text(st, 2, channel);
	cx_stmt_int(st, 3, max > 0 ? max : -1);
	cx_stmt_int(st, 4, only_id);
	if (collect_ids(st, &due, err) < 0)
		goto fail;
	for (size_t i = 0; i < due.n; i++) {
		jv item, detail;

		if (!(st = cx_store_prepare(s, sql_claim, err)))
			goto fail;
		cx_stmt_int(st, 1, due.ids[i]);
		cx_stmt_text(st, 2, owner);
		cx_stmt_int(st, 3, now + lease);
		cx_stmt_int(st, 4, now);
		if (cx_stmt_run(st, err) < 0 || cx_commands_get(s, due.ids[i], &item, err) < 0)
			goto fail;
		detail = jv_object_set(jv_object(), jv_string("lease_owner"), jv_string(owner));
		copy_if_set(&detail, item, "attempts", "attempt");
		copy_if_set(&detail, item, "lease_expires_at", NULL);
		if (audit_change(s, "publish_attempt", NULL, item, detail, err) < 0) {
			jv_free(item);
			goto fail;
		}
		claimed = jv_array_append(claimed, item);
	}
	if (cx_store_commit(s, err) < 0)
		goto fail;
	free(due.ids);
	jv_array_foreach(claimed, i, item)
		each(item, ctx);
	jv_free(claimed);
	return 0;
fail:
	free(due.ids);
	jv_free(claimed);
	cx_store_rollback(s);
	return -1;
}

/* The edges cx_commands_settle may follow, as in queue.c. */
static const struct {
	const char *from, *to, *action, *result;
} edges[] = {
	{ "publishing", "published", "post_published", "published" },
	{ "publishing", "failed", "post_failed", "failed" },
	{ "publishing", "dead", "post_dead", "dead" },
	{ "publishing", "unknown", "post_unknown", "unknown" },
	{ "publishing", "approved", "publish_retry", "retried" },
	{ "unknown", "published", "post_published", "published" },
	{ "unknown", "approved", "publish_retry", "retried" },
	{ "dead", "approved", "post_revived", NULL },
	{ NULL, NULL, NULL, NULL },
};

static const char sql_settle[] =
    "UPDATE publish_commands SET state = ?2, lease_owner = NULL, lease_expires_at = NULL,"
    " provider_ref = coalesce(?3, provider_ref), error_code = ?4, error_detail = ?5,"
    " next_attempt_at = CASE WHEN ?2 = 'approved' THEN ?6 ELSE next_attempt_at END,"
    " published_at = CASE WHEN ?2 = 'published' THEN ?7 ELSE published_at END,"
    " attempts = CASE WHEN state = 'dead' THEN 0 ELSE attempts END,"
    " updated_at = ?7 WHERE id = ?1 AND state = ?8";

static int settle(cx_store *s, int64_t id, const cx_queue_outcome *o,
    int check_lease, jv *event, cx_err *err)
{
	const char *actor = o->actor ? o->actor : cx_identity_user(), *from;
	int64_t now = cx_clock_now();
	jv item, detail;
	cx_stmt *st;
	int e;

	if (cx_commands_get(s, id, &item, err) < 0)
		return -1;
	from = cx_json_str(item, "state");
	for (e = 0; edges[e].from; e++)
		if (strcmp(edges[e].from, from) == 0 && strcmp(edges[e].to, o->state) == 0)
			break;
	if (!edges[e].from) {
		cx_err_set(err, CX_EXIT_SOME_FAILED,
		    "command %lld is %s: it cannot become %s; nothing changed",
		    (long long)id, from, o->state);
		goto fail;
	}
	if (check_lease && strcmp(from, "publishing") == 0) {
		const char *holder = cx_json_str(item, "lease_owner");

		if (!o->lease_owner || !holder || strcmp(holder, o->lease_owner) != 0) {
			cx_err_set(err, CX_EXIT_SOME_FAILED,
			    "command %lld is leased to %s, not %s; nothing changed",
			    (long long)id, holder ? holder : "nobody",
			    o->lease_owner ? o->lease_owner : "(none)");
			goto fail;
		}
	}
	if (!(st = cx_store_prepare(s, sql_settle, err)))
		goto fail;
	cx_stmt_int(st, 1, id);
	cx_stmt_text(st, 2, o->state);
	cx_stmt_text(st, 3, o->provider_ref);
	cx_stmt_text(st, 4, strcmp(o->state, "published") ? o->error_code : NULL);
	cx_stmt_text(st, 5, strcmp(o->state, "published") ? o->error_detail : NULL);
	cx_stmt_int(st, 6, o->next_attempt_at > 0 ? o->next_attempt_at : now);
	cx_stmt_int(st, 7, now);
	cx_stmt_text(st, 8, from);
	if (cx_stmt_run(st, err) < 0)
		goto fail;
	detail = jv_object_set(jv_object(), jv_string("from"), jv_string(from));
	detail = jv_object_set(detail, jv_string("to"), jv_string(o->state));
	copy_if_set(&detail, item, "attempts", "attempt");
	jv_free(item);
	if (cx_commands_get(s, id, &item, err) < 0) {
		jv_free(detail);
		return -1;
	}
	copy_if_set(&detail, item, "provider_ref", NULL);
	copy_if_set(&detail, item, "error_code", NULL);
	copy_if_set(&detail, item, "next_attempt_at", NULL);
	if (audit_change(s, edges[e].action, actor, item, detail, err) < 0 ||
	    (edges[e].result && count(s, "cx_publish_total", cx_json_str(item, "channel"),
	    "result", edges[e].result, err) < 0))
		goto fail;
	if (event && strcmp(o->state, "approved") != 0) {
		*event = cx_commands_event(item, o->state, actor);
		return 0;
	}
	if (event)
		*event = jv_null();
	jv_free(item);
	return 0;
fail:
	jv_free(item);
	return -1;
}

int cx_commands_settle(cx_store *s, int64_t id, const cx_queue_outcome *o,
    jv *event, cx_err *err)
{
	jv ev = jv_null();

	if (!o->state || !cx_queue_state_ok(o->state))
		return cx_err_set(err, CX_EXIT_USAGE, "not a state: %s",
		    o->state ? o->state : "(none)");
	if (cx_store_begin(s, err) < 0)
		return -1;
	if (settle(s, id, o, 1, &ev, err) < 0 || cx_store_commit(s, err) < 0) {
		jv_free(ev);
		cx_store_rollback(s);
		return -1;
	}
	if (event)
		*event = ev;
	else
		jv_free(ev);
	return 0;
}

static const char sql_expired[] =
    "SELECT id FROM publish_commands WHERE state = 'publishing' AND lease_expires_at < ?1"
    " ORDER BY id";

int cx_commands_expire_leases(cx_store *s, int64_t *expired, cx_err *err)
{
	cx_queue_outcome o = { .state = "unknown", .error_code = "LEASE_EXPIRED",
		.error_detail = "the lease ran out before an outcome was recorded" };
	id_list l = { 0 };
	cx_stmt *st;

	*expired = 0;
	if (cx_store_begin(s, err) < 0)
		return -1;
	if (!(st = cx_store_prepare(s, sql_expired, err)))
		goto fail;
	cx_stmt_int(st, 1, cx_clock_now());
	if (collect_ids(st, &l, err) < 0)
		goto fail;
	for (size_t i = 0; i < l.n; i++)
		if (settle(s, l.ids[i], &o, 0, NULL, err) < 0)
			goto fail;
	if (cx_store_commit(s, err) < 0)
		goto fail;
	*expired = (int64_t)l.n;
	free(l.ids);
	return 0;
fail:
	free(l.ids);
	cx_store_rollback(s);
	return -1;
}
