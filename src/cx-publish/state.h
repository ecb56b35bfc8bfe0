/* state.h: what the send loop (engine.c), its writer thread (writer.c)
 * and the dry run (plan.c) of cx-publish share: the engine, its jobs and
 * lanes, and the work of one commit. The send loop owns the engine; the
 * writer touches only the work handed to it (engine.c says how). */
#ifndef CX_PUBLISH_STATE_H
#define CX_PUBLISH_STATE_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include <jv.h>

#include "breaker.h"
#include "channel.h"
#include "httpmulti.h"
#include "json.h"
#include "progress.h"
#include "publish_tool.h"
#include "queue.h"
#include "ratelimit.h"

typedef struct job {
	int command;                /* from publish_commands, else from the queue */
	int64_t id, attempts;
	jv item;
	const cx_channel *channel;  /* the item's, once its call is built */
	struct lane *lane;
	cx_channel_call call;
	int prepared;               /* its channel's prepare said go */
	int started;                /* sent: its lane counts it active */
	int64_t claimed_ms;         /* monotonic */
	cx_queue_outcome o;         /* settling: where it goes */
	char *ref, *code, *detail;  /* o's strings, owned */
	jv event;                   /* settled: its post.* line, or null */
	char *refused;              /* settled: why the state file refused it */
	char *batch_key;            /* its channel batches items: theirs */
	struct job *members;        /* a batch's other items (by batch_next) */
	size_t nmembers;
	struct job *batch_next;
	struct job *next;
} job;

/* What the engine knows of one channel and tenant. */
typedef struct lane {
	char *key;
	char *channel;
	cx_ratelimit limit;
	int tokens;                 /* taken from the shared bucket, not yet used */
	int want;                   /* jobs waiting for it, while a commit counts */
	int64_t retry_ms;           /* monotonic: ask the bucket again then */
	int64_t hold_until;         /* epoch: the provider asked to wait until */
	int64_t open_until;         /* epoch: the breaker is open until */
	int64_t failures;           /* as the breaker last said */
	int64_t read_ms;            /* monotonic: breaker state read then */
	publish_latency latency; /* of its requests since the last commit */
	int serial;                 /* its channel sends one item at a time, each
	                               after the last one's outcome is committed */
	int active;                 /* jobs started and not yet committed */
	struct lane *next;
} lane;

/* Tokens that settings give (a channel's token_setting), read once. */
typedef struct fixed_token {
	const char *setting;
	char *value;                /* NULL when the setting is not set */
	struct fixed_token *next;
} fixed_token;

/* Tokens by provider and workspace, for the length of a run. */
typedef struct token {
	char *provider, *workspace;
	char *value;                /* NULL when it could not be had: err */
	cx_err err;
	int64_t got_ms;
	struct token *next;
} token;

/* What the engine asks of the bucket of a lane, in a commit. */
typedef struct {
	char *key;
	cx_ratelimit limit;
	int want, have;             /* jobs waiting for it, tokens it holds */
	int64_t retry_ms;           /* monotonic: not before */
	int asked;                  /* out: the bucket was asked */
	int granted;                /* out */
	int64_t wait_ms;            /* out: with nothing granted, when to ask again */
} token_ask;

/* One commit, handed to the writer: every outcome that is ready, the
 * latency of those requests, the claims the window has room for and the
 * rate-limit tokens the waiting jobs need, with what became of them. */
typedef struct {
	job *batch;                 /* outcomes: the writer fills their events */
	publish_latency *latency;  /* one per lane with requests */
	char **latency_channel;
	size_t nlatency;
	int64_t room, only_id;      /* claims: up to room (0: none) */
	token_ask *asks;
	size_t nasks, capasks;
	jv commands, items;         /* out: claimed */
	int drained;                /* out: fewer were due than there was room for */
	int rc;                     /* out */
	cx_err err;                 /* out */
} commit_work;

/* The writer thread: commits on a connection of its own while the send loop
 * goes on, so a slow fsync holds up no request. It touches only the work
 * handed to it (under mu: busy while it commits, ready when it is done). */
typedef struct writer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	cx_store *s;
	int busy, ready, quit, running;
	commit_work w;
} writer;

struct engine {
	cx_store *s;
	const char *channel;
	int64_t max, claimed, max_attempts, concurrency, lease;
	int64_t backoff_base, backoff_max, max_wait_ms;
	cx_breaker breaker;
	char owner[96];
	int dry_run;
	fixed_token *fixed;
	cx_httpmulti *m;
	job *head, *tail;           /* claimed, waiting to be sent */
	job *settling, *settling_tail;  /* outcomes for the next commit */
	writer *writer;
	size_t waiting, inflight;
	int64_t smtp_connections;   /* CX_SMTP_CONNECTIONS: SMTP transfers at once */
	int64_t smtp_inflight;
	lane *lanes;
	token *tokens;
	int status;
	int stopped;                /* a store failure: claim nothing more */
	cx_progress progress;       /* items settled of those claimed */
	int64_t settled;
	pthread_mutex_t xmu;        /* guards xdone */
	struct xfer *xdone;         /* transfers over, to be taken in (transfer.c) */
	int64_t xrunning;           /* transfers started and not yet taken in */
};

static inline int64_t num_of(jv item, const char *key)
{
	jv v = jv_object_get(jv_copy(item), jv_string(key));
	int64_t n = jv_get_kind(v) == JV_KIND_NUMBER ? (int64_t)jv_number_value(v) : 0;

	jv_free(v);
	return n;
}

static inline const char *str_of(jv item, const char *key)
{
	const char *v = cx_json_str(item, key);

	return v ? v : "";
}

/* Where job j's answer r (from a request or a transfer) takes it: the
 * verdict's outcome for the next commit, the breaker and the lane's hold. */
void engine_judged(engine *e, job *j, cx_channel_result *r, jv logfields);
/* Records where job j goes (and the other items of its batch, when it
 * has one that has not gone out); the next commit settles it. */
void engine_settle(engine *e, job *j, cx_queue_outcome o);
void engine_job_free(job *j);
/* Log fields naming an item. */
jv engine_fields(const job *j);

/* Starts job j (with its batch) on a thread of its own, with the token
 * (may be NULL); -1 with err when the thread cannot be had. */
int transfer_start(engine *e, job *j, const char *tok, cx_err *err);
/* Takes in the transfers that are over: each item's outcome. */
void transfer_collect(engine *e);
/* Waits for every transfer still running and takes it in. */
void transfer_drain(engine *e);
/* Set when cx-publish is told to stop (engine_stop). */
extern volatile sig_atomic_t stop_requested;

/* The writer's side of the three-failures rule (rollback.c), in the
 * commit's transaction: after job j (its channel has rollback) settled. */
int rollback_settled(cx_store *s, const job *j, cx_err *err);

/* The ask of lane key in w; *fresh (may be NULL) gets 1 when it is new. */
token_ask *writer_ask(commit_work *w, const char *key, int *fresh);
/* The writer thread (arg: the engine): runs each commit handed to it. */
void *writer_main(void *arg);
/* Waits until the writer is idle. */
void writer_wait(writer *wr);

#endif
