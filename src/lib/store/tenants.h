/* tenants.h: tenants and their plans (`cx tenants`), and channels paused for
 * one tenant (the e-mail reputation breaker, the three-failures rollback)
 * until an owner or admin resumes them. A tenant not listed has the
 * default plan, no From of its own and no quota. Tenant names are
 * [A-Za-z0-9_-], 1 to 64 characters (they travel in provider tags).
 *
 * cx_tenant's strings are its own: cx_tenant_free. Rows handed to each()
 * are the callback's. */
#ifndef CX_TENANTS_H
#define CX_TENANTS_H

#include <stdint.h>

#include <jv.h>

#include "err.h"
#include "store.h"

typedef struct {
	char *name;
	char *email_plan;               /* default, premium, advanced, expert */
	char *email_from;               /* NULL: none */
	int64_t email_daily_quota;      /* -1: none */
	int listed;                     /* set by `cx tenants set` */
} cx_tenant;

/* Whether name is a valid tenant name; 0 with err (CX_EXIT_USAGE) if not. */
int cx_tenants_valid_name(const char *name, cx_err *err);
/* Whether plan is one of the four; 0 with err (CX_EXIT_USAGE) if not. */
int cx_tenants_valid_plan(const char *plan, cx_err *err);

/* The tenant called name (listed or not). */
int cx_tenants_get(cx_store *s, const char *name, cx_tenant *out, cx_err *err);
void cx_tenant_free(cx_tenant *t);

/* Creates or changes a tenant; NULL plan or from and quota -2 keep what is
 * there (quota -1: none). Audited (tenant_updated, by actor) in the same
 * transaction. set and resume are for owners and admins (set for anyone
 * on a state file with no operators yet): anyone else is refused with
 * CX_EXIT_NOPERM, audited as tenant_change_denied. */
int cx_tenants_set(cx_store *s, const char *name, const char *plan, const char *from,
    int64_t quota, const char *actor, cx_err *err);
/* Every listed tenant, and every tenant with a paused channel, by name:
 * {name, email_plan, email_from, email_daily_quota, paused:[channel...]}. */
int cx_tenants_list(cx_store *s, void (*each)(jv row, void *ctx), void *ctx, cx_err *err);
/* One tenant as `cx tenants show` prints it: the list's fields, pauses
 * [{channel, error_code, reason, paused_at}], and for e-mail the last check
 * of its From domain {domain, ok, checked_at} when there is one. */
int cx_tenants_show(cx_store *s, const char *name, jv *out, cx_err *err);

/* The pause of a delivery channel after three failed items in a row. */
#define CX_DELIVERY_FAILURES "DELIVERY_FAILURES"

/* Pauses channel for tenant in the caller's transaction; *paused gets 1
 * when it was not paused before (the caller audits and counts then). */
int cx_tenants_pause(cx_store *s, const char *tenant, const char *channel,
    const char *error_code, const char *reason, int *paused, cx_err *err);
/* 1 with *error_code and *reason (new strings; either may be NULL) when
 * channel is paused for tenant, 0 when not, -1 with err. */
int cx_tenants_paused(cx_store *s, const char *tenant, const char *channel,
    char **error_code, char **reason, cx_err *err);
/* Resumes channel for tenant (its own transaction, audited
 * tenant_resumed by actor when it was paused); *was gets whether it was. */
int cx_tenants_resume(cx_store *s, const char *tenant, const char *channel,
    const char *actor, int *was, cx_err *err);

#endif
