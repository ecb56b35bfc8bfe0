/* operators.h: who may decide on the queue (SPEC §4 Identity): Unix logins
 * with a role. Owners manage operators and decide, admins decide, members
 * propose. Every change and every refusal is audited in its own
 * transaction. Names are the caller's strings; rows handed to each() are
 * its to free. */
#ifndef CX_OPERATORS_H
#define CX_OPERATORS_H

#include <jv.h>

#include "err.h"
#include "store.h"

/* Ordered: a role may do what every lower role may. */
typedef enum {
	CX_ROLE_NONE = 0,   /* not an operator */
	CX_ROLE_MEMBER,
	CX_ROLE_ADMIN,
	CX_ROLE_OWNER,
} cx_role;

const char *cx_role_name(cx_role role);
/* "owner", "admin" or "member"; -1 for anything else. */
int cx_role_parse(const char *name, cx_role *role);

/* The role of name (CX_ROLE_NONE when it is not an operator). */
int cx_operators_role(cx_store *s, const char *name, cx_role *role, cx_err *err);

/* How many operators there are. */
int cx_operators_count(cx_store *s, int64_t *n, cx_err *err);

/* Whether actor has at least role min, inside the caller's transaction.
 * 0 when allowed; otherwise an audit row `denied_action` (actor, subject,
 * the role needed and held) is appended and -1 returned with err
 * (CX_EXIT_NOPERM). The caller commits so the refusal stays recorded. */
int cx_operators_check(cx_store *s, const char *actor, cx_role min,
    const char *denied_action, const char *what, const char *subject,
    cx_err *err);

/* Begins a transaction for a change owners and admins make: on a state
 * file nobody governs yet (no operators) whoever runs it may; after that
 * actor must be an admin or owner (as cx_operators_check; the refusal is
 * committed). 0 with the transaction open, or -1 with it ended. */
int cx_operators_begin_admin(cx_store *s, const char *actor,
    const char *denied_action, const char *what, const char *subject,
    cx_err *err);

/* Ends the caller's transaction after a refusal (err CX_EXIT_NOPERM): the
 * refusal's audit row is committed and err kept. Any other error rolls
 * back. Returns -1. */
int cx_operators_end_refused(cx_store *s, cx_err *err);

/* Adds name with role, or changes its role, as actor. On a state file
 * without operators the first one must be actor itself, as owner; after
 * that only owners may, and the last owner cannot be demoted. Refusals are
 * CX_EXIT_NOPERM, audited as operator_change_denied. *changed (may be NULL)
 * is 0 when name already had that role. */
int cx_operators_add(cx_store *s, const char *actor, const char *name,
    cx_role role, int *changed, cx_err *err);
/* Removes name, as actor (an owner). The last owner cannot be removed.
 * An unknown name is CX_EXIT_SOME_FAILED. */
int cx_operators_remove(cx_store *s, const char *actor, const char *name,
    cx_err *err);
/* Every operator as {name, role, added_by, added_at}, by name. */
int cx_operators_list(cx_store *s, void (*each)(jv row, void *ctx), void *ctx,
    cx_err *err);

#endif
