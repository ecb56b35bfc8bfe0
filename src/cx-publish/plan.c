/* plan.c: cx-publish --dry-run: what a run would send now, one plan line
 * per item (the request it would make, or why it cannot), nothing claimed. */
#include <stdlib.h>
#include <string.h>

#include "channels.h"
#include "clock.h"
#include "commands.h"
#include "state.h"
#include "exit.h"
#include "log.h"
#include "url.h"

void engine_plan_item(engine *e, jv item, const char *source)
{
	const char *code = NULL;
	cx_channel_call call;
	cx_err err = { 0, "" };
	jv plan = jv_object_set(jv_object(), jv_string("dry_run"), jv_true()), id;

	plan = jv_object_set(plan, jv_string("source"), jv_string(source));
	id = jv_object_get(jv_copy(item), jv_string("id"));
	/* a stdin line has no id yet */
	plan = jv_object_set(plan, jv_string(strcmp(source, "queue") ? "command_id" : "queue_id"),
	    jv_is_valid(id) ? id : jv_null());
	plan = jv_object_set(plan, jv_string("channel"), jv_string(str_of(item, "channel")));
	plan = jv_object_set(plan, jv_string("kind"), jv_string(str_of(item, "kind")));
	plan = jv_object_set(plan, jv_string("tenant"), jv_string(str_of(item, "tenant")));
	if (cx_channels_call_build(item, &call, &code, &err) < 0) {
		plan = jv_object_set(plan, jv_string("error_code"), jv_string(code));
		plan = jv_object_set(plan, jv_string("error"), jv_string(err.msg));
		publish_status(&e->status, CX_EXIT_SOME_FAILED);
	} else if (!call.url) {
		plan = jv_object_set(plan, jv_string("request"), jv_string("made when it is "
		    "sent, by the tenant's plan and the channel's rules"));
		cx_channel_call_free(&call);
	} else {
		char *where = cx_url_for_log(call.url);

		plan = jv_object_set(plan, jv_string("method"), jv_string("POST"));
		plan = jv_object_set(plan, jv_string("url"), jv_string(where));
		plan = jv_object_set(plan, jv_string("token"), jv_string(call.provider));
		plan = jv_object_set(plan, jv_string("idempotency_key"),
		    jv_string(call.idempotency_key));
		plan = jv_object_set(plan, jv_string("body"), jv_parse(call.body));
		free(where);
		cx_channel_call_free(&call);
	}
	jv_free(item);
	cx_ndjson_write(plan);
}

typedef struct {
	engine *e;
	const char *source;
	int64_t now, listed;
} plan_ctx;

static void plan_one(jv item, void *ctx)
{
	plan_ctx *p = ctx;
	int64_t due = 0;
	const char *at = cx_json_str(item, "next_attempt_at");

	if ((at && cx_clock_parse_rfc3339(at, &due) == 0 && due > p->now) ||
	    (p->e->max > 0 && p->listed >= p->e->max)) {
		jv_free(item);
		return;
	}
	p->listed++;
	engine_plan_item(p->e, item, p->source);
}

void engine_plan(engine *e)
{
	plan_ctx p = { e, "command", cx_clock_now(), 0 };
	cx_err err = { 0, "" };

	if (cx_commands_list(e->s, "approved", e->channel, plan_one, &p, &err) < 0)
		goto fail;
	p.source = "queue";
	if (cx_queue_list(e->s, "approved", e->channel, plan_one, &p, &err) < 0)
		goto fail;
	cx_ndjson_flush();
	return;
fail:
	cx_log(CX_LOG_ERROR, jv_null(), "%s", err.msg);
	publish_status(&e->status, err.code ? err.code : CX_EXIT_TEMPFAIL);
}
