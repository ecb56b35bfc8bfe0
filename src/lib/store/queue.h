/* queue.h: the governed queue of outbound posts (SPEC §6 cx-approve and
 * cx-publish). An item is proposed (pending), decided by an owner or admin,
 * then claimed and settled by cx-publish:
 *
 *   pending    -> approved | rejected                      cx_queue_decide
 *   approved   -> publishing (claimed, with a lease)       cx_queue_claim_in
 *   publishing -> published | failed | dead | unknown
 *                 | approved (to be retried)               cx_queue_settle(_in)
 *   publishing, lease run out -> unknown                   cx_queue_expire_leases
 *   unknown    -> published | approved (reconciled)        cx_queue_settle
 *   dead       -> approved (brought back)                  cx_queue_settle
 *
 * Nothing else moves an item, and the state file refuses any other move.
 * Each change is one transaction together with its audit row (subject
 * "queue:<id>", the item's correlation id) and its counter
 * (cx_queue_items_total{channel,state} for proposals and decisions,
 * cx_publish_total{channel,result} for outcomes).
 *
 * Items are jv objects: id, state, channel, kind, workspace, account,
 * tenant, text, text_sha256, in_reply_to, meta (the proposal's other fields), correlation_id,
 * proposed_by, proposed_at, approved_by, rejected_by, decided_at, note,
 * reason, attempts, next_attempt_at, lease_owner, lease_expires_at,
 * provider_ref, error_code, error_detail, published_at, updated_at; times
 * in RFC 3339, null where unset.
 *
 * Ownership: jv arguments are consumed; jv results (*item, *event) are the
 * caller's; rows handed to each() are its to free. Errors: err->code is
 * CX_EXIT_DATAERR for a proposal or text that does not pass validation
 * (*problem then names the rule, a static string), CX_EXIT_USAGE for a bad
 * argument, CX_EXIT_NOPERM for a role refusal (recorded as an audit row),
 * CX_EXIT_SOME_FAILED for an unknown item or one whose state does not allow
 * the change (nothing changed), else a store failure. */
#ifndef CX_QUEUE_H
#define CX_QUEUE_H

#include <stdint.h>

#include <jv.h>

#include "err.h"
#include "outbound.h"
#include "store.h"

/* Whether s names a queue state. */
int cx_queue_state_ok(const char *s);

/* What a check makes of a proposal that passes. */
typedef struct {
	long length, limit;         /* the text's length as its channel counts it,
	                               and the limit of its kind */
	const char *account;        /* the account it sends from, when it names one
	                               (lives as long as the proposal) */
	const char *kind;           /* its kind: the one it names, or its channel's
	                               only kind when it names none (static) */
} cx_queue_checked;

/* How a proposal (not consumed) is checked: by the channel it names,
 * which the store does not know; the tools hand in the channel registry's
 * cx_channels_check. 0 with *out filled, or -1 with *problem and err. */
typedef int cx_queue_check(jv proposal, cx_queue_checked *out, const char **problem,
    cx_err *err);

/* The first rules of every check, which are the store's: a proposal is an
 * object whose fields that become columns (channel, kind, workspace, text,
 * in_reply_to, correlation_id, account) are strings when given. */
int cx_queue_check_shape(jv proposal, const char **problem, cx_err *err);

/* Checks (check) and stores a proposal as pending, proposed by actor: its
 * correlation_id is kept, else a new one is made; the text is checked and
 * stored in NFC. *event gets the post.proposed line. */
int cx_queue_enqueue(cx_store *s, jv proposal, const char *actor, cx_queue_check *check,
    jv *event, const char **problem, cx_err *err);

/* As cx_queue_enqueue, for a proposal that may come again (an automation's
 * action.requested line fed twice): p names its correlation_id and an
 * idempotency_key (kept in meta). When actor proposed an item with both
 * before, nothing is stored, *seen gets its id and *event is null; else
 * *seen is 0. */
int cx_queue_enqueue_once(cx_store *s, jv proposal, const char *actor,
    cx_queue_check *check, jv *event, int64_t *seen, const char **problem, cx_err *err);

/* One item. */
int cx_queue_get(cx_store *s, int64_t id, jv *item, cx_err *err);
/* Items by id, filtered by state and channel (NULL: any). */
int cx_queue_list(cx_store *s, const char *state, const char *channel,
    void (*each)(jv item, void *ctx), void *ctx, cx_err *err);
/* The versions of an item's text, oldest first: {sha256, action (proposed
 * or edited), actor, at}. */
int cx_queue_history(cx_store *s, int64_t id, void (*each)(jv row, void *ctx),
    void *ctx, cx_err *err);

/* Approves (with an optional note) or rejects (with a required reason) a
 * pending item, as actor, who must be an owner or admin (else an
 * approval_denied row). *event gets the post.approved or post.rejected
 * line. */
int cx_queue_decide(cx_store *s, int64_t id, const char *actor, int approve,
    const char *text, jv *event, cx_err *err);

/* Replaces the text of a pending item, as an owner or admin, after the same
 * check as a proposal; the audit row post_edited and the history keep the
 * hashes of both versions. *item (may be NULL) gets the item. */
int cx_queue_edit(cx_store *s, int64_t id, const char *actor, const char *text,
    cx_queue_check *check, jv *item, const char **problem, cx_err *err);

/* For cx-publish, inside a transaction it began (cx_store_begin) and
 * commits, so that one commit settles and claims many items (a group
 * commit). Claims up to max (<= 0: no limit) approved items whose next
 * attempt is due, of channel (NULL: any), oldest due first: each becomes
 * publishing, leased to owner for lease seconds, attempts + 1, audited as
 * publish_attempt, and is appended to *claimed; none may be sent before
 * that transaction commits. After an error the caller rolls back. */
int cx_queue_claim_in(cx_store *s, const char *channel, int64_t max,
    const char *owner, int64_t lease, jv *claimed, cx_err *err);

/* Where an item goes after a claim, a reconciliation or a revival
 * (outbound.h). */
typedef cx_outbound_outcome cx_queue_outcome;

/* Settles an item along one of the edges above (publishing, unknown or
 * dead items only); counted in cx_publish_total with result published,
 * failed, dead, unknown or retried (back to approved from publishing or
 * unknown). *event (may be NULL) gets the post.<state> line, or null for
 * approved. */
int cx_queue_settle(cx_store *s, int64_t id, const cx_queue_outcome *o,
    jv *event, cx_err *err);
/* As cx_queue_settle, in the caller's transaction (see cx_queue_claim_in).
 * A settle refused (CX_EXIT_SOME_FAILED: unknown item, a move its state
 * does not allow, a lease that is not the caller's; CX_EXIT_USAGE: not a
 * state) wrote nothing, and the transaction may go on; after any other
 * error the caller rolls back. */
int cx_queue_settle_in(cx_store *s, int64_t id, const cx_queue_outcome *o,
    jv *event, cx_err *err);

/* Moves every publishing item whose lease ran out, or whose owner gone
 * (may be NULL) says is gone, to unknown (error_code LEASE_EXPIRED): it may
 * or may not have been sent, so it is reconciled, never resent blindly.
 * *expired gets the count. */
int cx_queue_expire_leases(cx_store *s, cx_lease_gone *gone, int64_t *expired, cx_err *err);

/* The post.<state> event line of an item (consumed): SPEC §5 envelope,
 * dedupe_key "queue:<id>:<state>", occurred_at the item's last change,
 * data {queue_id, channel, kind, workspace, text, in_reply_to?, actor,
 * note?, reason?, provider_ref?, error_code?}. */
jv cx_queue_event(jv item, const char *state, const char *actor);

#endif
