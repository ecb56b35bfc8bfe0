/* deliveries.h: packages uploaded to a target (cx-publish's upload channel)
 * and tracked until their status is final (cx-sync deliveries): the
 * deliveries and delivery_status tables of migration 009. Every status a
 * delivery takes is a delivery_status row; its sequence number (seq, only
 * ever growing) is what cx-sync deliveries emits past, with its cursor in
 * sync_cursors (source "deliveries", key the target). Times are epoch
 * seconds.
 * Strings passed in stay the caller's; rows handed to each() are its own
 * (jv objects to free). */
#ifndef CX_DELIVERIES_H
#define CX_DELIVERIES_H

#include <stdint.h>

#include <jv.h>

#include "err.h"
#include "store.h"

/* A delivery as the upload answer left it. */
typedef struct {
	const char *target, *tenant, *file, *sha256, *protocol_id;
	int64_t size;
	const char *status, *raw_status;   /* status as cx maps it, raw as said */
	int final;
	const char *correlation_id;        /* may be NULL */
	const char *outbound;              /* "queue:<id>" or "command:<id>" */
} cx_delivery_new;

/* In the caller's transaction: the delivery and its first status row. A
 * protocol id the target gave before is the same delivery: nothing is
 * added then. */
int cx_deliveries_add(cx_store *s, const cx_delivery_new *d, cx_err *err);

/* The targets that have deliveries, sorted (only: just that one, when it
 * has any): a jv array of strings in *out. */
int cx_deliveries_targets(cx_store *s, const char *only, jv *out, cx_err *err);

/* Up to max deliveries of target that are not final, with ids above
 * after, by id: {id, target, tenant, sha256, protocol_id, status,
 * raw_status, correlation_id}, in the array *out. */
int cx_deliveries_open(cx_store *s, const char *target, int64_t after, int64_t max,
    jv *out, cx_err *err);

/* In the caller's transaction: delivery id took a new status: its
 * delivery_status row, and status, raw_status, final, updated_at and
 * polled_at of the delivery. */
int cx_deliveries_change(cx_store *s, int64_t id, const char *status,
    const char *raw_status, int final, cx_err *err);

/* Delivery id was polled and had not changed: polled_at. */
int cx_deliveries_polled(cx_store *s, int64_t id, cx_err *err);

/* Up to max status rows of target's deliveries with seq above after, by
 * seq: {seq, delivery_id, target, tenant, protocol_id, sha256, status,
 * raw_status, at (epoch), correlation_id}, in the array *out. */
int cx_deliveries_statuses(cx_store *s, const char *target, int64_t after,
    int64_t max, jv *out, cx_err *err);

#endif
