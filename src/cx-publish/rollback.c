/* rollback.c: the three-failures rule of the delivery channels (s3,
 * sheets, upload: channel.h rollback), on the writer's side, in the
 * transaction that settles each of their items. Every outcome is counted
 * (cx_delivery_total{channel,result}); a published item ends the
 * tenant's streak of failed ones; the third failed item (failed or dead;
 * a batch counts once) in a row pauses the channel for the tenant (tenant_pauses: nothing more
 * is sent until `cx tenants resume T --channel C`), and that item's
 * package file is set aside in the rejected folder with <name>.reason.json
 * beside it, with an audit row, the cx_channel_disabled gauge and an
 * error line in the same step. Nothing is deleted. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audit.h"
#include "channelfailures.h"
#include "clock.h"
#include "config.h"
#include "exit.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "paths.h"
#include "state.h"
#include "tenants.h"
#include "xalloc.h"

/* Failed items in a row that disable a delivery channel for a tenant. */
#define ROLLBACK_AFTER 3

/* The rejected folder of tenant: $CX_DELIVERY_REJECTED_DIR/<tenant>, else
 * $XDG_STATE_HOME/cx/rejected/<tenant>, else ~/.local/state/... */
static char *rejected_dir(const char *tenant)
{
	const char *dir = cx_config_get("CX_DELIVERY_REJECTED_DIR", NULL);
	const char *state = cx_config_get("XDG_STATE_HOME", NULL);

	if (dir)
		return cx_xasprintf("%s/%s", dir, tenant);
	if (state)
		return cx_xasprintf("%s/cx/rejected/%s", state, tenant);
	return cx_xasprintf("%s/.local/state/cx/rejected/%s",
	    cx_config_get("HOME", "."), tenant);
}

/* A name in dir not taken yet: base, else base.1, base.2... */
static char *free_name(const char *dir, const char *base)
{
	struct stat st;
	char *p = cx_xasprintf("%s/%s", dir, base), *reason;

	for (int i = 1; i < 1000; i++) {
		reason = cx_xasprintf("%s.reason.json", p);
		if (lstat(p, &st) < 0 && lstat(reason, &st) < 0) {
			free(reason);
			return p;
		}
		free(reason);
		free(p);
		p = cx_xasprintf("%s/%s.%d", dir, base, i);
	}
	return p;
}

/* reason.json: {channel, tenant, item, error_code, attempts, last_error, at}. */
static jv reason_of(const job *j, const char *moved_from)
{
	char at[CX_RFC3339_LEN];
	jv item = cx_channel_fields(j->item), r;

	cx_clock_rfc3339(cx_clock_now(), 0, at);
	item = jv_object_set(item, jv_string(j->command ? "command_id" : "queue_id"),
	    jv_number((double)j->id));
	r = jv_object_set(jv_object(), jv_string("channel"), jv_string(j->channel->name));
	r = jv_object_set(r, jv_string("tenant"), jv_string(str_of(j->item, "tenant")));
	r = jv_object_set(r, jv_string("item"), item);
	r = jv_object_set(r, jv_string("error_code"), jv_string(j->o.error_code ?
	    j->o.error_code : ""));
	r = jv_object_set(r, jv_string("attempts"), jv_number((double)j->attempts));
	r = jv_object_set(r, jv_string("last_error"), jv_string(j->o.error_detail ?
	    j->o.error_detail : ""));
	r = jv_object_set(r, jv_string("at"), jv_string(at));
	if (moved_from)
		r = jv_object_set(r, jv_string("file"), jv_string(moved_from));
	return r;
}

/* Moves the package of j (if it has one) into the rejected folder and
 * writes its reason beside it; *where gets the reason's path. */
static int set_aside(const job *j, char **where, cx_err *err)
{
	const char *field = j->channel->package_field;
	jv f = cx_channel_fields(j->item);
	const char *file = field ? cx_json_str(f, field) : NULL;
	char *dir = rejected_dir(str_of(j->item, "tenant")), *dest, *reason, *text, *copy;
	struct stat st;
	int rc = -1;

	if (file && lstat(file, &st) == 0) {
		copy = cx_xstrdup(file);
		dest = free_name(dir, basename(copy));
		free(copy);
	} else {
		char base[64];

		snprintf(base, sizeof base, "%s-%s-%lld", j->channel->name,
		    j->command ? "command" : "queue", (long long)j->id);
		dest = free_name(dir, base);
		file = NULL;
	}
	reason = cx_xasprintf("%s.reason.json", dest);
	text = cx_json_dump(reason_of(j, file));
	if (cx_paths_mkparents(reason, 0700) == 0 &&
	    (!file || cx_paths_move(file, dest, err) == 0) &&
	    cx_paths_write_new(reason, text, strlen(text), err) == 0)
		rc = 0;
	else if (!err->msg[0])
		cx_err_set(err, CX_EXIT_TEMPFAIL, "cannot make %s", dir);
	free(text);
	free(dest);
	free(dir);
	jv_free(f);
	*where = reason;
	return rc;
}

/* The third failure in a row: the pause, its audit row, gauge and log. */
static int disable(cx_store *s, const job *j, int64_t streak, cx_err *err)
{
	const char *tenant = str_of(j->item, "tenant"), *channel = j->channel->name;
	cx_audit_entry a = { .action = "channel_disabled", .subject = tenant,
		.correlation_id = cx_json_str(j->item, "correlation_id") };
	char reason[160], *labels, *where = NULL;
	cx_err ferr = { 0, "" };
	int paused = 0, moved;
	jv f;

	snprintf(reason, sizeof reason, "%lld failed items in a row, the last %s",
	    (long long)streak, j->o.error_code ? j->o.error_code : "failed");
	if (cx_tenants_pause(s, tenant, channel, CX_DELIVERY_FAILURES, reason, &paused,
	    err) < 0)
		return -1;
	if (!paused)
		return 0;
	moved = set_aside(j, &where, &ferr);
	a.detail = jv_object_set(jv_object(), jv_string("channel"), jv_string(channel));
	a.detail = jv_object_set(a.detail, jv_string("failures"), jv_number((double)streak));
	a.detail = jv_object_set(a.detail, jv_string("error_code"), jv_string(j->o.error_code ?
	    j->o.error_code : ""));
	a.detail = jv_object_set(a.detail, jv_string(j->command ? "command_id" : "queue_id"),
	    jv_number((double)j->id));
	a.detail = jv_object_set(a.detail, jv_string("rejected"), moved == 0 ?
	    jv_string(where) : jv_null());
	labels = cx_metrics_labels("tenant", tenant, "channel", channel, NULL);
	if (cx_audit_append(s, &a, err) < 0 ||
	    cx_metrics_add(s, "cx_channel_disabled", labels, 1, err) < 0) {
		free(labels);
		free(where);
		return -1;
	}
	free(labels);
	f = jv_object_set(engine_fields(j), jv_string("error_code"),
	    jv_string(CX_DELIVERY_FAILURES));
	if (moved == 0)
		cx_log(CX_LOG_ERROR, f, "%s disabled for tenant %s after %s; the package and "
		    "its reason are in %s; `cx tenants resume %s --channel %s` sends again",
		    channel, tenant, reason, where, tenant, channel);
	else
		cx_log(CX_LOG_ERROR, f, "%s disabled for tenant %s after %s; the package could "
		    "not be set aside: %s", channel, tenant, reason, ferr.msg);
	free(where);
	return 0;
}

int rollback_settled(cx_store *s, const job *j, cx_err *err)
{
	const char *state = j->o.state, *tenant = str_of(j->item, "tenant");
	char *labels;
	int64_t streak = 0;
	int rc;

	/* items sent back without a try (a pause, a wait) are no outcome */
	if (!state || (strcmp(state, "approved") == 0 && !j->prepared))
		return 0;
	labels = cx_metrics_labels("channel", j->channel->name, "result",
	    strcmp(state, "approved") == 0 ? "retry" : state, NULL);
	rc = cx_metrics_add(s, "cx_delivery_total", labels, 1, err);
	free(labels);
	if (rc < 0)
		return -1;
	if (strcmp(state, "published") == 0)
		return cx_channel_failures_reset(s, tenant, j->channel->name, err);
	/* a batch is one attempt: its first item counts for all (the others
	 * were prepared by its transfer but not started) */
	if ((strcmp(state, "failed") != 0 && strcmp(state, "dead") != 0) ||
	    (j->prepared && !j->started))
		return 0;
	if (cx_channel_failures_add(s, tenant, j->channel->name, j->o.error_code, &streak,
	    err) < 0)
		return -1;
	return streak >= ROLLBACK_AFTER ? disable(s, j, streak, err) : 0;
}
