/* audit.h: the append-only audit trail (SPEC §4 Audit). Append inside the
 * transaction of the change being recorded. cx_audit_append consumes
 * entry->detail; rows handed to the each() callback of cx_audit_query are the
 * callback's to free. */
#ifndef CX_AUDIT_H
#define CX_AUDIT_H

#include <stdint.h>

#include <jv.h>

#include "err.h"
#include "store.h"

typedef struct {
	const char *action;          /* e.g. approval_denied, token_refreshed */
	const char *actor;           /* NULL: the Unix user running the process */
	const char *correlation_id;  /* may be NULL */
	const char *subject;         /* what it is about (queue id, key...), may be NULL */
	jv detail;                   /* object or jv_null(); never secrets */
} cx_audit_entry;

int cx_audit_append(cx_store *s, cx_audit_entry *entry, cx_err *err);
/* Rows in id order, filtered by correlation id and/or since (epoch seconds;
 * < 0 for no filter); each() gets one JSON object per row. */
int cx_audit_query(cx_store *s, const char *correlation_id, int64_t since,
    void (*each)(jv row, void *ctx), void *ctx, cx_err *err);
/* Retention: deletes rows older than before (epoch seconds) and records the
 * pruning itself as an audit row. *deleted gets the count. */
int cx_audit_prune(cx_store *s, int64_t before, int64_t *deleted, cx_err *err);

#endif
