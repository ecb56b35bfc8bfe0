/* dlq.c: the dead-letter queue of trigger deliveries: `cx-publish dlq
 * list` shows the dead and failed ones (never their payloads), `dlq
 * replay` brings them back to approved, attempts reset and the same
 * webhook-id, for the next `cx-publish triggers` run (owners and admins,
 * audited trigger_replayed). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "exit.h"
#include "identity.h"
#include "json.h"
#include "log.h"
#include "ndjson.h"
#include "operators.h"
#include "outbound.h"
#include "publish_tool.h"
#include "triggers.h"
#include "xalloc.h"

typedef struct {
	int64_t *ids;
	size_t n, cap;
} id_list;

static void add_id(int64_t id, void *ctx)
{
	id_list *l = ctx;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->ids = cx_xrealloc(l->ids, l->cap * sizeof *l->ids);
	}
	l->ids[l->n++] = id;
}

/* What a person sees of a delivery: where it went and why it stopped. */
static const char *const shown[] = {
	"state", "webhook_id", "subscription_id", "integration_id", "tenant", "event_type",
	"dedupe_key", "correlation_id", "error_code", "error_detail", "provider_ref",
	"attempts", "created_at", "updated_at", NULL,
};

int publish_dlq_list(cx_store *s, const publish_conf *c)
{
	id_list l = { NULL, 0, 0 };
	cx_err err = { 0, "" };
	int status = CX_EXIT_OK;

	if (cx_trigger_deliveries_dead(s, c->subscription, add_id, &l, &err) < 0)
		status = cx_log_fail(&err);
	for (size_t i = 0; i < l.n && status == CX_EXIT_OK; i++) {
		jv item, row;

		if (cx_outbound_get(&cx_trigger_deliveries, s, l.ids[i], &item, &err) < 0) {
			status = cx_log_fail(&err);
			break;
		}
		row = jv_object_set(jv_object(), jv_string("id"), jv_number((double)l.ids[i]));
		for (const char *const *f = shown; *f; f++)
			cx_outbound_copy(&row, item, *f, NULL);
		jv_free(item);
		cx_ndjson_write(row);
	}
	free(l.ids);
	cx_ndjson_flush();
	return status;
}

/* Replays delivery id in a transaction of its own. */
static int replay_one(cx_store *s, int64_t id)
{
	cx_err err = { 0, "" };

	if (cx_store_begin(s, &err) < 0)
		return cx_log_fail(&err);
	if (cx_trigger_deliveries_replay_in(s, id, NULL, &err) < 0 ||
	    cx_store_commit(s, &err) < 0) {
		cx_store_rollback(s);
		return cx_log_fail(&err);
	}
	cx_log_info("trigger delivery %lld is approved again, to be delivered by the next "
	    "cx-publish triggers run", (long long)id);
	return CX_EXIT_OK;
}

/* The ids to replay: the operands, or the subscription's dead and failed
 * deliveries. */
static int replay_ids(cx_store *s, const publish_conf *c, int argc, char **argv,
    int first, id_list *l)
{
	cx_err err = { 0, "" };

	if (c->subscription)
		return cx_trigger_deliveries_dead(s, c->subscription, add_id, l, &err) < 0 ?
		    cx_log_fail(&err) : CX_EXIT_OK;
	for (int i = first; i < argc; i++) {
		char *end;
		long long id;

		errno = 0;
		id = strtoll(argv[i], &end, 10);
		if (errno || end == argv[i] || *end || id <= 0) {
			cx_log(CX_LOG_ERROR, jv_null(), "'%s' is not a delivery id", argv[i]);
			return CX_EXIT_USAGE;
		}
		add_id(id, l);
	}
	return CX_EXIT_OK;
}

int publish_dlq_replay(cx_store *s, const publish_conf *c, int argc, char **argv,
    int first)
{
	id_list l = { NULL, 0, 0 };
	cx_err err = { 0, "" };
	int status;

	if ((status = replay_ids(s, c, argc, argv, first, &l)) != CX_EXIT_OK) {
		free(l.ids);
		return status;
	}
	/* sending again is a decision: owners and admins only */
	if (cx_store_begin(s, &err) == 0) {
		if (cx_operators_check(s, cx_identity_user(), CX_ROLE_ADMIN, "replay_denied",
		    "replay trigger deliveries", "triggers", &err) < 0)
			cx_operators_end_refused(s, &err);
		else
			cx_store_commit(s, &err);
	}
	if (err.code) {
		free(l.ids);
		return cx_log_fail(&err);
	}
	for (size_t i = 0; i < l.n; i++)
		publish_status(&status, replay_one(s, l.ids[i]));
	free(l.ids);
	return status;
}
