/* triggers.h: the deliveries of trigger events to subscriptions (migration
 * 008, table trigger_deliveries), an outbound ledger read, claimed and
 * settled through outbound.h, and the latest sanitized events per tenant
 * and type (trigger_samples) that GET /triggers/<event> answers with.
 *
 * Functions named _in run inside the caller's transaction. Strings passed
 * in stay the caller's; jv results are the caller's. */
#ifndef CX_TRIGGERS_H
#define CX_TRIGGERS_H

#include <stdint.h>

#include <jv.h>

#include "err.h"
#include "outbound.h"
#include "store.h"

#define CX_TRIGGER_SAMPLES_KEPT 100

/* The ledger as an outbound table (channel "triggers"). */
extern const cx_outbound_table cx_trigger_deliveries;

/* Records the sanitized payload (JSON object text {type, timestamp, data})
 * of an event as the newest sample of tenant and type, keeping the newest
 * CX_TRIGGER_SAMPLES_KEPT; the same dedupe_key again changes nothing. */
int cx_trigger_samples_record_in(cx_store *s, const char *tenant,
    const char *type, const char *dedupe_key, const char *payload, int64_t now,
    cx_err *err);
/* The newest limit samples of tenant and type, newest first, as an array
 * of the payload objects. */
int cx_trigger_samples_latest(cx_store *s, const char *tenant, const char *type,
    int64_t limit, jv *out, cx_err *err);

#endif
