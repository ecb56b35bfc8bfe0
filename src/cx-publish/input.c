/* input.c: what cx-publish takes from stdin. Command lines (proposals with an
 * idempotency_key) are sent only for channels whose approval policy is
 * none; a line for any other channel, x above all, is refused and audited
 * as bypass_blocked. --direct sends one line to any channel, and only when
 * CX_PUBLISH_DIRECT_ENABLED=true, the key matches CX_PUBLISH_DIRECT_KEY
 * (or _PREVIOUS during a rotation) and the Unix user is an owner or admin;
 * every use and every refusal is audited. There is no other path. An
 * automation's send_message (an action.requested line) is a command like
 * the others, requested by its integration, from its own tenant's
 * accounts only; other events pass through unchanged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actionreq.h"
#include "audit.h"
#include "channels.h"
#include "commands.h"
#include "config.h"
#include "crypto.h"
#include "exit.h"
#include "identity.h"
#include "inbox.h"
#include "json.h"
#include "log.h"
#include "operators.h"
#include "publish_tool.h"
#include "xalloc.h"

/* Lines accepted before the engine sends them (memory stays flat): as many
 * as a Sheets append takes, so batches are whole. */
#define BATCH 500
/* How long a pause in the input may be before what came is sent (ms). */
#define PAUSE_MS 100

/* Canonical events (they carry "v" and "type") pass through unchanged. */
static int is_event(jv v)
{
	jv version = jv_object_get(jv_copy(v), jv_string("v"));
	int event = jv_get_kind(version) == JV_KIND_NUMBER && cx_json_str(v, "type");

	jv_free(version);
	return event;
}

/* What an audit row may say about a line: never its text, only its hash. */
static jv line_detail(jv line, long lineno)
{
	const char *text = cx_json_str(line, "text");
	char sha[2 * CX_SHA256_LEN + 1];
	jv d = jv_object();

	if (cx_json_str(line, "channel"))
		d = jv_object_set(d, jv_string("channel"), jv_string(cx_json_str(line, "channel")));
	if (cx_json_str(line, "kind"))
		d = jv_object_set(d, jv_string("kind"), jv_string(cx_json_str(line, "kind")));
	if (cx_json_str(line, "workspace"))
		d = jv_object_set(d, jv_string("workspace"),
		    jv_string(cx_json_str(line, "workspace")));
	if (text) {
		cx_crypto_sha256_hex(text, strlen(text), sha);
		d = jv_object_set(d, jv_string("text_sha256"), jv_string(sha));
	}
	if (lineno > 0)
		d = jv_object_set(d, jv_string("line"), jv_number((double)lineno));
	return d;
}

/* Appends one audit row in its own transaction; correlation_id may be
 * NULL. */
static int audit(cx_store *s, const char *action, const char *subject,
    const char *correlation_id, jv detail, cx_err *err)
{
	cx_audit_entry e = { .action = action, .subject = subject,
		.correlation_id = correlation_id, .detail = detail };

	if (cx_store_begin(s, err) < 0) {
		jv_free(detail);
		return -1;
	}
	if (cx_audit_append(s, &e, err) < 0) {
		cx_store_rollback(s);
		return -1;
	}
	return cx_store_commit(s, err);
}

static void line_error(long lineno, const char *code, const char *msg)
{
	jv f = jv_object_set(jv_object(), jv_string("line"), jv_number((double)lineno));

	f = jv_object_set(f, jv_string("error_code"), jv_string(code));
	cx_log(CX_LOG_ERROR, f, "line %ld: %s", lineno, msg);
}

/* A line for a channel whose policy requires approval (a: the
 * action.requested line it came from, or NULL): refused, audited as
 * bypass_blocked. */
static void refuse_unapproved(cx_store *s, const cx_channel *ch, cx_ndjson_line *line,
    const cx_actionreq *a, int *status)
{
	char *subject = cx_xasprintf("channel:%s", ch->name);
	jv d = line_detail(line->value, line->lineno);
	cx_err err = { 0, "" };
	char msg[256];

	d = jv_object_set(d, jv_string("reason"), jv_string("approval_required"));
	if (a)
		d = jv_object_set(d, jv_string("integration_id"), jv_string(a->integration_id));
	if (audit(s, "bypass_blocked", subject, a ? a->correlation_id : NULL, d, &err) < 0) {
		cx_log(CX_LOG_ERROR, jv_null(), "%s", err.msg);
		publish_status(status, CX_EXIT_TEMPFAIL);
	}
	free(subject);
	if (ch->approval_always)
		snprintf(msg, sizeof msg, "refused: posts to %s are published only from the "
		    "queue, once a person approved them (cx-approve); nothing was sent", ch->name);
	else
		snprintf(msg, sizeof msg, "refused: this channel's policy requires approval "
		    "(CX_APPROVAL_<CHANNEL>); queue it with cx-approve enqueue; nothing was sent");
	line_error(line->lineno, "approval_required", msg);
	publish_status(status, CX_EXIT_NOPERM);
	jv_free(line->value);
}

/* --dry-run: the plan line of a command line (consumed) that checks out. */
static void plan_line(engine *e, jv v, long lineno, int *status)
{
	const char *problem = NULL;
	cx_queue_checked checked;
	cx_err err = { 0, "" };

	if (cx_channels_check(v, &checked, &problem, &err) < 0) {
		line_error(lineno, problem ? problem : "invalid", err.msg);
		publish_status(status, CX_EXIT_DATAERR);
		jv_free(v);
		return;
	}
	v = jv_object_set(v, jv_string("meta"), jv_copy(v));
	engine_plan_item(e, v, "stdin");
}

/* Stores a command line (consumed) under key, requested by actor: 1 when
 * it was stored (or seen before), 0 when it was refused. */
static int accept_line(cx_store *s, jv v, long lineno, const char *key,
    const char *actor, int *status)
{
	const char *problem = NULL;
	cx_err err = { 0, "" };
	int fresh;
	jv item;

	if (cx_commands_accept(s, v, "stdin", key, actor, "command_accepted",
	    cx_channels_check, &item, &fresh, &problem, &err) < 0) {
		if (err.code == CX_EXIT_DATAERR) {
			line_error(lineno, problem ? problem : "invalid", err.msg);
			publish_status(status, CX_EXIT_DATAERR);
		} else {
			cx_log(CX_LOG_ERROR, jv_null(), "%s", err.msg);
			publish_status(status, err.code ? err.code : CX_EXIT_TEMPFAIL);
		}
		return 0;
	}
	if (!fresh) {
		jv f = jv_object_set(jv_object(), jv_string("line"), jv_number((double)lineno));

		f = jv_object_set(f, jv_string("command_id"), jv_object_get(jv_copy(item),
		    jv_string("id")));
		cx_log(CX_LOG_INFO, f, "line %ld: idempotency key seen before (command %lld, %s): "
		    "not sent again", lineno,
		    (long long)jv_number_value(jv_object_get(jv_copy(item), jv_string("id"))),
		    cx_json_str(item, "state"));
	}
	jv_free(item);
	return 1;
}

/* An automation's command (a: its action.requested line) whose account is
 * another tenant's: refused, nothing stored. 0 when it may go on. */
static int foreign_account(cx_store *s, cx_ndjson_line *line, const cx_actionreq *a,
    int *status)
{
	const char *problem = NULL;
	cx_err err = { 0, "" };
	char msg[512];

	if (cx_channels_check_tenant(s, line->value, a->tenant, &problem, &err) == 0)
		return 0;
	if (err.code == CX_EXIT_NOPERM || err.code == CX_EXIT_DATAERR) {
		snprintf(msg, sizeof msg, "%s of tenant %s: %s; nothing was sent", a->actor,
		    a->tenant, err.msg);
		line_error(line->lineno, problem ? problem : "invalid", msg);
	} else {
		cx_log(CX_LOG_ERROR, jv_null(), "%s", err.msg);
	}
	publish_status(status, err.code ? err.code : CX_EXIT_TEMPFAIL);
	jv_free(line->value);
	return -1;
}

/* One command line (a: the action.requested line it came from, or NULL):
 * 1 when it was stored (or seen before), 0 when it was refused or passed
 * through. */
static int take_command(cx_store *s, const publish_conf *c, engine *e,
    cx_ndjson_line *line, const cx_actionreq *a, int *status)
{
	const char *channel = cx_json_str(line->value, "channel");
	const char *key = cx_json_str(line->value, "idempotency_key");
	const cx_channel *ch = NULL;
	cx_err err = { 0, "" };
	char *k = NULL;
	int required, rc;

	if (c->channel && channel && strcmp(channel, c->channel)) {
		cx_ndjson_write_raw(line->raw, line->len);
		jv_free(line->value);
		return 0;
	}
	if (!channel || !(ch = cx_channels_get(channel, &err)) ||
	    cx_channel_approval_required(ch, &required, &err) < 0) {
		line_error(line->lineno, "unknown_channel", channel ? err.msg :
		    "a command names its channel");
		publish_status(status, err.code == CX_EXIT_CONFIG ? CX_EXIT_CONFIG : CX_EXIT_DATAERR);
		jv_free(line->value);
		return 0;
	}
	if (required) {
		refuse_unapproved(s, ch, line, a, status);
		return 0;
	}
	if (!key && ch->default_key) {
		if (!(k = ch->default_key(line->value, &err))) {
			line_error(line->lineno, "invalid_command", err.msg);
			publish_status(status, err.code ? err.code : CX_EXIT_DATAERR);
			jv_free(line->value);
			return 0;
		}
	} else if (!key) {
		line_error(line->lineno, "missing_idempotency_key", "a command needs an "
		    "idempotency_key (a string), so it is never sent twice");
		publish_status(status, CX_EXIT_DATAERR);
		jv_free(line->value);
		return 0;
	} else {
		k = cx_xstrdup(key);
	}
	if (a && foreign_account(s, line, a, status) < 0) {
		free(k);
		return 0;
	}
	if (c->dry_run) {
		free(k);
		plan_line(e, line->value, line->lineno, status);
		return 0;
	}
	rc = accept_line(s, line->value, line->lineno, k, a ? a->actor : cx_identity_user(),
	    status);
	free(k);
	return rc;
}

int input_command(cx_store *s, const publish_conf *c, engine *e, jv line, long lineno,
    int *status)
{
	cx_ndjson_line l = { .raw = "", .len = 0, .lineno = lineno, .value = line };

	return take_command(s, c, e, &l, NULL, status);
}

/* One line: an event passes through unchanged, except an automation's
 * send_message, which is a command requested by its integration; anything
 * else is a command. */
static int take_line(cx_store *s, const publish_conf *c, engine *e,
    cx_ndjson_line *line, int *status)
{
	cx_actionreq a;
	cx_err err = { 0, "" };
	jv event;
	int rc;

	if (!is_event(line->value))
		return take_command(s, c, e, line, NULL, status);
	if ((rc = cx_actionreq_read(line->value, "send_message", &a, &err)) <= 0) {
		if (rc == 0) {
			cx_ndjson_write_raw(line->raw, line->len);
		} else {
			line_error(line->lineno, "invalid_action", err.msg);
			publish_status(status, CX_EXIT_DATAERR);
		}
		jv_free(line->value);
		return 0;
	}
	/* a's strings live in the event: it outlives the command */
	event = line->value;
	line->value = input_action_command(s, event, &a);
	rc = take_command(s, c, e, line, &a, status);
	jv_free(event);
	return rc;
}

void input_commands(cx_store *s, const publish_conf *c, engine *e, int *status)
{
	cx_ndjson_reader *r = cx_ndjson_open(0, (size_t)c->max_line);
	cx_ndjson_line line;
	int rc, stored = 0, n = 0;

	while ((rc = cx_ndjson_next(r, &line)) > 0) {
		stored += take_line(s, c, e, &line, status);
		n++;
		/* send what came so far when the writer pauses, or every BATCH lines */
		if (n >= BATCH || !cx_ndjson_wait(r, PAUSE_MS)) {
			cx_ndjson_flush();
			if (stored)
				engine_run(e, 0);
			stored = n = 0;
		}
	}
	if (rc < 0) {
		cx_log(CX_LOG_ERROR, jv_null(), "read error on stdin");
		publish_status(status, CX_EXIT_TEMPFAIL);
	}
	if (stored)
		engine_run(e, 0);
	if (cx_ndjson_rejected(r) > 0)
		publish_status(status, CX_EXIT_DATAERR);
	cx_ndjson_flush();
	cx_ndjson_close(r);
}

/* --- direct --------------------------------------------------------------- */

/* Whether key is the configured direct key (or the previous one, during a
 * rotation), compared in constant time. 0 with err when no key is set. */
static int key_matches(const char *key, int *match, cx_err *err)
{
	static const char *const names[] = { "CX_PUBLISH_DIRECT_KEY",
		"CX_PUBLISH_DIRECT_KEY_PREVIOUS" };
	int found = 0;

	*match = 0;
	for (size_t i = 0; i < 2; i++) {
		char *want = NULL;
		int rc = cx_secret_get(names[i], &want, err);

		if (rc < 0)
			return -1;
		if (rc == 0)
			continue;
		found = 1;
		if (key && *want && cx_crypto_equal(key, strlen(key), want, strlen(want)))
			*match = 1;
		cx_secret_free(want);
	}
	if (!found)
		return cx_err_set(err, CX_EXIT_CONFIG, "CX_PUBLISH_DIRECT_KEY is not set");
	return 0;
}

/* The key given with --key, or read from --key-file (a new string). */
static char *given_key(const publish_conf *c, cx_err *err)
{
	FILE *f;
	char buf[1024];
	size_t n;

	if (!c->key_file)
		return c->key ? cx_xstrdup(c->key) : NULL;
	if (!(f = fopen(c->key_file, "re"))) {
		cx_err_set(err, CX_EXIT_USAGE, "cannot read --key-file %s", c->key_file);
		return NULL;
	}
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return cx_xstrdup(buf);
}

/* Records a refused --direct use; the status is 77 (or 78 when cx-publish
 * is not configured for it). */
static void refuse(cx_store *s, jv detail, const char *reason, const char *msg,
    int code, int *status)
{
	cx_err err = { 0, "" };

	detail = jv_object_set(detail, jv_string("reason"), jv_string(reason));
	if (audit(s, "direct_publish_denied", "direct", NULL, detail, &err) < 0) {
		cx_log(CX_LOG_ERROR, jv_null(), "%s", err.msg);
		publish_status(status, CX_EXIT_TEMPFAIL);
	}
	cx_log(CX_LOG_ERROR, jv_object_set(jv_object(), jv_string("error_code"),
	    jv_string(reason)), "--direct refused: %s; nothing was sent", msg);
	publish_status(status, code);
}

/* Whether --direct may go ahead: enabled, the key matches and the Unix
 * user is an owner or admin; each refusal is audited. v is not consumed. */
static int direct_allowed(cx_store *s, const publish_conf *c, jv v, int *status)
{
	const char *actor = cx_identity_user();
	cx_err err = { 0, "" };
	int match = 0;
	char *secret;

	if (strcmp(cx_config_get("CX_PUBLISH_DIRECT_ENABLED", "false"), "true") != 0) {
		refuse(s, line_detail(v, 0), "direct_disabled",
		    "CX_PUBLISH_DIRECT_ENABLED is not true", CX_EXIT_NOPERM, status);
		return -1;
	}
	secret = given_key(c, &err);
	if ((!secret && err.code) || key_matches(secret, &match, &err) < 0) {
		refuse(s, line_detail(v, 0), err.code == CX_EXIT_CONFIG ?
		    "direct_key_unset" : "bad_key", err.msg, CX_EXIT_NOPERM, status);
		cx_secret_free(secret);
		return -1;
	}
	cx_secret_free(secret);
	if (!match) {
		refuse(s, line_detail(v, 0), c->key || c->key_file ? "bad_key" :
		    "missing_key", c->key || c->key_file ? "the key does not match" :
		    "--direct needs --key", CX_EXIT_NOPERM, status);
		return -1;
	}
	/* the role check appends its own refusal row (direct_publish_denied) */
	if (cx_store_begin(s, &err) == 0) {
		if (cx_operators_check(s, actor, CX_ROLE_ADMIN, "direct_publish_denied",
		    "publish directly", "direct", &err) < 0)
			cx_operators_end_refused(s, &err);
		else
			cx_store_commit(s, &err);
	}
	if (err.code) {
		cx_log(CX_LOG_ERROR, jv_object_set(jv_object(), jv_string("error_code"),
		    jv_string("role")), "--direct refused: %s; nothing was sent", err.msg);
		publish_status(status, err.code);
		return -1;
	}
	return 0;
}

/* A command sent with --direct that was seen before: audited, not sent. */
static void direct_seen(cx_store *s, jv item)
{
	int64_t id = (int64_t)jv_number_value(jv_object_get(jv_copy(item), jv_string("id")));
	char *subject = cx_xasprintf("command:%lld", (long long)id);
	jv d = jv_object_set(jv_object(), jv_string("command_id"), jv_number((double)id));
	cx_err err = { 0, "" };

	d = jv_object_set(d, jv_string("result"), jv_string("idempotency_key_seen"));
	if (audit(s, "direct_publish", subject, NULL, d, &err) < 0)
		cx_log(CX_LOG_ERROR, jv_null(), "%s", err.msg);
	free(subject);
	cx_log(CX_LOG_INFO, jv_null(), "idempotency key seen before (command %lld, %s): "
	    "not sent again", (long long)id, cx_json_str(item, "state"));
}

/* Checks, stores and sends the --direct command v (not consumed). */
static void direct_send(cx_store *s, const publish_conf *c, engine *e, jv v, int *status)
{
	const char *problem = NULL, *key = cx_json_str(v, "idempotency_key");
	char gen[CX_CORRELATION_ID_LEN + 8];
	cx_queue_checked checked;
	cx_err err = { 0, "" };
	int fresh, rc;
	jv item;

	if (!key) {
		char cid[CX_CORRELATION_ID_LEN];

		cx_inbox_new_correlation_id(cid);
		snprintf(gen, sizeof gen, "direct:%s", cid + 2);
		key = gen;
	}
	if (c->dry_run) {
		if (cx_channels_check(v, &checked, &problem, &err) < 0) {
			refuse(s, line_detail(v, 0), "invalid_command", err.msg, CX_EXIT_DATAERR, status);
			return;
		}
		engine_plan_item(e, jv_object_set(jv_copy(v), jv_string("meta"), jv_copy(v)), "direct");
		cx_ndjson_flush();
		return;
	}
	key = cx_xstrdup(key);
	rc = cx_commands_accept(s, jv_copy(v), "direct", key, cx_identity_user(),
	    "direct_publish", cx_channels_check, &item, &fresh, &problem, &err);
	free((char *)key);
	if (rc < 0 && err.code == CX_EXIT_DATAERR) {
		refuse(s, line_detail(v, 0), "invalid_command", err.msg, CX_EXIT_DATAERR, status);
	} else if (rc < 0) {
		cx_log(CX_LOG_ERROR, jv_null(), "%s", err.msg);
		publish_status(status, err.code ? err.code : CX_EXIT_TEMPFAIL);
	} else if (!fresh) {
		direct_seen(s, item);
		jv_free(item);
	} else {
		int64_t id = (int64_t)jv_number_value(jv_object_get(jv_copy(item), jv_string("id")));

		jv_free(item);
		engine_run(e, id);
	}
}

void input_direct(cx_store *s, const publish_conf *c, engine *e, int *status)
{
	cx_ndjson_reader *r = cx_ndjson_open(0, (size_t)c->max_line);
	cx_ndjson_line line;

	if (cx_ndjson_next(r, &line) <= 0) {
		refuse(s, jv_object(), "no_command", "--direct reads one command line on stdin, "
		    "and none came", CX_EXIT_DATAERR, status);
		cx_ndjson_close(r);
		return;
	}
	cx_ndjson_close(r);
	if (direct_allowed(s, c, line.value, status) == 0)
		direct_send(s, c, e, line.value, status);
	jv_free(line.value);
}
