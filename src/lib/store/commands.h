/* commands.h: the ledger of what cx-publish takes from stdin rather than from
 * the queue (SPEC §6 cx-publish): command lines for channels whose approval
 * policy is none, and lines an owner or admin publishes with --direct. Each
 * is stored under its client's idempotency key, unique per channel and
 * workspace, before anything is sent, so a key seen before is never sent
 * again. A command then moves like a queue item (queue.h), from approved:
 *
 *   approved   -> publishing (claimed, with a lease)       cx_commands_claim_in
 *   publishing -> published | failed | dead | unknown
 *                 | approved (to be retried)               cx_commands_settle(_in)
 *   publishing, lease run out -> unknown                   cx_commands_expire_leases
 *   unknown    -> published | approved (reconciled)        cx_commands_settle
 *   dead       -> approved (brought back)                  cx_commands_settle
 *
 * Each change is one transaction with its audit row (subject
 * "command:<id>") and counter (cx_publish_commands_total{channel,origin}
 * when accepted, cx_publish_total{channel,result} for outcomes, as for
 * queue items).
 *
 * Commands are jv objects shaped like queue items: id, state, channel, kind,
 * workspace, account, tenant, text, text_sha256, in_reply_to, meta,
 * idempotency_key, origin (stdin or direct), correlation_id, requested_by,
 * requested_at, attempts, next_attempt_at, lease_owner, lease_expires_at,
 * provider_ref, error_code, error_detail, published_at, updated_at.
 *
 * Ownership: jv arguments are consumed; jv results are the caller's; rows
 * handed to each() are its to free. Errors as in queue.h: CX_EXIT_DATAERR
 * for a command that does not validate (*problem names the rule),
 * CX_EXIT_SOME_FAILED for an unknown command or a move its state does not
 * allow, else a store failure. */
#ifndef CX_COMMANDS_H
#define CX_COMMANDS_H

#include <stdint.h>

#include <jv.h>

#include "err.h"
#include "queue.h"
#include "store.h"

/* Checks a command like a proposal (check, as queue.h says) and stores it
 * as approved, due now, requested by actor, under key; origin is "stdin" or
 * "direct" and audit_action names its audit row (command_accepted,
 * direct_publish). When the key was seen before, nothing is stored, *fresh
 * is 0 and *item is the earlier command. Its commit is light (store.h):
 * a full commit must follow before anything of it is sent. */
int cx_commands_accept(cx_store *s, jv command, const char *origin,
    const char *key, const char *actor, const char *audit_action,
    cx_queue_check *check, jv *item, int *fresh, const char **problem, cx_err *err);

int cx_commands_get(cx_store *s, int64_t id, jv *item, cx_err *err);
/* Commands by id, filtered by state and channel (NULL: any). */
int cx_commands_list(cx_store *s, const char *state, const char *channel,
    void (*each)(jv item, void *ctx), void *ctx, cx_err *err);

/* Settles a command along one of the edges above; as cx_queue_settle. */
int cx_commands_settle(cx_store *s, int64_t id, const cx_queue_outcome *o,
    jv *event, cx_err *err);

/* In the caller's transaction, as cx_queue_claim_in and cx_queue_settle_in:
 * claims up to max (<= 0: no limit) approved commands whose next attempt is
 * due, of channel (NULL: any), or only command only_id when it is > 0. */
int cx_commands_claim_in(cx_store *s, const char *channel, int64_t max,
    int64_t only_id, const char *owner, int64_t lease, jv *claimed, cx_err *err);
int cx_commands_settle_in(cx_store *s, int64_t id, const cx_queue_outcome *o,
    jv *event, cx_err *err);

/* Moves publishing commands whose lease ran out, or whose owner is gone,
 * to unknown (as cx_queue_expire_leases). */
int cx_commands_expire_leases(cx_store *s, cx_lease_gone *gone, int64_t *expired,
    cx_err *err);

/* The post.<state> line of a command (consumed): the SPEC §5 envelope with
 * dedupe_key "command:<id>:<state>", data {command_id, idempotency_key,
 * channel, kind, workspace, text, in_reply_to?, actor, provider_ref?,
 * error_code?}. */
jv cx_commands_event(jv item, const char *state, const char *actor);

#endif
