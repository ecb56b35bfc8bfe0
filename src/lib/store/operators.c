/* operators.c: the operators table, role checks and their audit rows. */
#include <string.h>

#include "audit.h"
#include "clock.h"
#include "exit.h"
#include "operators.h"

static const char *const role_names[] = { "none", "member", "admin", "owner" };

const char *cx_role_name(cx_role role)
{
	return role >= CX_ROLE_NONE && role <= CX_ROLE_OWNER ? role_names[role] : "none";
}

int cx_role_parse(const char *name, cx_role *role)
{
	for (int r = CX_ROLE_MEMBER; r <= CX_ROLE_OWNER; r++) {
		if (strcmp(name, role_names[r]) == 0) {
			*role = (cx_role)r;
			return 0;
		}
	}
	return -1;
}

static const char sql_role[] = "SELECT role FROM operators WHERE name = ?1";

int cx_operators_role(cx_store *s, const char *name, cx_role *role, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_role, err);
	int rc;

	*role = CX_ROLE_NONE;
	if (!st)
		return -1;
	cx_stmt_text(st, 1, name);
	rc = cx_stmt_step(st, err);
	if (rc == 1 && cx_role_parse(cx_stmt_col_text(st, 0), role) < 0)
		*role = CX_ROLE_NONE;
	cx_stmt_reset(st);
	return rc < 0 ? -1 : 0;
}

/* Appends a refusal row; err keeps the refusal's message either way. */
static int audit_denied(cx_store *s, const char *action, const char *actor,
    const char *subject, jv detail, cx_err *err)
{
	cx_audit_entry e = { .action = action, .actor = actor, .subject = subject,
		.detail = detail };
	cx_err aerr;

	if (cx_audit_append(s, &e, &aerr) < 0) {
		*err = aerr;
		return -1;
	}
	return 0;
}

int cx_operators_check(cx_store *s, const char *actor, cx_role min,
    const char *denied_action, const char *what, const char *subject,
    cx_err *err)
{
	cx_role role;
	jv d;

	if (cx_operators_role(s, actor, &role, err) < 0)
		return -1;
	if (role >= min)
		return 0;
	d = jv_object_set(jv_object(), jv_string("what"), jv_string(what));
	d = jv_object_set(d, jv_string("needed"), jv_string(cx_role_name(min)));
	d = jv_object_set(d, jv_string("role"), jv_string(cx_role_name(role)));
	cx_err_set(err, CX_EXIT_NOPERM, "%s may not %s: %s needs the %s role%s, and %s %s",
	    actor, what, what, cx_role_name(min), min == CX_ROLE_OWNER ? "" : " or higher",
	    actor, role == CX_ROLE_NONE ? "is not an operator" : role == CX_ROLE_MEMBER ?
	    "is a member" : "is an admin");
	audit_denied(s, denied_action, actor, subject, d, err);
	return -1;
}

static const char sql_count[] =
    "SELECT count(*), coalesce(sum(role = 'owner'), 0) FROM operators";

static int count_operators(cx_store *s, int64_t *all, int64_t *owners, cx_err *err);

int cx_operators_count(cx_store *s, int64_t *n, cx_err *err)
{
	int64_t owners = 0;

	*n = 0;
	return count_operators(s, n, &owners, err);
}

static int count_operators(cx_store *s, int64_t *all, int64_t *owners, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_count, err);
	int rc;

	if (!st)
		return -1;
	rc = cx_stmt_step(st, err);
	if (rc == 1) {
		*all = cx_stmt_col_int(st, 0);
		*owners = cx_stmt_col_int(st, 1);
	}
	cx_stmt_reset(st);
	return rc < 0 ? -1 : 0;
}

/* A Unix login: letters, digits, . _ - @ $, not starting with '-'. */
static int name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 64 || name[0] == '-')
		return 0;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-@$") == n;
}

int cx_operators_begin_admin(cx_store *s, const char *actor,
    const char *denied_action, const char *what, const char *subject,
    cx_err *err)
{
	int64_t operators = 0;

	if (cx_store_begin(s, err) < 0)
		return -1;
	if (cx_operators_count(s, &operators, err) < 0) {
		cx_store_rollback(s);
		return -1;
	}
	if (operators > 0 && cx_operators_check(s, actor, CX_ROLE_ADMIN,
	    denied_action, what, subject, err) < 0)
		return cx_operators_end_refused(s, err);
	return 0;
}

int cx_operators_end_refused(cx_store *s, cx_err *err)
{
	cx_err keep = *err;

	if (err->code != CX_EXIT_NOPERM || cx_store_commit(s, err) < 0) {
		cx_store_rollback(s);
		return -1;
	}
	*err = keep;
	return -1;
}

/* Refuses a change to the operators (err says why): audited, committed. */
static int refuse(cx_store *s, const char *actor, const char *name,
    const char *what, cx_err *err)
{
	jv d = jv_object_set(jv_object(), jv_string("what"), jv_string(what));

	d = jv_object_set(d, jv_string("reason"), jv_string(err->msg));
	audit_denied(s, "operator_change_denied", actor, name, d, err);
	return cx_operators_end_refused(s, err);
}

static const char sql_upsert[] =
    "INSERT INTO operators (name, role, added_by, added_at) VALUES (?1, ?2, ?3, ?4)"
    " ON CONFLICT (name) DO UPDATE SET role = excluded.role";

int cx_operators_add(cx_store *s, const char *actor, const char *name,
    cx_role role, int *changed, cx_err *err)
{
	cx_audit_entry e = { .actor = actor, .subject = name };
	int64_t all = 0, owners = 0;
	cx_role old;
	cx_stmt *st;

	if (changed)
		*changed = 0;
	if (!name_ok(name))
		return cx_err_set(err, CX_EXIT_USAGE,
		    "'%s' is not a Unix login name", name);
	if (role < CX_ROLE_MEMBER || role > CX_ROLE_OWNER)
		return cx_err_set(err, CX_EXIT_USAGE, "the role is owner, admin or member");
	if (cx_store_begin(s, err) < 0)
		return -1;
	if (count_operators(s, &all, &owners, err) < 0 ||
	    cx_operators_role(s, name, &old, err) < 0)
		goto fail;
	if (all == 0 && (strcmp(name, actor) != 0 || role != CX_ROLE_OWNER)) {
		cx_err_set(err, CX_EXIT_NOPERM,
		    "there are no operators yet: the first one must be you, the Unix "
		    "user running this (%s), as owner: operators add %s --role owner",
		    actor, actor);
		return refuse(s, actor, name, "operators add", err);
	}
	if (all > 0 && cx_operators_check(s, actor, CX_ROLE_OWNER,
	    "operator_change_denied", "manage operators", name, err) < 0)
		return cx_operators_end_refused(s, err);
	if (old == role)
		return cx_store_commit(s, err);
	if (old == CX_ROLE_OWNER && owners == 1) {
		cx_err_set(err, CX_EXIT_NOPERM, "%s is the only owner: make another "
		    "operator owner first, so the queue is never left without one", name);
		return refuse(s, actor, name, "operators add", err);
	}
	if (!(st = cx_store_prepare(s, sql_upsert, err)))
		goto fail;
	cx_stmt_text(st, 1, name);
	cx_stmt_text(st, 2, cx_role_name(role));
	cx_stmt_text(st, 3, actor);
	cx_stmt_int(st, 4, cx_clock_now());
	if (cx_stmt_run(st, err) < 0)
		goto fail;
	e.action = old == CX_ROLE_NONE ? "operator_added" : "operator_role_changed";
	e.detail = jv_object_set(jv_object(), jv_string("role"),
	    jv_string(cx_role_name(role)));
	if (old != CX_ROLE_NONE)
		e.detail = jv_object_set(e.detail, jv_string("previous_role"),
		    jv_string(cx_role_name(old)));
	if (cx_audit_append(s, &e, err) < 0)
		goto fail;
	if (changed)
		*changed = 1;
	return cx_store_commit(s, err);
fail:
	cx_store_rollback(s);
	return -1;
}

static const char sql_delete[] = "DELETE FROM operators WHERE name = ?1";

int cx_operators_remove(cx_store *s, const char *actor, const char *name,
    cx_err *err)
{
	cx_audit_entry e = { .action = "operator_removed", .actor = actor,
		.subject = name };
	int64_t all = 0, owners = 0;
	cx_role old;
	cx_stmt *st;

	if (cx_store_begin(s, err) < 0)
		return -1;
	if (count_operators(s, &all, &owners, err) < 0 ||
	    cx_operators_role(s, name, &old, err) < 0)
		goto fail;
	if (cx_operators_check(s, actor, CX_ROLE_OWNER, "operator_change_denied",
	    "manage operators", name, err) < 0)
		return cx_operators_end_refused(s, err);
	if (old == CX_ROLE_NONE) {
		cx_err_set(err, CX_EXIT_SOME_FAILED, "%s is not an operator", name);
		goto fail;
	}
	if (old == CX_ROLE_OWNER && owners == 1) {
		cx_err_set(err, CX_EXIT_NOPERM, "%s is the only owner: make another "
		    "operator owner first, so the queue is never left without one", name);
		return refuse(s, actor, name, "operators remove", err);
	}
	if (!(st = cx_store_prepare(s, sql_delete, err)))
		goto fail;
	cx_stmt_text(st, 1, name);
	if (cx_stmt_run(st, err) < 0)
		goto fail;
	e.detail = jv_object_set(jv_object(), jv_string("role"),
	    jv_string(cx_role_name(old)));
	if (cx_audit_append(s, &e, err) < 0)
		goto fail;
	return cx_store_commit(s, err);
fail:
	cx_store_rollback(s);
	return -1;
}

static const char sql_list[] =
    "SELECT name, role, added_by, added_at FROM operators ORDER BY name";

int cx_operators_list(cx_store *s, void (*each)(jv row, void *ctx), void *ctx,
    cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_list, err);
	char ts[CX_RFC3339_LEN];
	int rc;

	if (!st)
		return -1;
	while ((rc = cx_stmt_step(st, err)) == 1) {
		jv row = jv_object();

		cx_clock_rfc3339(cx_stmt_col_int(st, 3), -1, ts);
		row = jv_object_set(row, jv_string("name"), jv_string(cx_stmt_col_text(st, 0)));
		row = jv_object_set(row, jv_string("role"), jv_string(cx_stmt_col_text(st, 1)));
		row = jv_object_set(row, jv_string("added_by"), jv_string(cx_stmt_col_text(st, 2)));
		row = jv_object_set(row, jv_string("added_at"), jv_string(ts));
		each(row, ctx);
	}
	cx_stmt_reset(st);
	return rc;
}
