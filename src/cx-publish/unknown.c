/* unknown.c: items whose fate is unknown (a timeout after the request went
 * out, a lease that ran out) are never resent blindly. Their channel's
 * reconcile looks for them on the platform (channel.h): one found settles
 * as published with the platform's id; one not found, once it has been
 * unknown for CX_PUBLISH_RECONCILE_GRACE_SECONDS (a platform may take a
 * moment to list a new post), goes back to approved to be published again.
 * A channel that cannot be asked (the Meta APIs: cx-publish(1)
 * RECONCILIATION says why) leaves its items unknown for a person to decide
 * (`cx-publish retry` or `cx-publish resolve`). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "channels.h"
#include "clock.h"
#include "commands.h"
#include "config.h"
#include "exit.h"
#include "json.h"
#include "log.h"
#include "publish_tool.h"
#include "queue.h"
#include "xalloc.h"

typedef struct {
	cx_store *s;
	int explicit;
	int64_t grace, now;
	jv items;                  /* [[source, item]...] */
	cx_channel_recon *runs;    /* one per channel of the registry */
	int *status;
} recon;

static void collect(jv item, void *ctx)
{
	void **args = ctx;
	recon *r = args[0];

	r->items = jv_array_append(r->items, jv_array_append(jv_array_append(jv_array(),
	    jv_string(args[1])), item));
}

/* The run of channel ch. */
static cx_channel_recon *run_of(recon *r, const cx_channel *ch)
{
	size_t i = 0;

	while (cx_channels_at(i) != ch)
		i++;
	return &r->runs[i];
}

/* An item that cannot be looked for: a person decides. */
static void cannot_ask(recon *r, const char *source, jv item, jv f)
{
	int command = strcmp(source, "command") == 0;
	long long id = (long long)jv_number_value(jv_object_get(jv_copy(item), jv_string("id")));
	const char *channel = cx_json_str(item, "channel");

	cx_log(r->explicit ? CX_LOG_ERROR : CX_LOG_WARN, f, "%s %lld on %s may or may "
	    "not have gone out, and %s cannot be asked: check, then `cx-publish retry "
	    "%s%lld` to send it again, or `cx-publish resolve --published %s%lld` if it "
	    "went out", source, id, channel, channel, command ? "command:" : "", id,
	    command ? "command:" : "", id);
	if (r->explicit)
		publish_status(r->status, CX_EXIT_SOME_FAILED);
}

/* Settles item id along o, writing its event. */
static void settle(recon *r, int command, int64_t id, const cx_queue_outcome *o, jv f)
{
	cx_err err = { 0, "" };
	jv ev = jv_null();
	int rc = command ? cx_commands_settle(r->s, id, o, &ev, &err) :
	    cx_queue_settle(r->s, id, o, &ev, &err);

	if (rc < 0) {
		cx_log(CX_LOG_ERROR, f, "%s", err.msg);
		publish_status(r->status, err.code == CX_EXIT_SOME_FAILED ? CX_EXIT_SOME_FAILED :
		    CX_EXIT_TEMPFAIL);
	} else {
		cx_log(CX_LOG_INFO, f, "reconciled: %s", o->provider_ref ? "published" :
		    "not found, to be sent again");
		if (jv_get_kind(ev) == JV_KIND_OBJECT) {
			cx_ndjson_write(ev);
			ev = jv_null();
		}
	}
	jv_free(ev);
}

static void reconcile_one(recon *r, const char *source, jv item)
{
	int command = strcmp(source, "command") == 0;
	int64_t id = (int64_t)jv_number_value(jv_object_get(jv_copy(item), jv_string("id")));
	int64_t since = 0;
	const char *channel = cx_json_str(item, "channel"), *at = cx_json_str(item, "updated_at");
	const cx_channel *ch = cx_channels_find(channel);
	jv f = jv_object_set(jv_object(), jv_string(command ? "command_id" : "queue_id"),
	    jv_number((double)id));
	cx_queue_outcome o = { 0 };
	cx_err err = { 0, "" };
	char *ref = NULL;
	int rc;

	f = jv_object_set(f, jv_string("channel"), jv_string(channel));
	f = jv_object_set(f, jv_string("correlation_id"),
	    jv_string(cx_json_str(item, "correlation_id")));
	if (!ch || !ch->reconcile) {
		cannot_ask(r, source, item, f);
		jv_free(item);
		return;
	}
	rc = ch->reconcile(run_of(r, ch), item, &ref, &err);
	if (rc < 0) {
		publish_status(r->status, err.code ? err.code : CX_EXIT_TEMPFAIL);
		jv_free(f);
	} else if (rc > 0) {
		o = (cx_queue_outcome){ .state = "published", .provider_ref = ref };
	} else if (!ch->resend_harmless && at && cx_clock_parse_rfc3339(at, &since) == 0 &&
	    r->now - since < r->grace) {
		cx_log(CX_LOG_INFO, f, "not on the account's timeline yet; looking again after "
		    "%lld s", (long long)r->grace);
	} else {
		o = (cx_queue_outcome){ .state = "approved", .error_code = "RECONCILED_NOT_FOUND",
		    .error_detail = "not among the account's recent posts: to be published again",
		    .next_attempt_at = r->now };
	}
	jv_free(item);
	if (o.state)
		settle(r, command, id, &o, f);
	free(ref);
}

void publish_reconcile(cx_store *s, const char *channel, int explicit, int *status)
{
	recon r = { .s = s, .explicit = explicit, .now = cx_clock_now(), .items = jv_array(),
		.status = status };
	cx_err err = { 0, "" };
	void *args[2] = { &r, "queue" };
	int64_t pages = 0;
	size_t n = 0;

	while (cx_channels_at(n))
		n++;
	r.runs = cx_xcalloc(n, sizeof *r.runs);
	if (cx_config_int("CX_PUBLISH_RECONCILE_GRACE_SECONDS", 60, &r.grace, &err) < 0 ||
	    cx_config_int("CX_PUBLISH_RECONCILE_PAGES", 5, &pages, &err) < 0 ||
	    cx_queue_list(s, "unknown", channel, collect, args, &err) < 0 ||
	    (args[1] = "command", cx_commands_list(s, "unknown", channel, collect, args,
	    &err)) < 0) {
		cx_log(CX_LOG_ERROR, jv_null(), "%s", err.msg);
		publish_status(status, err.code ? err.code : CX_EXIT_TEMPFAIL);
		jv_free(r.items);
		free(r.runs);
		return;
	}
	for (size_t i = 0; i < n; i++)
		r.runs[i] = (cx_channel_recon){ .s = s, .pages = pages };
	jv_array_foreach(r.items, i, pair) {
		jv src = jv_array_get(jv_copy(pair), 0);

		reconcile_one(&r, jv_string_value(src), jv_array_get(pair, 1));
		jv_free(src);
	}
	cx_ndjson_flush();
	for (size_t i = 0; i < n; i++)
		if (cx_channels_at(i)->reconcile_end)
			cx_channels_at(i)->reconcile_end(&r.runs[i]);
	jv_free(r.items);
	free(r.runs);
}

/* Whether owner ("cx-publish:<host>:<pid>:<random>", engine.c) is a
 * process of this host that no longer exists, holding an item of a
 * delivery channel: such an item need not wait for its lease to run out,
 * since its channel finds out what happened (the object, the row) before
 * anything is sent again. Other channels wait: a process of another PID
 * namespace under the same host name could look gone. */
static int lease_gone(const char *owner, const char *channel)
{
	const cx_channel *ch = cx_channels_find(channel);
	char host[64] = "", *end;
	size_t n = strlen("cx-publish:");
	long pid;

	if (!ch || !ch->transfer || strncmp(owner, "cx-publish:", n) != 0)
		return 0;
	gethostname(host, sizeof host - 1);
	if (strncmp(owner + n, host, strlen(host)) != 0 || owner[n + strlen(host)] != ':')
		return 0;
	pid = strtol(owner + n + strlen(host) + 1, &end, 10);
	return pid > 0 && *end == ':' && pid != (long)getpid() && kill((pid_t)pid, 0) < 0 &&
	    errno == ESRCH;
}

int publish_expire_leases(cx_store *s, int *status)
{
	int64_t q = 0, c = 0;
	cx_err err = { 0, "" };

	if (cx_queue_expire_leases(s, lease_gone, &q, &err) < 0 ||
	    cx_commands_expire_leases(s, lease_gone, &c, &err) < 0) {
		cx_log(CX_LOG_ERROR, jv_null(), "%s", err.msg);
		publish_status(status, err.code ? err.code : CX_EXIT_TEMPFAIL);
		return -1;
	}
	if (q + c > 0)
		cx_log(CX_LOG_WARN, jv_null(), "%lld item%s left publishing by a process that "
		    "stopped: now unknown, to be reconciled", (long long)(q + c),
		    q + c == 1 ? "" : "s");
	return 0;
}
