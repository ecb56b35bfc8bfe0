/* channelfailures.h: failed items in a row of a delivery channel for a
 * tenant (table channel_failures): three disable the channel for the
 * tenant (cx-publish's rollback). Each call runs in the caller's
 * transaction. */
#ifndef CX_CHANNELFAILURES_H
#define CX_CHANNELFAILURES_H

#include <stdint.h>

#include "err.h"
#include "store.h"

/* One more failed item (error_code) of channel for tenant: *streak gets
 * how many there are now in a row. */
int cx_channel_failures_add(cx_store *s, const char *tenant, const char *channel,
    const char *error_code, int64_t *streak, cx_err *err);
/* A published item, or a person's resume: the streak starts again. */
int cx_channel_failures_reset(cx_store *s, const char *tenant, const char *channel,
    cx_err *err);

#endif
