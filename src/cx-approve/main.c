/* cx-approve: the governed queue. Subcommands enqueue, list, show,
 * approve, reject and operators are here; with none, on a terminal, the
 * interactive review (review.c). Nothing reaches a provider from here:
 * cx-publish sends what was approved. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "approve.h"
#include "channels.h"
#include "config.h"
#include "configfile.h"
#include "exit.h"
#include "identity.h"
#include "json.h"
#include "log.h"
#include "ndjson.h"
#include "operators.h"
#include "opts.h"
#include "queue.h"
#include "store.h"
#include "xalloc.h"

enum { O_DB = 1, O_CONFIG, O_JSON, O_TABLE, O_STATE, O_CHANNEL, O_NOTE,
	O_REASON, O_ROLE, O_MAX_LINE };

typedef struct {
	const char *db, *config, *state, *channel, *note, *reason, *role;
	long long max_line;
	int table;
} conf;

static int on_option(int id, const char *arg, void *ctx, cx_err *err)
{
	conf *c = ctx;

	switch (id) {
	case O_DB: c->db = arg; break;
	case O_CONFIG: c->config = arg; break;
	case O_JSON: c->table = 0; break;
	case O_TABLE: c->table = 1; break;
	case O_STATE: c->state = arg; break;
	case O_CHANNEL: c->channel = arg; break;
	case O_NOTE: c->note = arg; break;
	case O_REASON: c->reason = arg; break;
	case O_ROLE: c->role = arg; break;
	case O_MAX_LINE: return cx_opts_uint("max-line", arg, &c->max_line, err);
	}
	return 0;
}

#define OPT_CONFIG { "config", 0, O_CONFIG, "FILE", "load KEY=value settings from FILE" }
#define OPT_DB { "db", 0, O_DB, "PATH", "state file (default $CX_DB, then $XDG_STATE_HOME/cx/cx.db)" }
#define OPT_JSON { "json", 0, O_JSON, NULL, "NDJSON output (the default when stdout is not a terminal)" }
#define OPT_TABLE { "table", 0, O_TABLE, NULL, "output for people (the default on a terminal)" }
#define OPT_END { NULL, 0, 0, NULL, NULL }

static const cx_opt review_opts[] = { OPT_CONFIG, OPT_DB, OPT_END };
static const cx_opt enqueue_opts[] = {
	OPT_CONFIG, OPT_DB,
	{ "max-line", 0, O_MAX_LINE, "BYTES", "longest accepted line (default 1048576)" },
	OPT_END,
};
static const cx_opt list_opts[] = {
	{ "channel", 0, O_CHANNEL, "C", "only items of channel C" },
	OPT_CONFIG, OPT_DB, OPT_JSON,
	{ "state", 0, O_STATE, "S", "only items in state S (pending, approved, rejected, ...)" },
	OPT_TABLE, OPT_END,
};
static const cx_opt show_opts[] = { OPT_CONFIG, OPT_DB, OPT_JSON, OPT_TABLE, OPT_END };
static const cx_opt approve_opts[] = {
	OPT_CONFIG, OPT_DB,
	{ "note", 0, O_NOTE, "TEXT", "a note kept with the approval" },
	OPT_END,
};
static const cx_opt reject_opts[] = {
	OPT_CONFIG, OPT_DB,
	{ "reason", 0, O_REASON, "TEXT", "why it is rejected (required)" },
	OPT_END,
};
static const cx_opt operators_opts[] = { OPT_CONFIG, OPT_DB, OPT_END };
static const cx_opt operators_add_opts[] = {
	OPT_CONFIG, OPT_DB,
	{ "role", 0, O_ROLE, "ROLE", "owner, admin or member (required)" },
	OPT_END,
};
static const cx_opt operators_list_opts[] = { OPT_CONFIG, OPT_DB, OPT_JSON, OPT_TABLE, OPT_END };

/* The synopsis of each command, after its name; the top-level usage is
 * all of them, as in the manual's SYNOPSIS. */
#define ARGS_ENQUEUE "[--max-line BYTES] [--db PATH] < proposals.ndjson"
#define ARGS_LIST "[--state S] [--channel C] [--db PATH] [--json | --table]"
#define ARGS_SHOW "ID ... [--db PATH] [--json | --table]"
#define ARGS_APPROVE "ID ... [--note TEXT] [--db PATH]"
#define ARGS_REJECT "ID ... --reason TEXT [--db PATH]"
#define ARGS_OP_ADD "NAME --role owner|admin|member [--db PATH]"
#define ARGS_OP_LIST "[--db PATH] [--json | --table]"
#define ARGS_OP_REMOVE "NAME [--db PATH]"
#define NEXT "\n       cx-approve "
#define USAGE_OPERATORS "add " ARGS_OP_ADD NEXT "operators list " ARGS_OP_LIST \
	NEXT "operators remove " ARGS_OP_REMOVE

static const cx_cmd cmd_review = { "cx-approve",
	"[--db PATH] [--config FILE]" NEXT "enqueue " ARGS_ENQUEUE NEXT "list " ARGS_LIST
	NEXT "show " ARGS_SHOW NEXT "approve " ARGS_APPROVE NEXT "reject " ARGS_REJECT
	NEXT "operators " USAGE_OPERATORS,
	"The governed queue of outbound posts. Without a command, on a terminal:\n"
	"review the pending items one by one (a approve, r reject, e edit, s skip,\n"
	"q quit, ? help).",
	review_opts };
static const cx_cmd cmd_enqueue = { "cx-approve enqueue", ARGS_ENQUEUE,
	"Queue the proposals read as NDJSON from stdin as pending; print post.proposed lines.",
	enqueue_opts };
static const cx_cmd cmd_list = { "cx-approve list", ARGS_LIST,
	"List queue items, oldest first.", list_opts };
static const cx_cmd cmd_show = { "cx-approve show", ARGS_SHOW,
	"Show queue items in full, with the history of their text.", show_opts };
static const cx_cmd cmd_approve = { "cx-approve approve", ARGS_APPROVE,
	"Approve pending items (owners and admins); print post.approved lines.",
	approve_opts };
static const cx_cmd cmd_reject = { "cx-approve reject", ARGS_REJECT,
	"Reject pending items (owners and admins); print post.rejected lines.",
	reject_opts };
static const cx_cmd cmd_operators = { "cx-approve operators", USAGE_OPERATORS,
	"Manage who may decide: owners manage operators and decide, admins decide,\n"
	"members propose.", operators_opts };
static const cx_cmd cmd_op_add = { "cx-approve operators add", ARGS_OP_ADD,
	"Add an operator or change its role (owners only; the first is yourself, as owner).",
	operators_add_opts };
static const cx_cmd cmd_op_list = { "cx-approve operators list", ARGS_OP_LIST,
	"List the operators and their roles.", operators_list_opts };
static const cx_cmd cmd_op_remove = { "cx-approve operators remove", ARGS_OP_REMOVE,
	"Remove an operator (owners only; never the last owner).", operators_opts };

/* Parses options and opens the store. Returns -1 to go on (*first is the
 * first operand), else the exit status. */
static int setup(const cx_cmd *cmd, int argc, char **argv, conf *c,
    int min_operands, int max_operands, int *first, cx_store **s)
{
	cx_err err = { 0, "" };
	int rc;

	c->table = isatty(1);
	c->max_line = CX_NDJSON_MAX_LINE_DEFAULT;
	rc = cx_opts_start(cmd, argc, argv, on_option, c, max_operands, NULL, first);
	if (rc >= 0)
		return rc;
	if (argc - *first < min_operands)
		return cx_opts_usage_error(cmd, NULL, "%s", min_operands > 1 ?
		    "missing operands" : "missing operand");
	if (cx_config_load(c->config, &err) < 0 || cx_store_open(c->db, s, &err) < 0)
		return cx_log_fail(&err);
	cx_ndjson_out_init();
	return -1;
}

/* Queue ids from operands: positive integers, all or nothing. */
static int parse_ids(const cx_cmd *cmd, int argc, char **argv, int first,
    int64_t **ids)
{
	int n = argc - first;

	*ids = cx_xcalloc((size_t)n, sizeof **ids);
	for (int i = 0; i < n; i++) {
		const char *a = argv[first + i];
		char *end;
		long long v;

		errno = 0;
		v = strtoll(a, &end, 10);
		if (errno || end == a || *end || v <= 0) {
			free(*ids);
			return cx_opts_usage_error(cmd, NULL, "'%s' is not a queue id", a);
		}
		(*ids)[i] = v;
	}
	return -1;
}

/* --- enqueue -------------------------------------------------------------- */

/* Canonical events (they carry "v" and "type") pass through unchanged,
 * except an automation's enqueue_post (action.c): everything else on stdin
 * is a proposal. */
static int is_event(jv v)
{
	jv version = jv_object_get(jv_copy(v), jv_string("v"));
	int event = jv_get_kind(version) == JV_KIND_NUMBER && cx_json_str(v, "type");

	jv_free(version);
	return event;
}

static int enqueue(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	cx_ndjson_reader *r;
	cx_ndjson_line line;
	const char *actor = cx_identity_user();
	long bad = 0, refused = 0;
	int first, rc = setup(&cmd_enqueue, argc, argv, &c, 0, 0, &first, &s);
	int status = CX_EXIT_OK;

	if (rc >= 0)
		return rc;
	r = cx_ndjson_open(0, (size_t)c.max_line);
	while ((rc = cx_ndjson_next(r, &line)) > 0) {
		const char *problem = NULL;
		jv event = jv_null();
		int took;

		if (is_event(line.value)) {
			/* an automation's enqueue_post is a proposal; other events pass */
			took = approve_action(s, line.value, line.lineno, &event, &problem, &err);
			if (took == 0)
				cx_ndjson_write_raw(line.raw, line.len);
			jv_free(line.value);
		} else {
			took = cx_queue_enqueue(s, line.value, actor, cx_channels_check, &event,
			    &problem, &err) == 0 ? 1 : -1;
		}
		if (took > 0 && jv_get_kind(event) != JV_KIND_NULL) {
			cx_ndjson_write(event);
		} else if (took >= 0) {
			jv_free(event);
		} else if (err.code == CX_EXIT_DATAERR || err.code == CX_EXIT_NOPERM) {
			jv f = jv_object_set(jv_object(), jv_string("line"),
			    jv_number((double)line.lineno));

			f = jv_object_set(f, jv_string("error_code"),
			    jv_string(problem ? problem : "invalid"));
			cx_log(CX_LOG_ERROR, f, "line %ld: %s; nothing queued for this line",
			    line.lineno, err.msg);
			*(err.code == CX_EXIT_NOPERM ? &refused : &bad) += 1;
		} else {
			status = cx_log_fail(&err);
			break;
		}
		if (!cx_ndjson_ready(r) && cx_ndjson_flush() < 0)
			break;
	}
	if (rc < 0 && status == CX_EXIT_OK)
		status = cx_log_fail(&(cx_err){ CX_EXIT_TEMPFAIL, "read error on stdin" });
	cx_ndjson_flush();
	if (status == CX_EXIT_OK && refused > 0)
		status = CX_EXIT_NOPERM;
	else if (status == CX_EXIT_OK && (bad > 0 || cx_ndjson_rejected(r) > 0))
		status = CX_EXIT_DATAERR;
	cx_ndjson_close(r);
	cx_store_close(s);
	return status;
}

/* --- list and show -------------------------------------------------------- */

/* Writes at most max code points of s on one line: control characters as
 * spaces, "..." when cut. */
static void print_excerpt(FILE *out, const char *s, size_t max)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p & 0xC0) != 0x80 && ++n > max) {
			fputs("...", out);
			return;
		}
		fputc(*p < 0x20 || *p == 0x7F ? ' ' : *p, out);
	}
}

static void print_row(jv item, void *ctx)
{
	const conf *c = ctx;
	char len[32];

	item = approve_item_measured(item);
	if (!c->table) {
		cx_ndjson_write(item);
		return;
	}
	snprintf(len, sizeof len, "%ld/%ld", approve_num(item, "length"),
	    approve_num(item, "limit"));
	printf("%-6ld %-10s %-9s %-13s %-12s %-9s %-12s %-20s ", approve_num(item, "id"),
	    approve_str(item, "state", "-"), approve_str(item, "channel", "-"),
	    approve_str(item, "kind", "-"), approve_str(item, "workspace", "-"), len,
	    approve_str(item, "proposed_by", "-"),
	    approve_str(item, "proposed_at", "-"));
	print_excerpt(stdout, approve_str(item, "text", ""), 40);
	putchar('\n');
	jv_free(item);
}

static int list(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	int first, rc = setup(&cmd_list, argc, argv, &c, 0, 0, &first, &s);

	if (rc >= 0)
		return rc;
	if (c.state && !cx_queue_state_ok(c.state)) {
		cx_store_close(s);
		return cx_opts_usage_error(&cmd_list, NULL, "'%s' is not a state (pending, "
		    "approved, rejected, publishing, published, failed, dead, unknown)", c.state);
	}
	if (c.table)
		printf("%-6s %-10s %-9s %-13s %-12s %-9s %-12s %-20s %s\n", "ID", "STATE",
		    "CHANNEL", "KIND", "WORKSPACE", "LENGTH", "PROPOSED BY", "PROPOSED AT",
		    "TEXT");
	rc = cx_queue_list(s, c.state, c.channel, print_row, &c, &err);
	cx_ndjson_flush();
	cx_store_close(s);
	return rc < 0 ? cx_log_fail(&err) : CX_EXIT_OK;
}

static void add_history(jv row, void *ctx)
{
	jv *history = ctx;

	*history = jv_array_append(*history, row);
}

static void print_history_row(jv row, void *ctx)
{
	FILE *out = ctx;

	fprintf(out, "  %s  %-8s by %-12s sha256 %s\n", approve_str(row, "at", "-"),
	    approve_str(row, "action", "-"), approve_str(row, "actor", "-"),
	    approve_str(row, "sha256", "-"));
	jv_free(row);
}

static void print_field(jv item, const char *label, const char *key)
{
	const char *v = cx_json_str(item, key);

	if (v)
		printf("%-16s %s\n", label, v);
}

/* Runs one() for every id, going on past an id that fails with 65 and
 * stopping at any other failure: 0, 65 when some failed, or the status that
 * stopped the run. Frees ids and closes s. */
static int each_id(cx_store *s, int64_t *ids, int n,
    int (*one)(cx_store *s, int64_t id, void *ctx, cx_err *err), void *ctx)
{
	cx_err err = { 0, "" };
	int status = CX_EXIT_OK;

	for (int i = 0; i < n; i++) {
		int rc;

		if (one(s, ids[i], ctx, &err) == 0)
			continue;
		rc = cx_log_fail(&err);
		if (rc != CX_EXIT_SOME_FAILED) {
			status = rc;
			break;
		}
		status = CX_EXIT_SOME_FAILED;
	}
	cx_ndjson_flush();
	free(ids);
	cx_store_close(s);
	return status;
}

static int show_one(cx_store *s, int64_t id, void *ctx, cx_err *err)
{
	const conf *c = ctx;
	jv item, history = jv_array();

	if (cx_queue_get(s, id, &item, err) < 0) {
		jv_free(history);
		return -1;
	}
	if (cx_queue_history(s, id, add_history, &history, err) < 0) {
		jv_free(item);
		jv_free(history);
		return -1;
	}
	item = approve_item_measured(item);
	if (!c->table) {
		cx_ndjson_write(jv_object_set(item, jv_string("history"), history));
		return 0;
	}
	approve_print_item(stdout, item);
	printf("\n");
	print_field(item, "approved by", "approved_by");
	print_field(item, "rejected by", "rejected_by");
	print_field(item, "decided at", "decided_at");
	print_field(item, "note", "note");
	print_field(item, "reason", "reason");
	if (approve_num(item, "attempts") > 0)
		printf("%-16s %ld\n", "attempts", approve_num(item, "attempts"));
	print_field(item, "next attempt", "next_attempt_at");
	print_field(item, "lease owner", "lease_owner");
	print_field(item, "lease expires", "lease_expires_at");
	print_field(item, "provider ref", "provider_ref");
	print_field(item, "error", "error_code");
	print_field(item, "error detail", "error_detail");
	print_field(item, "published at", "published_at");
	print_field(item, "text sha256", "text_sha256");
	printf("history:\n");
	jv_array_foreach(history, i, row)
		print_history_row(row, stdout);
	printf("\n");
	jv_free(history);
	jv_free(item);
	return 0;
}

static int show(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	int64_t *ids;
	int first;
	int rc = setup(&cmd_show, argc, argv, &c, 1, -1, &first, &s);

	if (rc >= 0)
		return rc;
	if ((rc = parse_ids(&cmd_show, argc, argv, first, &ids)) >= 0) {
		cx_store_close(s);
		return rc;
	}
	return each_id(s, ids, argc - first, show_one, &c);
}

/* --- approve and reject --------------------------------------------------- */

typedef struct {
	const char *actor, *words;   /* words: the note or the reason */
	int approve;
} decision;

static int decide_one(cx_store *s, int64_t id, void *ctx, cx_err *err)
{
	const decision *d = ctx;
	jv event;

	if (cx_queue_decide(s, id, d->actor, d->approve, d->words, &event, err) != 0)
		return -1;
	cx_ndjson_write(event);
	cx_ndjson_flush();
	return 0;
}

static int decide(int argc, char **argv, int approve)
{
	const cx_cmd *cmd = approve ? &cmd_approve : &cmd_reject;
	conf c = { 0 };
	cx_store *s = NULL;
	decision d = { cx_identity_user(), NULL, approve };
	int64_t *ids;
	int first;
	int rc = setup(cmd, argc, argv, &c, 1, -1, &first, &s);

	if (rc >= 0)
		return rc;
	if (!approve && (!c.reason || !*c.reason)) {
		cx_store_close(s);
		return cx_opts_usage_error(cmd, NULL, "reject needs --reason TEXT");
	}
	if ((rc = parse_ids(cmd, argc, argv, first, &ids)) >= 0) {
		cx_store_close(s);
		return rc;
	}
	d.words = approve ? c.note : c.reason;
	return each_id(s, ids, argc - first, decide_one, &d);
}

static int approve_cmd(int argc, char **argv)
{
	return decide(argc, argv, 1);
}

static int reject_cmd(int argc, char **argv)
{
	return decide(argc, argv, 0);
}

/* --- operators ------------------------------------------------------------ */

static void print_operator(jv row, void *ctx)
{
	const conf *c = ctx;

	if (!c->table) {
		cx_ndjson_write(row);
		return;
	}
	printf("%-16s %-8s %-16s %s\n", approve_str(row, "name", "-"),
	    approve_str(row, "role", "-"), approve_str(row, "added_by", "-"),
	    approve_str(row, "added_at", "-"));
	jv_free(row);
}

static int operators_add(int argc, char **argv)
{
	const char *actor = cx_identity_user();
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	cx_role role;
	int first, changed, rc = setup(&cmd_op_add, argc, argv, &c, 1, 1, &first, &s);

	if (rc >= 0)
		return rc;
	if (!c.role || cx_role_parse(c.role, &role) < 0) {
		cx_store_close(s);
		return cx_opts_usage_error(&cmd_op_add, NULL, "operators add needs --role "
		    "owner, admin or member");
	}
	rc = cx_operators_add(s, actor, argv[first], role, &changed, &err);
	cx_store_close(s);
	if (rc < 0)
		return cx_log_fail(&err);
	cx_log_info("%s is %s %s", argv[first], changed ? "now" : "already",
	    cx_role_name(role));
	return CX_EXIT_OK;
}

static int operators_list(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	int first, rc = setup(&cmd_op_list, argc, argv, &c, 0, 0, &first, &s);

	if (rc >= 0)
		return rc;
	if (c.table)
		printf("%-16s %-8s %-16s %s\n", "NAME", "ROLE", "ADDED BY", "ADDED AT");
	rc = cx_operators_list(s, print_operator, &c, &err);
	cx_ndjson_flush();
	cx_store_close(s);
	return rc < 0 ? cx_log_fail(&err) : CX_EXIT_OK;
}

static int operators_remove(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	int first, rc = setup(&cmd_op_remove, argc, argv, &c, 1, 1, &first, &s);

	if (rc >= 0)
		return rc;
	rc = cx_operators_remove(s, cx_identity_user(), argv[first], &err);
	cx_store_close(s);
	if (rc < 0)
		return cx_log_fail(&err);
	cx_log_info("%s is no longer an operator", argv[first]);
	return CX_EXIT_OK;
}

typedef struct {
	const char *name;
	int (*run)(int, char **);
	const char *about;
} subcommand;

static int run_subcommand(const subcommand *subs, const cx_cmd *parent, int argc,
    char **argv);

static const subcommand operator_subs[] = {
	{ "add", operators_add, "add an operator or change its role" },
	{ "list", operators_list, "list the operators" },
	{ "remove", operators_remove, "remove an operator" },
	{ NULL, NULL, NULL },
};

static int operators(int argc, char **argv)
{
	return run_subcommand(operator_subs, &cmd_operators, argc, argv);
}

static const subcommand subs[] = {
	{ "enqueue", enqueue, "queue proposals from stdin as pending" },
	{ "list", list, "list queue items" },
	{ "show", show, "show queue items in full" },
	{ "approve", approve_cmd, "approve pending items" },
	{ "reject", reject_cmd, "reject pending items, with a reason" },
	{ "operators", operators, "manage operators and their roles" },
	{ NULL, NULL, NULL },
};

/* --- the review ----------------------------------------------------------- */

static int review(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	int first, tty = -1, rc;

	rc = setup(&cmd_review, argc, argv, &c, 0, 0, &first, &s);
	if (rc >= 0)
		return rc;
	if (isatty(0))
		tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (tty < 0) {
		cx_store_close(s);
		cx_log_error("the review needs a terminal (stdin is not one, or /dev/tty "
		    "cannot be opened); use the subcommands instead:");
		cx_opts_usage(&cmd_review, stderr);
		return CX_EXIT_USAGE;
	}
	rc = approve_review(s, tty);
	close(tty);
	cx_store_close(s);
	return rc;
}

/* Runs the subcommand argv[1] of parent, or parent itself (its options,
 * --help, --list-commands) when argv[1] is not one. */
static int run_subcommand(const subcommand *list, const cx_cmd *parent, int argc,
    char **argv)
{
	const char *name = argc > 1 ? argv[1] : NULL;

	if (name && strcmp(name, "--list-commands") == 0) {
		for (const subcommand *sc = list; sc->name; sc++)
			printf("%s\n", sc->name);
		return CX_EXIT_OK;
	}
	if (name && strcmp(name, "--list-options") == 0) {
		char *args[] = { argv[0], "--list-options", NULL };
		cx_err err;

		fflush(stdout);
		cx_opts_parse(parent, 2, args, on_option, &(conf){ 0 }, &err);
		for (const subcommand *sc = list; sc->name; sc++)
			printf("%s\t\t%s\n", sc->name, sc->about);
		return CX_EXIT_OK;
	}
	for (const subcommand *sc = list; name && sc->name; sc++)
		if (strcmp(name, sc->name) == 0)
			return sc->run(argc - 1, argv + 1);
	if (parent == &cmd_review)
		return review(argc, argv);
	if (name && name[0] == '-') {
		cx_err err = { 0, "" };
		int rc = cx_opts_parse(parent, argc, argv, on_option, &(conf){ 0 }, &err);

		if (rc == CX_OPTS_DONE)
			return CX_EXIT_OK;
		if (rc < 0)
			return cx_opts_usage_error(parent, NULL, "%s", err.msg);
	}
	if (name && name[0] != '-')
		return cx_opts_usage_error(parent, NULL, "unknown command '%s'", name);
	return cx_opts_usage_error(parent, NULL, "a command is needed: add, list or remove");
}

int main(int argc, char **argv)
{
	cx_log_init("cx-approve");
	if (argc > 1 && argv[1][0] != '-' && !strchr(argv[1], '/')) {
		for (const subcommand *sc = subs; sc->name; sc++)
			if (strcmp(argv[1], sc->name) == 0)
				return sc->run(argc - 1, argv + 1);
		cx_log_error("unknown command '%s' (see cx-approve --help)", argv[1]);
		return CX_EXIT_USAGE;
	}
	return run_subcommand(subs, &cmd_review, argc, argv);
}
