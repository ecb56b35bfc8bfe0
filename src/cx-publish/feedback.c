/* feedback.c: `cx-publish feedback`, the stage that closes the e-mail loop
 * (cx-email(7)): every line on stdin goes to stdout as it came, and each
 * e-mail lifecycle event among them (email.delivered, .bounced,
 * .complained, .rejected, .delayed, .sent) is applied once per recipient
 * (emailfeedback.h): suppressions, the message's status, the tenant's
 * reputation breaker. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "emailfeedback.h"
#include "exit.h"
#include "json.h"
#include "log.h"
#include "publish_tool.h"
#include "xalloc.h"

static int rules_read(cx_email_rules *r, cx_err *err)
{
	r->soft_bounces = 3;
	r->soft_window = 7 * 86400;
	r->bounce_rate = 0.05;
	r->complaint_rate = 0.001;
	if (cx_config_int("CX_EMAIL_BREAKER_MIN_SENDS", 100, &r->breaker_min_sends, err) < 0)
		return -1;
	if (r->breaker_min_sends < 1)
		return cx_err_set(err, CX_EXIT_CONFIG, "CX_EMAIL_BREAKER_MIN_SENDS must be at least 1");
	return 0;
}

static char *lower(const char *s)
{
	char *out = cx_xstrdup(s);

	for (char *c = out; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return out;
}

/* Applies ev for recipient rcpt (may be NULL); the dedupe key is the
 * event's, or with "#<recipient>" when it names several. */
static int apply_one(cx_store *s, cx_email_event ev, jv rcpt, int several,
    const cx_email_rules *rules, cx_err *err)
{
	char *addr = jv_get_kind(rcpt) == JV_KIND_STRING ? lower(jv_string_value(rcpt)) : NULL;
	char *key = several && addr ? cx_xasprintf("%s#%s", ev.dedupe_key, addr) : NULL;
	cx_email_effect eff;
	int rc;

	ev.recipient = addr;
	if (key)
		ev.dedupe_key = key;
	rc = cx_email_feedback_apply(s, &ev, rules, &eff, err);
	if (rc == 0 && eff.paused) {
		jv f = jv_object_set(jv_object(), jv_string("tenant"), jv_string(ev.tenant));

		f = jv_object_set(f, jv_string("error_code"), jv_string("REPUTATION_BREAKER"));
		cx_log(CX_LOG_ERROR, f, "tenant %s's e-mail is paused: bounce or complaint rate "
		    "over the limit (cx tenants resume %s --channel email)", ev.tenant, ev.tenant);
	}
	free(addr);
	free(key);
	jv_free(rcpt);
	return rc;
}

/* The recipients of an event: data.bounce.recipient, else data.to. */
static jv recipients(jv data)
{
	jv bounce = jv_object_get(jv_copy(data), jv_string("bounce"));
	const char *r = jv_get_kind(bounce) == JV_KIND_OBJECT ? cx_json_str(bounce, "recipient") :
	    NULL;
	jv list = r ? JV_ARRAY(jv_string(r)) : jv_object_get(jv_copy(data), jv_string("to"));

	jv_free(bounce);
	if (jv_get_kind(list) == JV_KIND_STRING)
		list = JV_ARRAY(list);
	if (jv_get_kind(list) != JV_KIND_ARRAY) {
		jv_free(list);
		list = JV_ARRAY(jv_null());
	}
	return list;
}

static int apply_event(cx_store *s, jv e, const cx_email_rules *rules, cx_err *err)
{
	jv data = jv_object_get(jv_copy(e), jv_string("data"));
	jv bounce = jv_get_kind(data) == JV_KIND_OBJECT ?
	    jv_object_get(jv_copy(data), jv_string("bounce")) : jv_null();
	const char *tenant = cx_json_str(e, "tenant");
	cx_email_event ev = {
		.dedupe_key = cx_json_str(e, "dedupe_key"), .type = cx_json_str(e, "type"),
		.tenant = tenant ? tenant : "default",
		.correlation_id = cx_json_str(e, "correlation_id"),
	};
	jv list;
	int n, rc = 0;

	if (jv_get_kind(data) != JV_KIND_OBJECT || !ev.dedupe_key) {
		jv_free(data);
		jv_free(bounce);
		return 0;
	}
	ev.message_id = cx_json_str(data, "message_id");
	ev.provider_message_id = cx_json_str(data, "provider_message_id");
	if (jv_get_kind(bounce) == JV_KIND_OBJECT) {
		ev.bounce_type = cx_json_str(bounce, "type");
		ev.detail = cx_json_str(bounce, "diagnostic");
	}
	list = recipients(data);
	n = jv_array_length(jv_copy(list));
	for (int i = 0; i < n && rc == 0; i++)
		rc = apply_one(s, ev, jv_array_get(jv_copy(list), i), n > 1, rules, err);
	jv_free(list);
	jv_free(bounce);
	jv_free(data);
	return rc;
}

/* An e-mail lifecycle event (not inbound mail). */
static int lifecycle(jv v)
{
	const char *type = cx_json_str(v, "type");
	jv version = jv_object_get(jv_copy(v), jv_string("v"));
	int ok = jv_get_kind(version) == JV_KIND_NUMBER && type &&
	    strncmp(type, "email.", 6) == 0 && strcmp(type, "email.received") != 0;

	jv_free(version);
	return ok;
}

int publish_feedback(cx_store *s, const publish_conf *c)
{
	cx_ndjson_reader *r = cx_ndjson_open(0, (size_t)c->max_line);
	cx_email_rules rules;
	cx_ndjson_line line;
	cx_err err = { 0, "" };
	int rc, status = CX_EXIT_OK;

	if (rules_read(&rules, &err) < 0) {
		cx_ndjson_close(r);
		cx_log(CX_LOG_ERROR, jv_null(), "%s", err.msg);
		return err.code;
	}
	while ((rc = cx_ndjson_next(r, &line)) == 1) {
		if (lifecycle(line.value) && apply_event(s, line.value, &rules, &err) < 0) {
			cx_log(CX_LOG_ERROR, jv_null(), "line %ld: %s", line.lineno, err.msg);
			jv_free(line.value);
			status = err.code ? err.code : CX_EXIT_TEMPFAIL;
			break;
		}
		cx_ndjson_write_raw(line.raw, line.len);
		jv_free(line.value);
		if (!cx_ndjson_ready(r) && cx_ndjson_flush() < 0)
			break;
	}
	if (rc < 0)
		status = CX_EXIT_TEMPFAIL;
	else if (status == CX_EXIT_OK && cx_ndjson_rejected(r) > 0)
		status = CX_EXIT_DATAERR;
	cx_ndjson_flush();
	cx_ndjson_close(r);
	return status;
}
