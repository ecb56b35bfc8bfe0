/* action.c: cx-approve enqueue's automation lines: an action.requested
 * line of enqueue_post becomes a proposal like any other, proposed by its
 * integration ("integration:<id>"), with the line's correlation id, once
 * per action however often the line comes. An integration only proposes:
 * deciding stays with the operators, who are people. */
#include "actionreq.h"
#include "approve.h"
#include "channels.h"
#include "exit.h"
#include "json.h"
#include "log.h"
#include "queue.h"

int approve_action(cx_store *s, jv v, long lineno, jv *event, const char **problem,
    cx_err *err)
{
	cx_actionreq a;
	int64_t seen;
	jv p;
	int rc = cx_actionreq_read(v, "enqueue_post", &a, err);

	if (rc <= 0) {
		*problem = "invalid_action";
		return rc;
	}
	p = cx_actionreq_command(v, &a);
	/* an integration posts only from its own tenant's accounts */
	if (cx_channels_check_tenant(s, p, a.tenant, problem, err) < 0) {
		jv_free(p);
		return -1;
	}
	if (cx_queue_enqueue_once(s, p, a.actor, cx_channels_check, event, &seen, problem,
	    err) < 0)
		return -1;
	if (seen > 0) {
		jv f = jv_object_set(jv_object(), jv_string("line"), jv_number((double)lineno));

		f = jv_object_set(f, jv_string("queue_id"), jv_number((double)seen));
		cx_log(CX_LOG_INFO, f, "line %ld: action %s seen before (queue item %lld): "
		    "not queued again", lineno, a.key, (long long)seen);
	}
	return 1;
}
