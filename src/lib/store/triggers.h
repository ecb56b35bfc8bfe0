/* triggers.h: the deliveries of trigger events to subscriptions (migration
 * 008, table trigger_deliveries), an outbound ledger read, claimed and
 * settled through outbound.h, and the latest sanitized events per tenant
 * and type (trigger_samples) that GET /triggers/<event> answers with.
 *
 * Functions named _in run inside the caller's transaction. Strings and jv
 * passed in stay the caller's; jv results are the caller's. */
#ifndef CX_TRIGGERS_H
#define CX_TRIGGERS_H

#include <stdint.h>

#include <jv.h>

#include "err.h"
#include "outbound.h"
#include "store.h"

#define CX_TRIGGER_SAMPLES_KEPT 100

/* The ledger as an outbound table (channel "triggers"): items carry
 * subscription_id, integration_id, tenant, event_type, dedupe_key,
 * webhook_id, payload, correlation_id and their subscription's target_url;
 * settled results count in cx_trigger_deliveries_total{result}; a row
 * whose lease ran out goes back to approved (the receiver tells a retry by
 * its webhook-id). */
extern const cx_outbound_table cx_trigger_deliveries;

/* Enqueues the delivery of an event (payload: the sanitized body) to
 * subscription row sub ({subscription_id, integration_id, tenant}, as
 * cx_subscriptions_matching hands it), with a new webhook-id, due now;
 * *added is 0 when the subscription already has that dedupe_key. */
int cx_trigger_deliveries_enqueue_in(cx_store *s, jv sub, const char *type,
    const char *dedupe_key, const char *payload, const char *correlation_id,
    int *added, cx_err *err);
/* The approved deliveries to active subscriptions that are due at now, at
 * most per_sub of each subscription and max in all, taking turns (the
 * oldest of each, then the second oldest...):
 * each(id, subscription_id, ctx). */
int cx_trigger_deliveries_due(cx_store *s, int64_t now, int64_t per_sub,
    int64_t max, void (*each)(int64_t id, const char *subscription_id, void *ctx),
    void *ctx, cx_err *err);
/* Back to approved, due now, attempts reset, the same webhook-id: a dead
 * or failed delivery (else CX_EXIT_SOME_FAILED, nothing changed). Audited
 * trigger_replayed by actor. */
int cx_trigger_deliveries_replay_in(cx_store *s, int64_t id, const char *actor,
    cx_err *err);
/* The ids of the dead and failed deliveries of subscription (NULL: all). */
int cx_trigger_deliveries_dead(cx_store *s, const char *subscription,
    void (*each)(int64_t id, void *ctx), void *ctx, cx_err *err);

/* Records a delivery's outcome in its subscription's health: a success
 * clears failing_since, a failure sets it when unset; *failing_since gets
 * it after this (0: not failing). */
int cx_trigger_subscription_health_in(cx_store *s, const char *subscription,
    int ok, int64_t now, int64_t *failing_since, cx_err *err);

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
