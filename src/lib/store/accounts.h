/* accounts.h: which tenant a provider account belongs to (SPEC §5 tenant).
 * cx_accounts_tenant returns a new string the caller frees. */
#ifndef CX_ACCOUNTS_H
#define CX_ACCOUNTS_H

#include <jv.h>

#include "err.h"
#include "store.h"

/* Maps channel + account to tenant (replacing an earlier mapping), audited
 * as account_mapped in the same transaction. */
int cx_accounts_set(cx_store *s, const char *channel, const char *account,
    const char *tenant, cx_err *err);
/* The tenant of channel + account; when unmapped, the tenant named like
 * the account if `cx tenants set` listed one, else "default". NULL with
 * err on a store failure. */
char *cx_accounts_tenant(cx_store *s, const char *channel, const char *account,
    cx_err *err);
/* Every mapping as {channel, account, tenant}; each() owns the row. */
int cx_accounts_list(cx_store *s, void (*each)(jv row, void *ctx), void *ctx,
    cx_err *err);

#endif
