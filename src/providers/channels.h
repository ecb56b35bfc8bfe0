/* channels.h: the registry of cx-publish's channels (channel.h): every
 * channel there is, found by name or walked in order (x, whatsapp,
 * instagram, messenger, email). A new channel is one line in channels.c. The
 * channels are static: nothing here is freed. */
#ifndef CX_CHANNELS_H
#define CX_CHANNELS_H

#include <stddef.h>

#include <jv.h>

#include "channel.h"
#include "err.h"
#include "queue.h"
#include "store.h"

/* The channel named name (may be NULL), or NULL. */
const cx_channel *cx_channels_find(const char *name);
/* As cx_channels_find, or NULL with err (CX_EXIT_DATAERR) naming the
 * channels there are. */
const cx_channel *cx_channels_get(const char *name, cx_err *err);
/* The i-th channel, or NULL past the last. */
const cx_channel *cx_channels_at(size_t i);

/* Checks a proposal p (not consumed) for the channel it names
 * (cx_queue_check: the tools hand it to the queue and the command ledger). */
int cx_channels_check(jv p, cx_queue_checked *out, const char **problem, cx_err *err);

/* Checks p (not consumed) as cx_channels_check does, then that its item
 * would belong to tenant: the tenant of the account it sends from, else of
 * its workspace (cx_accounts_tenant). CX_EXIT_NOPERM, *problem
 * "tenant_mismatch", when it is another's. */
int cx_channels_check_tenant(cx_store *s, jv p, const char *tenant,
    const char **problem, cx_err *err);

/* The request for an item on the channel it names, as cx_channel_call_build. */
int cx_channels_call_build(jv item, cx_channel_call *call, const char **code,
    cx_err *err);

/* Checks every channel's CX_APPROVAL_* and CX_PUBLISH_RATE_* setting, so a
 * malformed one stops a run before anything is claimed (CX_EXIT_CONFIG). */
int cx_channels_check_settings(cx_err *err);

#endif
