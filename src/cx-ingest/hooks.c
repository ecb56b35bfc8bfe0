/* hooks.c: the automation API's routes besides the actions: GET
 * /integrations/me (Zapier's test of a key), POST /hooks and DELETE
 * /hooks/<id> (Zapier's REST hooks, subscriptions of origin "hook"), and
 * GET /triggers/<event> (the latest sanitized events, Zapier's samples). */
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "exit.h"
#include "inbox.h"
#include "json.h"
#include "log.h"
#include "subscriptions.h"
#include "triggers.h"
#include "xalloc.h"

#define SAMPLES_DEFAULT 10
#define SAMPLES_MAX 100

static void refuse(action_verdict *v, const char *message, const char *path)
{
	actions_verdict(v, 422, "VALIDATION_FAILED", message, path);
}

/* POST /hooks: {"event": TYPE, "target_url": URL}. */
static void begin_hook(action_call *c)
{
	cx_err err = { 0, "" };
	const char *event, *url;

	if (!c->body || cx_json_check(c->body, c->len) != CX_JSON_OBJECT) {
		refuse(&c->early, "the body is not a JSON object", NULL);
		return;
	}
	c->input = jv_parse_sized(c->body, (int)c->len);
	event = cx_json_str(c->input, "event");
	url = cx_json_str(c->input, "target_url");
	if (!event || !cx_subscriptions_valid_event(event, &err))
		refuse(&c->early, "must be an event type", "/event");
	else if (!url || !cx_subscriptions_valid_url(url, &err))
		refuse(&c->early, "must be an http or https URL", "/target_url");
}

/* GET /triggers/<event>?limit=N. */
static void begin_triggers(action_call *c, struct MHD_Connection *conn)
{
	const char *limit = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
	    "limit");
	char *end;
	long n;

	c->limit = SAMPLES_DEFAULT;
	if (!limit)
		return;
	n = strtol(limit, &end, 10);
	if (end == limit || *end || n < 1 || n > SAMPLES_MAX)
		refuse(&c->early, "limit must be an integer from 1 to 100", NULL);
	else
		c->limit = n;
}

void hooks_begin(action_call *c, struct MHD_Connection *conn)
{
	if (c->route == ROUTE_HOOK_ADD)
		begin_hook(c);
	else if (c->route == ROUTE_TRIGGERS)
		begin_triggers(c, conn);
}

static void answer_me(action_call *c, const cx_integration *in)
{
	jv me = jv_object(), scopes = jv_array();
	const char *p = in->scopes;

	while (*p) {
		size_t n = strcspn(p, " ");

		if (n)
			scopes = jv_array_append(scopes, jv_string_sized(p, (int)n));
		p += n + (p[n] == ' ');
	}
	me = jv_object_set(me, jv_string("integration_id"), jv_string(in->id));
	me = jv_object_set(me, jv_string("tenant"), jv_string(in->tenant));
	me = jv_object_set(me, jv_string("kind"), jv_string(in->kind));
	me = jv_object_set(me, jv_string("scopes"), scopes);
	actions_answer_json(c, 200, me);
}

/* Whether in may use trigger:<event>; answers 403 when not. */
static int trigger_allowed(action_call *c, const cx_integration *in, const char *event)
{
	char *scope = cx_xasprintf("trigger:%s", event);
	int ok = cx_integrations_has_scope(in, scope);

	free(scope);
	if (!ok)
		actions_answer_error(c, 403, "FORBIDDEN",
		    "the integration's scopes do not allow this trigger", NULL);
	return ok;
}

static int add_hook(action_call *c, cx_store *s, const cx_integration *in,
    const char *actor, cx_err *err)
{
	const char *event = cx_json_str(c->input, "event");
	char *id = NULL;
	jv ok;

	if (!trigger_allowed(c, in, event))
		return 0;
	if (!actions_token_keys()) {
		cx_log(CX_LOG_ERROR, jv_null(), "POST /hooks needs CX_TOKEN_KEY to seal "
		    "the subscription's signing secret");
		actions_answer_error(c, 503, "UNAVAILABLE",
		    "subscriptions are not available now; try again later", NULL);
		return 0;
	}
	cx_inbox_new_correlation_id(c->correlation_id);
	if (cx_subscriptions_create_in(s, actions_token_keys(), in->id, event,
	    cx_json_str(c->input, "target_url"), "hook", actor, c->correlation_id, &id,
	    NULL, err) < 0) {
		if (err->code == CX_EXIT_NOPERM)
			actions_answer_error(c, 403, "FORBIDDEN",
			    "the integration may not subscribe to this event", NULL);
		else if (err->code == CX_EXIT_USAGE)
			actions_answer_error(c, 422, "VALIDATION_FAILED",
			    "the subscription is not valid", NULL);
		return err->code == CX_EXIT_NOPERM || err->code == CX_EXIT_USAGE ? 0 : -1;
	}
	ok = jv_object_set(jv_object(), jv_string("id"), jv_string(id));
	free(id);
	actions_answer_json(c, 201, ok);
	return 0;
}

static int delete_hook(action_call *c, cx_store *s, const cx_integration *in,
    const char *actor, cx_err *err)
{
	int found = 0;

	cx_inbox_new_correlation_id(c->correlation_id);
	if (cx_subscriptions_delete_in(s, c->path_id, in->id, actor, c->correlation_id,
	    &found, err) < 0)
		return -1;
	if (found)
		actions_answer_json(c, 200, jv_object_set(jv_object(), jv_string("ok"),
		    jv_true()));
	else
		actions_answer_error(c, 404, "NOT_FOUND", "no such subscription", NULL);
	return 0;
}

static int samples(action_call *c, cx_store *s, const cx_integration *in, cx_err *err)
{
	jv out;

	if (!trigger_allowed(c, in, c->path_id))
		return 0;
	if (cx_trigger_samples_latest(s, in->tenant, c->path_id, c->limit, &out, err) < 0)
		return -1;
	actions_answer_json(c, 200, out);
	return 0;
}

int hooks_run(action_call *c, cx_store *s, const cx_integration *in, cx_err *err)
{
	char *actor;
	int rc = 0;

	if (c->early.status) {
		actions_answer_verdict(c, &c->early);
		return 0;
	}
	actor = cx_xasprintf("integration:%s", in->id);
	switch (c->route) {
	case ROUTE_ME: answer_me(c, in); break;
	case ROUTE_HOOK_ADD: rc = add_hook(c, s, in, actor, err); break;
	case ROUTE_HOOK_DELETE: rc = delete_hook(c, s, in, actor, err); break;
	case ROUTE_TRIGGERS: rc = samples(c, s, in, err); break;
	default: break;
	}
	free(actor);
	return rc;
}
