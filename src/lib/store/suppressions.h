/* suppressions.h: the e-mail suppression list. A row's scope is a tenant,
 * or CX_SUPPRESS_DEFAULT_PLAN for the addresses every default-plan tenant
 * shares (they send under one reputation). Addresses are compared and
 * stored in lower case. Rows handed to each() are the callback's. */
#ifndef CX_SUPPRESSIONS_H
#define CX_SUPPRESSIONS_H

#include <jv.h>

#include "err.h"
#include "store.h"

#define CX_SUPPRESS_DEFAULT_PLAN "*default"

/* Adds address to scope in the caller's transaction (no audit): *added
 * gets 1 when it was not there. source: an operator, or
 * "feedback:<event type>". */
int cx_suppressions_put(cx_store *s, const char *scope, const char *address,
    const char *reason, const char *source, int *added, cx_err *err);
/* `cx email suppressions add|remove`: own transaction, audited
 * (email_suppression_added / _removed, by actor); *changed whether it did.
 * tenant may be CX_SUPPRESS_DEFAULT_PLAN. For owners and admins: anyone
 * else is refused with CX_EXIT_NOPERM, audited as email_suppression_denied. */
int cx_suppressions_add(cx_store *s, const char *tenant, const char *address,
    const char *reason, const char *actor, int *changed, cx_err *err);
int cx_suppressions_remove(cx_store *s, const char *tenant, const char *address,
    const char *actor, int *changed, cx_err *err);
/* Whether address is suppressed for tenant (its own rows, and the shared
 * ones when default_plan): 1 with *reason (new string, may be NULL), 0, or
 * -1 with err. */
int cx_suppressions_check(cx_store *s, const char *tenant, int default_plan,
    const char *address, char **reason, cx_err *err);
/* Rows {scope, address, reason, source, created_at} of tenant (NULL: all),
 * by scope and address. */
int cx_suppressions_list(cx_store *s, const char *tenant, void (*each)(jv row, void *ctx),
    void *ctx, cx_err *err);

#endif
