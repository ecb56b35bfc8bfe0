/* actionreq.h: the action.requested lines (SPEC §5) that cx-approve
 * (enqueue_post) and cx-publish (send_message) execute: the automation's
 * request read from its event, and the proposal or command it becomes.
 * The strings of a cx_actionreq point into the event it was read from and
 * live as long as that event; cx_actionreq_command returns a jv the caller
 * owns and consumes nothing. */
#ifndef CX_ACTIONREQ_H
#define CX_ACTIONREQ_H

#include <jv.h>

#include "err.h"

/* "integration:" + "int_" + 16 hex, and the longest command key. */
#define CX_ACTIONREQ_ACTOR_LEN 40
#define CX_ACTIONREQ_KEY_LEN 112

typedef struct {
	const char *integration_id, *tenant, *correlation_id, *action_id;
	char actor[CX_ACTIONREQ_ACTOR_LEN];   /* "integration:<integration_id>" */
	char key[CX_ACTIONREQ_KEY_LEN];       /* the command's idempotency key */
} cx_actionreq;

/* Reads v (not consumed): 1 when it is an action.requested line of action,
 * with *a filled; 0 when it is another line or another action; -1 with err
 * (CX_EXIT_DATAERR) when it is one of action that lacks what executing it
 * needs: data.integration_id ("int_" + 16 hex), data.tenant,
 * correlation_id, data.idempotency_key (strings) and data.input (an
 * object). The key is "action:<integration_id>:<idempotency_key>" (the
 * line's dedupe_key), or "action:<integration_id>:sha256:<hex>" of the
 * idempotency key when that would not be 1 to 256 visible ASCII
 * characters (a command key travels in a header). */
int cx_actionreq_read(jv v, const char *action, cx_actionreq *a, cx_err *err);

/* The line's input as a proposal or command line: its fields, with
 * correlation_id, integration_id, action_id (when the line has one) and
 * idempotency_key set to a->key. */
jv cx_actionreq_command(jv v, const cx_actionreq *a);

#endif
