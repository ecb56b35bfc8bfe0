/* sync_tool.h: what cx-sync's own commands beside main.c offer it.
 * Strings passed in stay the caller's. */
#ifndef CX_SYNC_TOOL_H
#define CX_SYNC_TOOL_H

#include "err.h"
#include "store.h"

/* cx-sync deliveries: polls every delivery of target (NULL: of every
 * target) that is not final, records each change of status, then emits
 * the delivery.status events not emitted yet. Targets fail alone: 0, or
 * -1 with err (one target failed: its exit status; more: 1). */
int deliveries_sync(cx_store *s, const char *target, cx_err *err);

#endif
