/* outbound.h: what the two tables cx-publish sends from share, the queue
 * (queue.h) and the command ledger (commands.h). A cx_outbound_table names
 * one of them; on either, rows are read, claimed, settled along the edges
 * drawn in queue.h and expired the same way, each change in one transaction
 * with its audit row and counter, and post.<state> events have one shape.
 *
 * Ownership as in queue.h: jv arguments are consumed, except the item of
 * cx_outbound_audit and the src of cx_outbound_copy, which are only read;
 * jv results are the caller's; rows handed to each() are its to free. */
#ifndef CX_OUTBOUND_H
#define CX_OUTBOUND_H

#include <stdint.h>

#include <jv.h>

#include "err.h"
#include "store.h"

/* Whether s names a state of an item or a command (queue.h). */
int cx_outbound_state_ok(const char *s);

/* Where an item goes after a claim, a reconciliation or a revival. */
typedef struct {
	const char *state;          /* published, failed, dead, unknown or approved */
	const char *lease_owner;    /* from publishing: the claimant, whose lease
	                               must still be its own; NULL otherwise */
	const char *provider_ref;   /* published: the provider's id */
	const char *error_code;     /* failed, dead, unknown, approved: why */
	const char *error_detail;   /* one line, never a payload or a token */
	int64_t next_attempt_at;    /* approved: when to try again (epoch) */
	const char *actor;          /* NULL: the Unix user running this */
	jv data;                    /* borrowed: more fields for the audit detail
	                               and the event's data (an object), or 0 */
} cx_outbound_outcome;

/* The statements of one table, from CX_OUTBOUND_SQL. */
typedef struct {
	const char *get, *list, *due, *claim, *settle, *expired;
} cx_outbound_sql;

/* The statements of table, whose rows are read as columns (id first). A
 * macro, not text built at run time, because the store caches a statement
 * by the address of its text: each table needs literals of its own. */
#define CX_OUTBOUND_SQL(table, columns) { \
	.get = "SELECT " columns " FROM " table " WHERE id = ?1", \
	.list = "SELECT " columns " FROM " table " WHERE (?1 IS NULL OR state = ?1)" \
	    " AND (?2 IS NULL OR channel = ?2) ORDER BY id", \
	.due = "SELECT id FROM " table " WHERE state = 'approved' AND next_attempt_at <= ?1" \
	    " AND (?2 IS NULL OR channel = ?2) AND (?4 <= 0 OR id = ?4)" \
	    " ORDER BY next_attempt_at, id LIMIT ?3", \
	.claim = "UPDATE " table " SET state = 'publishing', lease_owner = ?2," \
	    " lease_expires_at = ?3, attempts = attempts + 1, updated_at = ?4" \
	    " WHERE id = ?1 AND state = 'approved'", \
	.settle = "UPDATE " table " SET state = ?2, lease_owner = NULL, lease_expires_at = NULL," \
	    " provider_ref = coalesce(?3, provider_ref), error_code = ?4, error_detail = ?5," \
	    " next_attempt_at = CASE WHEN ?2 = 'approved' THEN ?6 ELSE next_attempt_at END," \
	    " published_at = CASE WHEN ?2 = 'published' THEN ?7 ELSE published_at END," \
	    " result = coalesce(?9, result)," \
	    " attempts = CASE WHEN state = 'dead' THEN 0 ELSE attempts END," \
	    " updated_at = ?7 WHERE id = ?1 AND state = ?8", \
	.expired = "SELECT id, lease_expires_at < ?1, lease_owner, channel FROM " table \
	    " WHERE state = 'publishing' ORDER BY id", \
}

/* A column of a table's row as an item field: its key, and whether it
 * holds a time (1), or JSON (CX_OUTBOUND_JSON: the field is left out while
 * the column is NULL). */
#define CX_OUTBOUND_JSON 2
typedef struct {
	const char *key;
	int col, time;
} cx_outbound_col;

/* How a row of a table reads as an item: "id", then the columns in order,
 * then "attempts" and "meta" (JSON text; {} when it is not an object). */
typedef struct {
	const cx_outbound_col *cols;
	size_t ncols;
	int id, attempts, meta;             /* their columns */
	jv (*time)(cx_stmt *st, int col);   /* a time column as RFC 3339 or null */
} cx_outbound_row;

typedef struct {
	const char *noun;           /* in messages: "queue item", "command" */
	const char *subject;        /* audit subject "<subject>:<id>", dedupe_key
	                               "<subject>:<id>:<state>" */
	const char *id_key;         /* the id in audit details and event data */
	const char *not_a_state;    /* how settle refuses an unknown state, before
	                               ": <state>" ("not a queue state") */
	int decided;                /* people approve or reject its rows */
	const char *const *audit_fields;  /* item fields every audit detail repeats,
	                                     NULL-terminated */
	const char *const *event_fields;  /* item fields of event data, after the id,
	                                     NULL-terminated */
	const cx_outbound_row *row;       /* how a row of sql.get or sql.list reads */
	const char *counter;        /* the counter of settled results (NULL:
	                               cx_publish_total) */
	const char *expired_to;     /* where a row whose lease ran out goes (NULL:
	                               unknown, to be reconciled) */
	cx_outbound_sql sql;
} cx_outbound_table;

/* One row; an unknown id is CX_EXIT_SOME_FAILED "no <noun> <id>". */
int cx_outbound_get(const cx_outbound_table *t, cx_store *s, int64_t id, jv *item,
    cx_err *err);
/* Rows by id, filtered by state and channel (NULL: any). */
int cx_outbound_list(const cx_outbound_table *t, cx_store *s, const char *state,
    const char *channel, void (*each)(jv item, void *ctx), void *ctx, cx_err *err);

/* Claims up to max (<= 0: no limit) approved rows whose next attempt is due,
 * of channel (NULL: any), or only row only_id when it is > 0, in the
 * caller's transaction; as cx_queue_claim_in. */
int cx_outbound_claim_in(const cx_outbound_table *t, cx_store *s, const char *channel,
    int64_t max, int64_t only_id, const char *owner, int64_t lease, jv *claimed,
    cx_err *err);
/* As cx_queue_settle. */
int cx_outbound_settle(const cx_outbound_table *t, cx_store *s, int64_t id,
    const cx_outbound_outcome *o, jv *event, cx_err *err);
/* As cx_queue_settle_in. */
int cx_outbound_settle_in(const cx_outbound_table *t, cx_store *s, int64_t id,
    const cx_outbound_outcome *o, jv *event, cx_err *err);
/* Whether the lease of owner on an item of channel was left by a process
 * that is gone (its lease may end before it runs out). */
typedef int cx_lease_gone(const char *owner, const char *channel);
/* As cx_queue_expire_leases. */
int cx_outbound_expire_leases(const cx_outbound_table *t, cx_store *s, cx_lease_gone *gone,
    int64_t *expired, cx_err *err);

/* The post.<state> line of an item (consumed): the SPEC §5 envelope and data
 * {<id_key>, the event fields, actor, and when set the field that explains
 * state: provider_ref or error_code, or on a decided table note or reason}. */
jv cx_outbound_event(const cx_outbound_table *t, jv item, const char *state,
    const char *actor);

/* Appends the audit row of a change to item: detail (consumed) with the
 * item's id and audit fields added, and the integration_id of its meta
 * when an automation asked for it. */
int cx_outbound_audit(const cx_outbound_table *t, cx_store *s, const char *action,
    const char *actor, jv item, jv detail, cx_err *err);
/* Adds one to counter name{channel, key=value}. */
int cx_outbound_count(cx_store *s, const char *name, const char *channel,
    const char *key, const char *value, cx_err *err);

/* Sets *dst's member as (NULL: key) to src's member key, unless that is
 * absent or null. */
void cx_outbound_copy(jv *dst, jv src, const char *key, const char *as);

#endif
