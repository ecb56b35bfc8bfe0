/* publish_tool.h: what the parts of cx-publish share: the settings of a
 * run, the engine that claims and sends (engine.c), stdin commands and
 * --direct (input.c), automations' send_message (action.c),
 * reconciliation (unknown.c) and the latency histogram (latency.c). Items handed to these functions are consumed; the store
 * stays the caller's. */
#ifndef CX_PUBLISH_TOOL_H
#define CX_PUBLISH_TOOL_H

#include <stdint.h>

#include <jv.h>

#include "actionreq.h"
#include "err.h"
#include "ndjson.h"
#include "store.h"

/* The command line and the settings it leads to. */
typedef struct {
	const char *db, *config, *channel, *key, *key_file;
	const char *ref;            /* resolve --ref */
	const char *subscription;   /* dlq --subscription */
	long long max, max_attempts, max_line, concurrency;
	int dry_run, direct, published, no_progress;
} publish_conf;

/* The worst exit status so far: a refusal (77) outranks a configuration
 * error (78), bad input (65), a temporary failure (75) and failed items (1). */
void publish_status(int *status, int code);

typedef struct engine engine;

/* Reads the CX_PUBLISH_* settings; CX_EXIT_CONFIG when one is malformed. */
int engine_open(engine **e, cx_store *s, const publish_conf *c, cx_err *err);
void engine_close(engine *e);
/* Claims and sends what is due (only command only_id when it is > 0) until
 * nothing due is left, writing post.* lines on stdout. */
void engine_run(engine *e, int64_t only_id);
/* What a run would send now, one plan line each, without claiming. */
void engine_plan(engine *e);
/* The plan line of one item (consumed), for --dry-run. */
void engine_plan_item(engine *e, jv item, const char *source);
/* The exit status of everything the engine did. */
int engine_status(const engine *e);
/* Asks the engine to stop claiming (SIGINT, SIGTERM). */
void engine_stop(void);

/* Moves publishing items whose lease ran out to unknown. */
int publish_expire_leases(cx_store *s, int *status);

/* Reconciles unknown items (channel NULL: all) through their channels'
 * reconcile (unknown.c); explicit is 1 for `cx-publish reconcile`, where
 * items that cannot be checked make the status 1. */
void publish_reconcile(cx_store *s, const char *channel, int explicit, int *status);

/* `cx-publish feedback`: stdin to stdout unchanged, applying the e-mail
 * lifecycle events among the lines (feedback.c); the exit status. */
int publish_feedback(cx_store *s, const publish_conf *c);

/* `cx-publish triggers`: stdin to stdout unchanged, enqueueing the trigger
 * deliveries of the events among the lines, then delivering what is due
 * (triggers.c); the exit status. */
int publish_triggers(cx_store *s, const publish_conf *c);
/* `cx-publish dlq list` and `dlq replay` (dlq.c), on the operands from
 * first on; the exit status. */
int publish_dlq_list(cx_store *s, const publish_conf *c);
int publish_dlq_replay(cx_store *s, const publish_conf *c, int argc, char **argv,
    int first);

/* Latencies of one channel's send requests (answered or not), gathered in
 * memory between commits. Bucket i holds those above bound i - 1 and up
 * to bound i (5 ms to 60 s, then +Inf). */
#define PUBLISH_LATENCY_BUCKETS 14
typedef struct {
	int64_t bucket[PUBLISH_LATENCY_BUCKETS];
	int64_t count, sum_ms;
} publish_latency;

void publish_latency_observe(publish_latency *h, int64_t ms);
/* Adds h to the counters of the histogram cx_publish_latency_seconds of
 * channel (SPEC §4: kept in the state file, so `cx metrics` shows what
 * every run measured): _bucket{channel,le} (cumulative, as Prometheus reads
 * them), _count{channel}, and the sum as
 * cx_publish_latency_milliseconds_total{channel} (counters are integers).
 * Inside the caller's transaction, so the histogram counts exactly the
 * requests whose outcomes it settles; h is cleared (also after an error,
 * when the caller rolls back what it measured with the outcomes). A
 * delivery channel's (s3, sheets, upload: a whole transfer each) go to
 * cx_delivery_latency_seconds{channel} as well. */
int publish_latency_add(cx_store *s, const char *channel, publish_latency *h,
    cx_err *err);

/* The command line (the caller's) that the send_message of an
 * action.requested line event (not consumed) becomes, read as a: its
 * fields, its channel's message kind and, when the channel names the
 * account it sends from, the tenant's only account of it (action.c). */
jv input_action_command(cx_store *s, jv event, const cx_actionreq *a);

/* Reads command lines from stdin and sends those their channel's policy
 * lets through; an automation's send_message (action.requested) is one. */
void input_commands(cx_store *s, const publish_conf *c, engine *e, int *status);
/* One command line (consumed; lineno names it in errors) taken as stdin's
 * are: 1 when it was stored (or seen before), 0 when it was refused. */
int input_command(cx_store *s, const publish_conf *c, engine *e, jv line, long lineno,
    int *status);
/* `cx-publish sheets --from-csv`: the CSV rows not appended yet, as sheets
 * command lines, then sent (sheets.c); the exit status. */
int publish_sheets(int argc, char **argv);
/* --direct: one line from stdin, checked and sent, every use audited. */
void input_direct(cx_store *s, const publish_conf *c, engine *e, int *status);

#endif
