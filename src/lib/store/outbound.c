/* outbound.c: reading, claims, outcomes, audit rows, counters and events of
 * the queue and the command ledger, on the table a cx_outbound_table names. */
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "clock.h"
#include "exit.h"
#include "identity.h"
#include "json.h"
#include "metrics.h"
#include "outbound.h"
#include "xalloc.h"

static const char *const states[] = {
	"pending", "approved", "rejected", "publishing", "published", "failed",
	"dead", "unknown", NULL,
};

int cx_outbound_state_ok(const char *s)
{
	for (int i = 0; states[i]; i++)
		if (strcmp(s, states[i]) == 0)
			return 1;
	return 0;
}

/* --- reading -------------------------------------------------------------- */

static jv item_of(cx_stmt *st, const cx_outbound_row *row)
{
	jv item = jv_object_set(jv_object(), jv_string("id"),
	    jv_number((double)cx_stmt_col_int(st, row->id)));
	jv meta = jv_parse(cx_stmt_col_text(st, row->meta));

	for (size_t i = 0; i < row->ncols; i++) {
		const cx_outbound_col *c = &row->cols[i];

		if (c->time == CX_OUTBOUND_JSON && !cx_stmt_col_is_null(st, c->col))
			item = jv_object_set(item, jv_string(c->key),
			    jv_parse(cx_stmt_col_text(st, c->col)));
		else if (c->time != CX_OUTBOUND_JSON)
			item = jv_object_set(item, jv_string(c->key), c->time ?
			    row->time(st, c->col) : cx_stmt_col_jv(st, c->col));
	}
	item = jv_object_set(item, jv_string("attempts"),
	    jv_number((double)cx_stmt_col_int(st, row->attempts)));
	return jv_object_set(item, jv_string("meta"),
	    jv_get_kind(meta) == JV_KIND_OBJECT ? meta : (jv_free(meta), jv_object()));
}

int cx_outbound_get(const cx_outbound_table *t, cx_store *s, int64_t id, jv *item,
    cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, t->sql.get, err);
	int rc;

	if (!st)
		return -1;
	cx_stmt_int(st, 1, id);
	rc = cx_stmt_step(st, err);
	if (rc == 1)
		*item = item_of(st, t->row);
	cx_stmt_reset(st);
	if (rc == 0)
		return cx_err_set(err, CX_EXIT_SOME_FAILED, "no %s %lld", t->noun, (long long)id);
	return rc < 0 ? -1 : 0;
}

int cx_outbound_list(const cx_outbound_table *t, cx_store *s, const char *state,
    const char *channel, void (*each)(jv item, void *ctx), void *ctx, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, t->sql.list, err);
	int rc;

	if (!st)
		return -1;
	cx_stmt_text(st, 1, state);
	cx_stmt_text(st, 2, channel);
	while ((rc = cx_stmt_step(st, err)) == 1)
		each(item_of(st, t->row), ctx);
	cx_stmt_reset(st);
	return rc;
}

/* --- events, audit and counters ------------------------------------------- */

void cx_outbound_copy(jv *dst, jv src, const char *key, const char *as)
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

/* The field of an event's data that tells why an item is in a state;
 * decision: only on a table whose rows people decide. */
static const struct {
	const char *state, *field;
	int decision;
} explained_by[] = {
	{ "approved", "note", 1 },
	{ "rejected", "reason", 1 },
	{ "published", "provider_ref", 0 },
	{ "failed", "error_code", 0 },
	{ "dead", "error_code", 0 },
	{ "unknown", "error_code", 0 },
	{ NULL, NULL, 0 },
};

jv cx_outbound_event(const cx_outbound_table *t, jv item, const char *state,
    const char *actor)
{
	int64_t id = id_of(item);
	jv data = jv_object_set(jv_object(), jv_string(t->id_key), jv_number((double)id));
	jv ev = jv_object_set(jv_object(), jv_string("v"), jv_number(1));

	for (const char *const *f = t->event_fields; *f; f++)
		cx_outbound_copy(&data, item, *f, NULL);
	data = jv_object_set(data, jv_string("actor"), jv_string(actor));
	for (int i = 0; explained_by[i].state; i++)
		if (strcmp(state, explained_by[i].state) == 0 &&
		    (t->decided || !explained_by[i].decision))
			cx_outbound_copy(&data, item, explained_by[i].field, NULL);
	ev = jv_object_set(ev, jv_string("type"), jv_string_fmt("post.%s", state));
	ev = jv_object_set(ev, jv_string("dedupe_key"), jv_string_fmt("%s:%lld:%s",
	    t->subject, (long long)id, state));
	cx_outbound_copy(&ev, item, "channel", NULL);
	cx_outbound_copy(&ev, item, "tenant", NULL);
	cx_outbound_copy(&ev, item, "account", NULL);
	cx_outbound_copy(&ev, item, "updated_at", "occurred_at");
	cx_outbound_copy(&ev, item, "correlation_id", NULL);
	ev = jv_object_set(ev, jv_string("data"), data);
	jv_free(item);
	return ev;
}

/* Whether an automation asked for item (an action.requested line): its
 * proposer or requester is "integration:" + the integration_id of its meta,
 * so a field in a person's line names no integration. */
static int by_integration(jv item, jv meta)
{
	const char *id = jv_get_kind(meta) == JV_KIND_OBJECT ?
	    cx_json_str(meta, "integration_id") : NULL;
	const char *by = cx_json_str(item, "proposed_by");

	if (!by)
		by = cx_json_str(item, "requested_by");
	return id && by && strncmp(by, "integration:", 12) == 0 && strcmp(by + 12, id) == 0;
}

int cx_outbound_audit(const cx_outbound_table *t, cx_store *s, const char *action,
    const char *actor, jv item, jv detail, cx_err *err)
{
	int64_t id = id_of(item);
	char *subject = cx_xasprintf("%s:%lld", t->subject, (long long)id);
	cx_audit_entry e = { .action = action, .actor = actor, .subject = subject,
		.correlation_id = cx_json_str(item, "correlation_id") };
	jv meta = jv_object_get(jv_copy(item), jv_string("meta"));
	int rc;

	detail = jv_object_set(detail, jv_string(t->id_key), jv_number((double)id));
	for (const char *const *f = t->audit_fields; *f; f++)
		cx_outbound_copy(&detail, item, *f, NULL);
	if (by_integration(item, meta))
		cx_outbound_copy(&detail, meta, "integration_id", NULL);
	jv_free(meta);
	e.detail = detail;
	rc = cx_audit_append(s, &e, err);
	free(subject);
	return rc;
}

int cx_outbound_count(cx_store *s, const char *name, const char *channel,
    const char *key, const char *value, cx_err *err)
{
	char *labels = cx_metrics_labels("channel", channel, key, value, NULL);
	int rc = cx_metrics_add(s, name, labels, 1, err);

	free(labels);
	return rc;
}

/* --- claims and outcomes -------------------------------------------------- */

typedef struct {
	int64_t *ids;
	size_t n, cap;
} id_list;

/* Runs a SELECT of ids (already bound) to the end, collecting them. */
static void id_push(id_list *l, int64_t id)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->ids = cx_xrealloc(l->ids, l->cap * sizeof *l->ids);
	}
	l->ids[l->n++] = id;
}

static int collect_ids(cx_stmt *st, id_list *l, cx_err *err)
{
	int rc;

	while ((rc = cx_stmt_step(st, err)) == 1)
		id_push(l, cx_stmt_col_int(st, 0));
	cx_stmt_reset(st);
	return rc;
}

int cx_outbound_claim_in(const cx_outbound_table *t, cx_store *s, const char *channel,
    int64_t max, int64_t only_id, const char *owner, int64_t lease, jv *claimed,
    cx_err *err)
{
	int64_t now = cx_clock_now();
	id_list due = { 0 };
	cx_stmt *st;

	if (!owner || !*owner || lease <= 0)
		return cx_err_set(err, CX_EXIT_USAGE, "a claim needs an owner and a lease");
	if (!(st = cx_store_prepare(s, t->sql.due, err)))
		return -1;
	cx_stmt_int(st, 1, now);
	cx_stmt_text(st, 2, channel);
	cx_stmt_int(st, 3, max > 0 ? max : -1);
	cx_stmt_int(st, 4, only_id);
	if (collect_ids(st, &due, err) < 0)
		goto fail;
	for (size_t i = 0; i < due.n; i++) {
		jv item, detail;

		if (!(st = cx_store_prepare(s, t->sql.claim, err)))
			goto fail;
		cx_stmt_int(st, 1, due.ids[i]);
		cx_stmt_text(st, 2, owner);
		cx_stmt_int(st, 3, now + lease);
		cx_stmt_int(st, 4, now);
		if (cx_stmt_run(st, err) < 0 || cx_outbound_get(t, s, due.ids[i], &item, err) < 0)
			goto fail;
		detail = jv_object_set(jv_object(), jv_string("lease_owner"), jv_string(owner));
		cx_outbound_copy(&detail, item, "attempts", "attempt");
		cx_outbound_copy(&detail, item, "lease_expires_at", NULL);
		if (cx_outbound_audit(t, s, "publish_attempt", NULL, item, detail, err) < 0) {
			jv_free(item);
			goto fail;
		}
		*claimed = jv_array_append(*claimed, item);
	}
	free(due.ids);
	return 0;
fail:
	free(due.ids);
	return -1;
}

/* The edges a settle may follow, with their audit action and the result
 * counted in cx_publish_total (NULL: not counted). */
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

/* One settle inside the caller's transaction; check_lease: the row must be
 * leased to o->lease_owner when it is publishing. */
static int settle(const cx_outbound_table *t, cx_store *s, int64_t id,
    const cx_outbound_outcome *o, int check_lease, jv *event, cx_err *err)
{
	const char *actor = o->actor ? o->actor : cx_identity_user(), *from;
	int64_t now = cx_clock_now();
	char *result;
	jv item, detail;
	cx_stmt *st;
	int e, rc;

	if (cx_outbound_get(t, s, id, &item, err) < 0)
		return -1;
	from = cx_json_str(item, "state");
	for (e = 0; edges[e].from; e++)
		if (strcmp(edges[e].from, from) == 0 && strcmp(edges[e].to, o->state) == 0)
			break;
	if (!edges[e].from) {
		cx_err_set(err, CX_EXIT_SOME_FAILED,
		    "%s %lld is %s: it cannot become %s; nothing changed",
		    t->noun, (long long)id, from, o->state);
		goto fail;
	}
	if (check_lease && strcmp(from, "publishing") == 0) {
		const char *holder = cx_json_str(item, "lease_owner");

		if (!o->lease_owner || !holder || strcmp(holder, o->lease_owner) != 0) {
			cx_err_set(err, CX_EXIT_SOME_FAILED,
			    "%s %lld is leased to %s, not %s; nothing changed",
			    t->noun, (long long)id, holder ? holder : "nobody",
			    o->lease_owner ? o->lease_owner : "(none)");
			goto fail;
		}
	}
	if (!(st = cx_store_prepare(s, t->sql.settle, err)))
		goto fail;
	cx_stmt_int(st, 1, id);
	cx_stmt_text(st, 2, o->state);
	cx_stmt_text(st, 3, o->provider_ref);
	cx_stmt_text(st, 4, strcmp(o->state, "published") ? o->error_code : NULL);
	cx_stmt_text(st, 5, strcmp(o->state, "published") ? o->error_detail : NULL);
	cx_stmt_int(st, 6, o->next_attempt_at > 0 ? o->next_attempt_at : now);
	cx_stmt_int(st, 7, now);
	cx_stmt_text(st, 8, from);
	result = jv_get_kind(o->data) == JV_KIND_OBJECT ? cx_json_dump(jv_copy(o->data)) : NULL;
	cx_stmt_text(st, 9, result);
	rc = cx_stmt_run(st, err);
	free(result);
	if (rc < 0)
		goto fail;
	detail = jv_object_set(jv_object(), jv_string("from"), jv_string(from));
	detail = jv_object_set(detail, jv_string("to"), jv_string(o->state));
	cx_outbound_copy(&detail, item, "attempts", "attempt");
	jv_free(item);
	if (cx_outbound_get(t, s, id, &item, err) < 0) {
		jv_free(detail);
		return -1;
	}
	cx_outbound_copy(&detail, item, "provider_ref", NULL);
	cx_outbound_copy(&detail, item, "error_code", NULL);
	cx_outbound_copy(&detail, item, "next_attempt_at", NULL);
	if (jv_get_kind(o->data) == JV_KIND_OBJECT)
		detail = jv_object_merge(detail, jv_copy(o->data));
	if (cx_outbound_audit(t, s, edges[e].action, actor, item, detail, err) < 0 ||
	    (edges[e].result && cx_outbound_count(s, t->counter ? t->counter : "cx_publish_total",
	    cx_json_str(item, "channel"), "result", edges[e].result, err) < 0))
		goto fail;
	if (event && strcmp(o->state, "approved") != 0) {
		*event = cx_outbound_event(t, item, o->state, actor);
		if (jv_get_kind(o->data) == JV_KIND_OBJECT)
			*event = jv_object_set(*event, jv_string("data"), jv_object_merge(
			    jv_object_get(jv_copy(*event), jv_string("data")), jv_copy(o->data)));
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

int cx_outbound_settle_in(const cx_outbound_table *t, cx_store *s, int64_t id,
    const cx_outbound_outcome *o, jv *event, cx_err *err)
{
	if (!o->state || !cx_outbound_state_ok(o->state))
		return cx_err_set(err, CX_EXIT_USAGE, "%s: %s", t->not_a_state,
		    o->state ? o->state : "(none)");
	return settle(t, s, id, o, 1, event, err);
}

int cx_outbound_settle(const cx_outbound_table *t, cx_store *s, int64_t id,
    const cx_outbound_outcome *o, jv *event, cx_err *err)
{
	jv ev = jv_null();

	if (cx_store_begin(s, err) < 0)
		return -1;
	if (cx_outbound_settle_in(t, s, id, o, &ev, err) < 0 || cx_store_commit(s, err) < 0) {
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

/* The ids of the publishing rows whose lease ran out, or whose owner is
 * gone. */
static int collect_expired(cx_stmt *st, cx_lease_gone *gone, id_list *l, cx_err *err)
{
	int rc;

	while ((rc = cx_stmt_step(st, err)) == 1) {
		const char *owner = cx_stmt_col_text(st, 2), *channel = cx_stmt_col_text(st, 3);

		if (cx_stmt_col_int(st, 1) || (gone && owner && channel && gone(owner, channel)))
			id_push(l, cx_stmt_col_int(st, 0));
	}
	cx_stmt_reset(st);
	return rc;
}

int cx_outbound_expire_leases(const cx_outbound_table *t, cx_store *s, cx_lease_gone *gone,
    int64_t *expired, cx_err *err)
{
	cx_outbound_outcome o = { .state = t->expired_to ? t->expired_to : "unknown",
		.error_code = "LEASE_EXPIRED",
		.error_detail = "the lease ran out before an outcome was recorded" };
	id_list l = { 0 };
	cx_stmt *st;

	*expired = 0;
	if (cx_store_begin(s, err) < 0)
		return -1;
	if (!(st = cx_store_prepare(s, t->sql.expired, err)))
		goto fail;
	cx_stmt_int(st, 1, cx_clock_now());
	if (collect_expired(st, gone, &l, err) < 0)
		goto fail;
	for (size_t i = 0; i < l.n; i++)
		if (settle(t, s, l.ids[i], &o, 0, NULL, err) < 0)
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
