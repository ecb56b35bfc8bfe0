/* integrationchange.h: what the changes to integrations and their trigger
 * subscriptions share (integrations.c, subscriptions.c): their random ids,
 * the transaction a person's change runs in (owners and admins; anyone on
 * a state file with no operators yet) and the audit row with its count in
 * cx_integration_changes_total{change}. Strings passed in stay the
 * caller's; the detail given to cx_integration_change_record is consumed. */
#ifndef CX_INTEGRATIONCHANGE_H
#define CX_INTEGRATIONCHANGE_H

#include <stddef.h>

#include <jv.h>

#include "err.h"
#include "store.h"

/* prefix and 16 random hex digits into out (cap bytes). */
int cx_integration_random_hex(const char *prefix, char *out, size_t cap, cx_err *err);

/* Begins a change made by actor (what: "rotate integration keys", subject
 * its id). A refusal is CX_EXIT_NOPERM, audited integration_change_denied
 * and committed; -1 then, and no transaction is left open. */
int cx_integration_change_begin(cx_store *s, const char *actor, const char *what,
    const char *subject, cx_err *err);
/* Commits when rc is 0, else rolls back; 0 or -1. */
int cx_integration_change_end(cx_store *s, int rc, cx_err *err);

/* Appends the audit row (action, subject, actor, correlation id, detail)
 * and counts change, in the caller's transaction. */
int cx_integration_change_record(cx_store *s, const char *action, const char *change,
    const char *subject, const char *actor, const char *correlation_id, jv detail,
    cx_err *err);

#endif
