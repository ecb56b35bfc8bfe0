/* triggers.c: the trigger_deliveries table (an outbound ledger: claims and
 * outcomes run in outbound.c on cx_trigger_deliveries), enqueueing and
 * replaying deliveries, the health of a subscription, and the latest
 * sanitized events per tenant and type (trigger_samples). */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "crypto.h"
#include "exit.h"
#include "json.h"
#include "outbound.h"
#include "triggers.h"

#define COLUMNS \
	"id, state, channel, subscription_id, integration_id, tenant, event_type," \
	" dedupe_key, webhook_id, payload, correlation_id, attempts, next_attempt_at," \
	" lease_owner, lease_expires_at, provider_ref, error_code, error_detail," \
	" published_at, created_at, updated_at, '{}', (SELECT target_url FROM" \
	" trigger_subscriptions WHERE id = subscription_id), result"

enum {
	C_ID, C_STATE, C_CHANNEL, C_SUB, C_INTEGRATION, C_TENANT, C_TYPE, C_KEY,
	C_WEBHOOK_ID, C_PAYLOAD, C_CID, C_ATTEMPTS, C_NEXT_AT, C_LEASE_OWNER,
	C_LEASE_EXPIRES, C_PROVIDER_REF, C_ERROR_CODE, C_ERROR_DETAIL,
	C_PUBLISHED_AT, C_CREATED_AT, C_UPDATED_AT, C_META, C_URL, C_RESULT,
};

/* A time column; 0 or less is no time. */
static jv col_time(cx_stmt *st, int col)
{
	return cx_stmt_col_int(st, col) <= 0 ? jv_null() : cx_stmt_col_time(st, col);
}

static const cx_outbound_col delivery_cols[] = {
	{ "state", C_STATE, 0 }, { "channel", C_CHANNEL, 0 },
	{ "subscription_id", C_SUB, 0 }, { "integration_id", C_INTEGRATION, 0 },
	{ "tenant", C_TENANT, 0 }, { "event_type", C_TYPE, 0 },
	{ "dedupe_key", C_KEY, 0 }, { "webhook_id", C_WEBHOOK_ID, 0 },
	{ "payload", C_PAYLOAD, 0 }, { "correlation_id", C_CID, 0 },
	{ "next_attempt_at", C_NEXT_AT, 1 }, { "lease_owner", C_LEASE_OWNER, 0 },
	{ "lease_expires_at", C_LEASE_EXPIRES, 1 },
	{ "provider_ref", C_PROVIDER_REF, 0 }, { "error_code", C_ERROR_CODE, 0 },
	{ "error_detail", C_ERROR_DETAIL, 0 }, { "published_at", C_PUBLISHED_AT, 1 },
	{ "created_at", C_CREATED_AT, 1 }, { "updated_at", C_UPDATED_AT, 1 },
	{ "target_url", C_URL, 0 }, { "result", C_RESULT, CX_OUTBOUND_JSON },
};

static const cx_outbound_row delivery_row = {
	delivery_cols, sizeof delivery_cols / sizeof delivery_cols[0], C_ID, C_ATTEMPTS,
	C_META, col_time,
};

static const char *const delivery_audit_fields[] = {
	"integration_id", "subscription_id", "webhook_id", "event_type", NULL,
};
static const char *const delivery_event_fields[] = {
	"integration_id", "subscription_id", "webhook_id", "event_type", "dedupe_key", NULL,
};

const cx_outbound_table cx_trigger_deliveries = {
	.noun = "trigger delivery",
	.subject = "trigger_delivery",
	.id_key = "delivery_id",
	.not_a_state = "not a delivery state",
	.audit_fields = delivery_audit_fields,
	.event_fields = delivery_event_fields,
	.row = &delivery_row,
	.counter = "cx_trigger_deliveries_total",
	.expired_to = "approved",
	.sql = CX_OUTBOUND_SQL("trigger_deliveries", COLUMNS),
};

/* --- deliveries ------------------------------------------------------------ */

static const char sql_enqueue[] =
    "INSERT OR IGNORE INTO trigger_deliveries (subscription_id, integration_id, tenant,"
    " event_type, dedupe_key, webhook_id, payload, correlation_id, state,"
    " next_attempt_at, created_at, updated_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'approved', ?9, ?9, ?9)";

int cx_trigger_deliveries_enqueue_in(cx_store *s, jv sub, const char *type,
    const char *dedupe_key, const char *payload, const char *correlation_id,
    int *added, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_enqueue, err);
	char webhook_id[4 + 24 + 1];

	*added = 0;
	if (!st)
		return -1;
	if (cx_crypto_random_id("msg_", 12, webhook_id, sizeof webhook_id) < 0)
		return cx_err_set(err, CX_EXIT_TEMPFAIL, "no random bytes for a webhook-id");
	cx_stmt_text(st, 1, cx_json_str(sub, "subscription_id"));
	cx_stmt_text(st, 2, cx_json_str(sub, "integration_id"));
	cx_stmt_text(st, 3, cx_json_str(sub, "tenant"));
	cx_stmt_text(st, 4, type);
	cx_stmt_text(st, 5, dedupe_key);
	cx_stmt_text(st, 6, webhook_id);
	cx_stmt_text(st, 7, payload);
	cx_stmt_text(st, 8, correlation_id);
	cx_stmt_int(st, 9, cx_clock_now());
	if (cx_stmt_run(st, err) < 0)
		return -1;
	*added = cx_store_changes(s) > 0;
	return 0;
}

/* Ranked within each subscription, so a backlog of one never fills a run's
 * window while another's deliveries wait. */
static const char sql_due[] =
    "SELECT id, subscription_id FROM (SELECT d.id, d.subscription_id, d.next_attempt_at,"
    " row_number() OVER (PARTITION BY d.subscription_id ORDER BY d.next_attempt_at, d.id)"
    " AS r FROM trigger_deliveries d JOIN trigger_subscriptions t"
    " ON t.id = d.subscription_id WHERE d.state = 'approved' AND d.next_attempt_at <= ?1"
    " AND t.state = 'active') WHERE r <= ?2 ORDER BY r, next_attempt_at, id LIMIT ?3";

int cx_trigger_deliveries_due(cx_store *s, int64_t now, int64_t per_sub,
    int64_t max, void (*each)(int64_t id, const char *subscription_id, void *ctx),
    void *ctx, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_due, err);
	int rc;

	if (!st)
		return -1;
	cx_stmt_int(st, 1, now);
	cx_stmt_int(st, 2, per_sub);
	cx_stmt_int(st, 3, max);
	while ((rc = cx_stmt_step(st, err)) == 1)
		each(cx_stmt_col_int(st, 0), cx_stmt_col_text(st, 1), ctx);
	cx_stmt_reset(st);
	return rc;
}

static const char sql_replay[] =
    "UPDATE trigger_deliveries SET state = 'approved', attempts = 0, next_attempt_at = ?2,"
    " error_code = NULL, error_detail = NULL, updated_at = ?2"
    " WHERE id = ?1 AND state IN ('dead', 'failed')";

int cx_trigger_deliveries_replay_in(cx_store *s, int64_t id, const char *actor,
    cx_err *err)
{
	const cx_outbound_table *t = &cx_trigger_deliveries;
	cx_stmt *st;
	jv item, detail;
	const char *from;
	int rc;

	if (cx_outbound_get(t, s, id, &item, err) < 0)
		return -1;
	from = cx_json_str(item, "state");
	if (strcmp(from, "dead") != 0 && strcmp(from, "failed") != 0) {
		cx_err_set(err, CX_EXIT_SOME_FAILED, "trigger delivery %lld is %s: only dead "
		    "or failed deliveries are replayed; nothing changed", (long long)id, from);
		jv_free(item);
		return -1;
	}
	if (!(st = cx_store_prepare(s, sql_replay, err))) {
		jv_free(item);
		return -1;
	}
	cx_stmt_int(st, 1, id);
	cx_stmt_int(st, 2, cx_clock_now());
	if (cx_stmt_run(st, err) < 0) {
		jv_free(item);
		return -1;
	}
	detail = jv_object_set(jv_object(), jv_string("from"), jv_string(from));
	cx_outbound_copy(&detail, item, "error_code", NULL);
	cx_outbound_copy(&detail, item, "attempts", NULL);
	rc = cx_outbound_audit(t, s, "trigger_replayed", actor, item, detail, err);
	jv_free(item);
	return rc;
}

static const char sql_dead[] =
    "SELECT id FROM trigger_deliveries WHERE state IN ('dead', 'failed')"
    " AND (?1 IS NULL OR subscription_id = ?1) ORDER BY id";

int cx_trigger_deliveries_dead(cx_store *s, const char *subscription,
    void (*each)(int64_t id, void *ctx), void *ctx, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_dead, err);
	int rc;

	if (!st)
		return -1;
	cx_stmt_text(st, 1, subscription);
	while ((rc = cx_stmt_step(st, err)) == 1)
		each(cx_stmt_col_int(st, 0), ctx);
	cx_stmt_reset(st);
	return rc;
}

/* --- subscriptions' health ------------------------------------------------- */

static const char sql_health[] =
    "UPDATE trigger_subscriptions SET failing_since = CASE WHEN ?2 THEN NULL"
    " ELSE coalesce(failing_since, ?3) END WHERE id = ?1 RETURNING failing_since";

int cx_trigger_subscription_health_in(cx_store *s, const char *subscription,
    int ok, int64_t now, int64_t *failing_since, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_health, err);
	int rc;

	*failing_since = 0;
	if (!st)
		return -1;
	cx_stmt_text(st, 1, subscription);
	cx_stmt_int(st, 2, ok);
	cx_stmt_int(st, 3, now);
	if ((rc = cx_stmt_step(st, err)) == 1 && !cx_stmt_col_is_null(st, 0))
		*failing_since = cx_stmt_col_int(st, 0);
	if (rc == 1)
		rc = cx_stmt_step(st, err);
	cx_stmt_reset(st);
	return rc < 0 ? -1 : 0;
}

/* --- samples --------------------------------------------------------------- */

static const char sql_sample_add[] =
    "INSERT OR IGNORE INTO trigger_samples (tenant, event_type, dedupe_key, payload,"
    " recorded_at, seq) VALUES (?1, ?2, ?3, ?4, ?5, (SELECT coalesce(max(seq), 0) + 1"
    " FROM trigger_samples WHERE tenant = ?1 AND event_type = ?2))";
static const char sql_sample_prune[] =
    "DELETE FROM trigger_samples WHERE tenant = ?1 AND event_type = ?2 AND seq <="
    " (SELECT seq FROM trigger_samples WHERE tenant = ?1 AND event_type = ?2"
    " ORDER BY seq DESC LIMIT 1 OFFSET ?3)";

int cx_trigger_samples_record_in(cx_store *s, const char *tenant,
    const char *type, const char *dedupe_key, const char *payload, int64_t now,
    cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_sample_add, err);

	if (!st)
		return -1;
	cx_stmt_text(st, 1, tenant);
	cx_stmt_text(st, 2, type);
	cx_stmt_text(st, 3, dedupe_key);
	cx_stmt_text(st, 4, payload);
	cx_stmt_int(st, 5, now);
	if (cx_stmt_run(st, err) < 0)
		return -1;
	if (cx_store_changes(s) == 0)
		return 0;
	if (!(st = cx_store_prepare(s, sql_sample_prune, err)))
		return -1;
	cx_stmt_text(st, 1, tenant);
	cx_stmt_text(st, 2, type);
	cx_stmt_int(st, 3, CX_TRIGGER_SAMPLES_KEPT);
	return cx_stmt_run(st, err);
}

static const char sql_sample_latest[] =
    "SELECT payload FROM trigger_samples WHERE tenant = ?1 AND event_type = ?2"
    " ORDER BY seq DESC LIMIT ?3";

int cx_trigger_samples_latest(cx_store *s, const char *tenant, const char *type,
    int64_t limit, jv *out, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_sample_latest, err);
	int rc;

	*out = jv_array();
	if (!st)
		return -1;
	cx_stmt_text(st, 1, tenant);
	cx_stmt_text(st, 2, type);
	cx_stmt_int(st, 3, limit);
	while ((rc = cx_stmt_step(st, err)) == 1) {
		jv v = jv_parse(cx_stmt_col_text(st, 0));

		if (jv_is_valid(v))
			*out = jv_array_append(*out, v);
		else
			jv_free(v);
	}
	cx_stmt_reset(st);
	if (rc < 0) {
		jv_free(*out);
		*out = jv_invalid();
		return -1;
	}
	return 0;
}
