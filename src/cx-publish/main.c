/* cx-publish: the only way anything leaves (SPEC §6). With no command it
 * publishes the approved queue items that are due (engine.c), after moving
 * items whose lease ran out to unknown and reconciling the unknown ones
 * (unknown.c), then takes command lines from stdin when stdin is not a
 * terminal (input.c). `retry` brings dead or unknown items back;
 * `resolve --published` settles unknown items a person found published;
 * `reconcile` only reconciles. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "channels.h"
#include "commands.h"
#include "config.h"
#include "configfile.h"
#include "exit.h"
#include "identity.h"
#include "json.h"
#include "log.h"
#include "ndjson.h"
#include "operators.h"
#include "opts.h"
#include "publish_tool.h"
#include "queue.h"
#include "store.h"

enum { OPTION_DB = 1, OPTION_CONFIG, OPTION_CHANNEL, OPTION_MAX, OPTION_DRY_RUN,
	OPTION_MAX_ATTEMPTS, OPTION_DIRECT, OPTION_KEY, OPTION_KEY_FILE, OPTION_MAX_LINE,
	OPTION_PUBLISHED, OPTION_REF, OPTION_NO_PROGRESS, OPTION_CONCURRENCY,
	OPTION_SUBSCRIPTION };

static int on_option(int id, const char *arg, void *ctx, cx_err *err)
{
	publish_conf *c = ctx;

	switch (id) {
	case OPTION_DB: c->db = arg; break;
	case OPTION_CONFIG: c->config = arg; break;
	case OPTION_CHANNEL: c->channel = arg; break;
	case OPTION_DRY_RUN: c->dry_run = 1; break;
	case OPTION_DIRECT: c->direct = 1; break;
	case OPTION_KEY: c->key = arg; break;
	case OPTION_KEY_FILE: c->key_file = arg; break;
	case OPTION_PUBLISHED: c->published = 1; break;
	case OPTION_NO_PROGRESS: c->no_progress = 1; break;
	case OPTION_REF: c->ref = arg; break;
	case OPTION_SUBSCRIPTION: c->subscription = arg; break;
	case OPTION_CONCURRENCY:
		return cx_opts_range("concurrency", arg, 1, 256, &c->concurrency, err);
	case OPTION_MAX: return cx_opts_uint("max", arg, &c->max, err);
	case OPTION_MAX_LINE:
		return cx_opts_range("max-line", arg, 1, LLONG_MAX, &c->max_line, err);
	case OPTION_MAX_ATTEMPTS:
		return cx_opts_range("max-attempts", arg, 1, LLONG_MAX, &c->max_attempts, err);
	}
	return 0;
}

/* "only channel C (x, whatsapp, instagram, messenger)", from the registry (main). */
static char channel_help[160];
#define OPT_CHANNEL { "channel", 0, OPTION_CHANNEL, "C", channel_help }
#define OPT_CONFIG { "config", 0, OPTION_CONFIG, "FILE", "load KEY=value settings from FILE" }
#define OPT_DB { "db", 0, OPTION_DB, "PATH", "state file (default $CX_DB, then $XDG_STATE_HOME/cx/cx.db)" }
#define OPT_END { NULL, 0, 0, NULL, NULL }

static const cx_opt run_opts[] = {
	OPT_CHANNEL, OPT_CONFIG, OPT_DB,
	{ "direct", 0, OPTION_DIRECT, NULL, "publish the one command line on stdin now (owners and "
	  "admins, with CX_PUBLISH_DIRECT_ENABLED=true and --key)" },
	{ "dry-run", 'n', OPTION_DRY_RUN, NULL, "show what would be sent; claim and send nothing" },
	{ "key", 0, OPTION_KEY, "K", "with --direct: the key, equal to CX_PUBLISH_DIRECT_KEY" },
	{ "key-file", 0, OPTION_KEY_FILE, "FILE", "with --direct: read the key from FILE (keeps it "
	  "out of ps)" },
	{ "max", 0, OPTION_MAX, "N", "claim at most N items in this run (default: all that are due)" },
	{ "max-attempts", 0, OPTION_MAX_ATTEMPTS, "N", "an item is dead after N failed tries "
	  "(default 8)" },
	{ "max-line", 0, OPTION_MAX_LINE, "BYTES", "longest accepted stdin line (default 1048576)" },
	{ "no-progress", 0, OPTION_NO_PROGRESS, NULL, "no progress line on a terminal's stderr" },
	OPT_END,
};
static const cx_opt retry_opts[] = { OPT_CONFIG, OPT_DB, OPT_END };
static const cx_opt resolve_opts[] = {
	OPT_CONFIG, OPT_DB,
	{ "published", 0, OPTION_PUBLISHED, NULL, "the item went out: settle it published, "
	  "without sending it" },
	{ "ref", 0, OPTION_REF, "ID", "with one item: the provider's id of what went out "
	  "(the wamid, the message or comment id)" },
	OPT_END,
};
static const cx_opt reconcile_opts[] = { OPT_CHANNEL, OPT_CONFIG, OPT_DB, OPT_END };
static const cx_opt feedback_opts[] = {
	OPT_CONFIG, OPT_DB,
	{ "max-line", 0, OPTION_MAX_LINE, "BYTES", "longest accepted stdin line (default 1048576)" },
	OPT_END,
};

static const cx_opt triggers_opts[] = {
	OPT_CONFIG, OPT_DB,
	{ "concurrency", 0, OPTION_CONCURRENCY, "N", "deliveries in flight at once (default "
	  "$CX_PUBLISH_CONCURRENCY, 16)" },
	{ "dry-run", 'n', OPTION_DRY_RUN, NULL, "enqueue and send nothing; say what would go" },
	{ "max", 0, OPTION_MAX, "N", "send at most N deliveries in this run (default: all that "
	  "are due)" },
	{ "max-line", 0, OPTION_MAX_LINE, "BYTES", "longest accepted stdin line (default 1048576)" },
	OPT_END,
};
#define OPT_SUBSCRIPTION { "subscription", 0, OPTION_SUBSCRIPTION, "S", \
	"only the deliveries of subscription S" }
static const cx_opt dlq_list_opts[] = { OPT_CONFIG, OPT_DB, OPT_SUBSCRIPTION, OPT_END };
static const cx_opt dlq_replay_opts[] = { OPT_CONFIG, OPT_DB, OPT_SUBSCRIPTION, OPT_END };

#define ARGS_RUN "[--channel C] [--max N] [--dry-run] [--max-attempts N] [--no-progress] [--db PATH] " \
	"[--config FILE] [< commands.ndjson]"
#define ARGS_DIRECT "--direct --key K [--dry-run] [--db PATH] [--config FILE] < command.json"
#define ARGS_RETRY "ID | command:ID ... [--db PATH] [--config FILE]"
#define ARGS_RESOLVE "--published [--ref ID] ID | command:ID ... [--db PATH] [--config FILE]"
#define ARGS_RECONCILE "[--channel C] [--db PATH] [--config FILE]"
#define ARGS_FEEDBACK "[--max-line BYTES] [--db PATH] [--config FILE] < events.ndjson"
#define ARGS_TRIGGERS "[--max N] [--concurrency N] [--dry-run] [--max-line BYTES] [--db PATH] " \
	"[--config FILE] [< events.ndjson]"
#define ARGS_DLQ_LIST "[--subscription S] [--db PATH] [--config FILE]"
#define ARGS_DLQ_REPLAY "ID ... | --subscription S [--db PATH] [--config FILE]"
#define NEXT "\n       cx-publish "

static const cx_cmd cmd_run = { "cx-publish",
	ARGS_RUN NEXT ARGS_DIRECT NEXT "retry " ARGS_RETRY NEXT "resolve " ARGS_RESOLVE NEXT
	"reconcile " ARGS_RECONCILE NEXT "feedback " ARGS_FEEDBACK NEXT "triggers " ARGS_TRIGGERS
	NEXT "dlq list " ARGS_DLQ_LIST NEXT "dlq replay " ARGS_DLQ_REPLAY,
	"Publish the approved queue items that are due, and the command lines on stdin\n"
	"for channels whose approval policy is none (never x). post.* lines on stdout.",
	run_opts };
static const cx_cmd cmd_retry = { "cx-publish retry", ARGS_RETRY,
	"Bring dead or unknown items back to approved, to be published again (owners\n"
	"and admins).", retry_opts };
static const cx_cmd cmd_resolve = { "cx-publish resolve", ARGS_RESOLVE,
	"Settle unknown items that a person found published (on a channel whose\n"
	"provider cannot be asked), without sending them (owners and admins).",
	resolve_opts };
static const cx_cmd cmd_reconcile = { "cx-publish reconcile", ARGS_RECONCILE,
	"Settle items whose fate is unknown: X posts are looked up on the account's\n"
	"timeline and become published, or approved to be sent again.", reconcile_opts };

static const cx_cmd cmd_feedback = { "cx-publish feedback", ARGS_FEEDBACK,
	"Pass every line through and apply the e-mail lifecycle events among them:\n"
	"suppress hard bounces, complaints and repeated soft bounces, record each\n"
	"message's fate, and pause a tenant's e-mail when its bounce or complaint\n"
	"rate is over the limit (cx-email(7)).", feedback_opts };

static const cx_cmd cmd_triggers = { "cx-publish triggers", ARGS_TRIGGERS,
	"Pass every line through, enqueue one delivery of each event to every active\n"
	"subscription of its tenant and type (sanitized, once per dedupe key), and\n"
	"deliver what is due, signed as Standard Webhooks, retried on a schedule\n"
	"(cx-automation(7)).", triggers_opts };
static const cx_cmd cmd_dlq_list = { "cx-publish dlq list", ARGS_DLQ_LIST,
	"Show the dead and failed trigger deliveries, one JSON line each, without\n"
	"their payloads.", dlq_list_opts };
static const cx_cmd cmd_dlq_replay = { "cx-publish dlq replay", ARGS_DLQ_REPLAY,
	"Bring dead or failed trigger deliveries back, attempts reset and the same\n"
	"webhook-id, for the next cx-publish triggers run (owners and admins).",
	dlq_replay_opts };

static void on_signal(int sig)
{
	(void)sig;
	engine_stop();
}

/* Parses options and opens the store. Returns -1 to go on (*first is the
 * first operand), else the exit status. */
static int setup(const cx_cmd *cmd, int argc, char **argv, publish_conf *c,
    int min_operands, int max_operands, int *first, cx_store **s)
{
	cx_err err = { 0, "" };
	struct sigaction sa;
	int rc;

	c->max_attempts = 8;
	c->max_line = CX_NDJSON_MAX_LINE_DEFAULT;
	if ((rc = cx_opts_start(cmd, argc, argv, on_option, c, max_operands, NULL, first)) >= 0)
		return rc;
	if (argc - *first < min_operands)
		return cx_opts_usage_error(cmd, NULL, "missing operand");
	if ((c->key || c->key_file) && !c->direct)
		return cx_opts_usage_error(cmd, NULL, "--key goes with --direct");
	if (cx_config_load(c->config, &err) < 0 || cx_store_open(c->db, s, &err) < 0)
		return cx_log_fail(&err);
	cx_ndjson_out_init();
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	return -1;
}

static int run(int argc, char **argv)
{
	publish_conf c = { 0 };
	cx_store *s = NULL;
	engine *e = NULL;
	cx_err err = { 0, "" };
	int first, status = CX_EXIT_OK;
	int rc = setup(&cmd_run, argc, argv, &c, 0, 0, &first, &s);

	if (rc >= 0)
		return rc;
	if (engine_open(&e, s, &c, &err) < 0) {
		cx_store_close(s);
		return cx_log_fail(&err);
	}
	if (c.direct) {
		input_direct(s, &c, e, &status);
	} else {
		if (!c.dry_run && publish_expire_leases(s, &status) == 0)
			publish_reconcile(s, c.channel, 0, &status);
		if (c.dry_run)
			engine_plan(e);
		else
			engine_run(e, 0);
		/* a closed stdin is no input, a terminal is a person */
		if (fcntl(0, F_GETFD) != -1 && !isatty(0))
			input_commands(s, &c, e, &status);
	}
	cx_ndjson_flush();
	publish_status(&status, engine_status(e));
	engine_close(e);
	cx_store_close(s);
	return status;
}

/* --- retry and resolve ---------------------------------------------------- */

/* What an operator does to items by hand. */
typedef struct {
	const cx_cmd *cmd;
	const char *denied, *verb;  /* the refusal's audit action and wording */
	const char *const *from;    /* the states it applies to */
	const char *only;           /* "only dead or unknown items are brought back" */
	const char *done;           /* "is approved again, to be published by the next run" */
} by_hand;

static const char *const retry_from[] = { "dead", "unknown", NULL };
static const char *const resolve_from[] = { "unknown", NULL };

static const by_hand retry_hand = { &cmd_retry, "retry_denied", "bring items back",
	retry_from, "only dead or unknown items are brought back",
	"is approved again, to be published by the next run" };
static const by_hand resolve_hand = { &cmd_resolve, "resolve_denied", "resolve items",
	resolve_from, "only unknown items are resolved", "is published, as a person found" };

static int move_one(cx_store *s, const by_hand *h, const char *arg, const cx_queue_outcome *o)
{
	const char *num = strncmp(arg, "command:", 8) == 0 ? arg + 8 : arg;
	int command = num != arg, allowed = 0;
	cx_err err = { 0, "" };
	const char *state;
	long long id;
	char *end;
	jv item, ev = jv_null();
	int rc;

	errno = 0;
	id = strtoll(num, &end, 10);
	if (errno || end == num || *end || id <= 0) {
		cx_log(CX_LOG_ERROR, jv_null(), "'%s' is not a queue id or command:ID", arg);
		return CX_EXIT_USAGE;
	}
	rc = command ? cx_commands_get(s, id, &item, &err) : cx_queue_get(s, id, &item, &err);
	if (rc < 0)
		return cx_log_fail(&err);
	state = cx_json_str(item, "state");
	for (int i = 0; h->from[i]; i++)
		allowed |= strcmp(state, h->from[i]) == 0;
	if (!allowed) {
		cx_log(CX_LOG_ERROR, jv_null(), "%s %lld is %s: %s; nothing changed",
		    command ? "command" : "queue item", id, state, h->only);
		jv_free(item);
		return CX_EXIT_SOME_FAILED;
	}
	jv_free(item);
	rc = command ? cx_commands_settle(s, id, o, &ev, &err) :
	    cx_queue_settle(s, id, o, &ev, &err);
	if (rc < 0)
		return cx_log_fail(&err);
	if (jv_get_kind(ev) == JV_KIND_OBJECT)
		cx_ndjson_write(ev);
	else
		jv_free(ev);
	cx_log_info("%s %lld %s", command ? "command" : "queue item", id, h->done);
	return CX_EXIT_OK;
}

/* Runs h on the operands from first on, as an owner or admin; closes s. */
static int by_hand_run(const by_hand *h, cx_store *s, int argc, char **argv, int first,
    const cx_queue_outcome *o)
{
	cx_err err = { 0, "" };
	int status = CX_EXIT_OK;

	if (cx_store_begin(s, &err) == 0) {
		if (cx_operators_check(s, cx_identity_user(), CX_ROLE_ADMIN, h->denied, h->verb,
		    "queue", &err) < 0)
			cx_operators_end_refused(s, &err);
		else
			cx_store_commit(s, &err);
	}
	if (err.code) {
		cx_store_close(s);
		return cx_log_fail(&err);
	}
	for (int i = first; i < argc; i++)
		publish_status(&status, move_one(s, h, argv[i], o));
	cx_ndjson_flush();
	cx_store_close(s);
	return status;
}

static int retry(int argc, char **argv)
{
	publish_conf c = { 0 };
	cx_queue_outcome o = { .state = "approved", .error_code = "RETRY_REQUESTED",
		.error_detail = "brought back by an operator" };
	cx_store *s = NULL;
	int first, rc = setup(&cmd_retry, argc, argv, &c, 1, -1, &first, &s);

	/* sending again is a decision: owners and admins only */
	return rc >= 0 ? rc : by_hand_run(&retry_hand, s, argc, argv, first, &o);
}

static int resolve(int argc, char **argv)
{
	publish_conf c = { 0 };
	cx_queue_outcome o = { .state = "published" };
	cx_store *s = NULL;
	int first, rc = setup(&cmd_resolve, argc, argv, &c, 1, -1, &first, &s);

	if (rc >= 0)
		return rc;
	if (!c.published || (c.ref && argc - first > 1)) {
		cx_store_close(s);
		return cx_opts_usage_error(&cmd_resolve, NULL, "%s", !c.published ?
		    "say what became of the items: --published (to send them again: "
		    "cx-publish retry)" : "--ref goes with one item");
	}
	o.provider_ref = c.ref;
	return by_hand_run(&resolve_hand, s, argc, argv, first, &o);
}

/* --- reconcile ------------------------------------------------------------ */

static int reconcile(int argc, char **argv)
{
	publish_conf c = { 0 };
	cx_store *s = NULL;
	int first, status = CX_EXIT_OK;
	int rc = setup(&cmd_reconcile, argc, argv, &c, 0, 0, &first, &s);

	if (rc >= 0)
		return rc;
	if (publish_expire_leases(s, &status) == 0)
		publish_reconcile(s, c.channel, 1, &status);
	cx_ndjson_flush();
	cx_store_close(s);
	return status;
}

/* --- feedback ------------------------------------------------------------- */

static int feedback(int argc, char **argv)
{
	publish_conf c = { 0 };
	cx_store *s = NULL;
	int first, status;
	int rc = setup(&cmd_feedback, argc, argv, &c, 0, 0, &first, &s);

	if (rc >= 0)
		return rc;
	status = publish_feedback(s, &c);
	cx_store_close(s);
	return status;
}

/* --- triggers and their dead letters --------------------------------------- */

static int triggers(int argc, char **argv)
{
	publish_conf c = { 0 };
	cx_store *s = NULL;
	int first, status;
	int rc = setup(&cmd_triggers, argc, argv, &c, 0, 0, &first, &s);

	if (rc >= 0)
		return rc;
	status = publish_triggers(s, &c);
	cx_ndjson_flush();
	cx_store_close(s);
	return status;
}

static int dlq(int argc, char **argv)
{
	int list = argc > 1 && strcmp(argv[1], "list") == 0;
	int replay = argc > 1 && strcmp(argv[1], "replay") == 0;
	const cx_cmd *cmd = list ? &cmd_dlq_list : &cmd_dlq_replay;
	publish_conf c = { 0 };
	cx_store *s = NULL;
	int first, status, rc;

	if (argc > 1 && (strcmp(argv[1], "--list-commands") == 0 ||
	    strcmp(argv[1], "--list-options") == 0)) {
		int names = strcmp(argv[1], "--list-commands") == 0;

		printf(names ? "list\nreplay\n" : "list\t\tshow dead and failed deliveries\n"
		    "replay\t\tsend dead or failed deliveries again\n");
		return CX_EXIT_OK;
	}
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		cx_opts_usage(&cmd_dlq_list, stdout);
		cx_opts_usage(&cmd_dlq_replay, stdout);
		return CX_EXIT_OK;
	}
	if (!list && !replay) {
		cx_log_error("dlq wants list or replay (see cx-publish dlq --help)");
		return CX_EXIT_USAGE;
	}
	if ((rc = setup(cmd, argc - 1, argv + 1, &c, 0, list ? 0 : -1, &first, &s)) >= 0)
		return rc;
	if (replay && (c.subscription != NULL) == (first < argc - 1)) {
		cx_store_close(s);
		return cx_opts_usage_error(cmd, NULL, "name the deliveries: IDs or --subscription");
	}
	status = list ? publish_dlq_list(s, &c) :
	    publish_dlq_replay(s, &c, argc - 1, argv + 1, first);
	cx_store_close(s);
	return status;
}

static const struct {
	const char *name;
	int (*run)(int, char **);
	const char *about;
} subs[] = {
	{ "retry", retry, "bring dead or unknown items back to approved" },
	{ "resolve", resolve, "settle unknown items a person found published" },
	{ "reconcile", reconcile, "settle items whose fate is unknown" },
	{ "feedback", feedback, "apply e-mail lifecycle events (suppressions, breaker)" },
	{ "triggers", triggers, "deliver events to the automations subscribed to them" },
	{ "dlq", dlq, "list or replay dead trigger deliveries" },
	{ "sheets", publish_sheets, "append the rows of a CSV file to a Google Sheet once" },
	{ NULL, NULL, NULL },
};

/* The --channel help, naming the channels there are. */
static void describe_channels(void)
{
	const char *names[64];
	const cx_channel *ch;
	size_t n = 0;
	char *list;

	while (n < 64 && (ch = cx_channels_at(n)))
		names[n++] = ch->name;
	list = cx_opts_join(names, n, ", ", ", ");
	snprintf(channel_help, sizeof channel_help, "only channel C (%s)", list);
	free(list);
}

int main(int argc, char **argv)
{
	describe_channels();
	cx_log_init("cx-publish");
	if (argc > 1 && strcmp(argv[1], "--list-commands") == 0) {
		for (int i = 0; subs[i].name; i++)
			printf("%s\n", subs[i].name);
		return CX_EXIT_OK;
	}
	if (argc > 1 && strcmp(argv[1], "--list-options") == 0) {
		char *args[] = { argv[0], "--list-options", NULL };
		cx_err err;

		cx_opts_parse(&cmd_run, 2, args, on_option, &(publish_conf){ 0 }, &err);
		fflush(stdout);
		for (int i = 0; subs[i].name; i++)
			printf("%s\t\t%s\n", subs[i].name, subs[i].about);
		return CX_EXIT_OK;
	}
	if (argc > 1 && argv[1][0] != '-') {
		for (int i = 0; subs[i].name; i++)
			if (strcmp(argv[1], subs[i].name) == 0)
				return subs[i].run(argc - 1, argv + 1);
		cx_log_error("unknown command '%s' (see cx-publish --help)", argv[1]);
		return CX_EXIT_USAGE;
	}
	return run(argc, argv);
}
