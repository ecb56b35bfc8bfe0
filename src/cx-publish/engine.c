/* engine.c: the send loop of cx-publish. Due items (queue items and stdin
 * commands) are claimed, each goes through its lane ("<channel>:<tenant>":
 * circuit breaker, rate limit, provider hold), gets a token, and is sent on
 * one curl multi handle with up to CX_PUBLISH_CONCURRENCY requests in
 * flight; every answer is judged (publish.h). Outcomes and claims share
 * transactions (a group commit, as cx-ingest serve's), run by a writer
 * thread on a connection of its own while the send loop goes on: each
 * commit settles every outcome that was ready when it began, with its
 * audit row and counters (the latency histogram's too), claims what the
 * window has room for and takes the rate-limit tokens the waiting jobs
 * need. Nothing claimed is sent before its commit, so a crash at any point
 * leaves an item approved (never sent), publishing (its lease runs out:
 * unknown, reconciled) or settled. The send loop keeps the lanes, the jobs
 * and stdout; the writer touches only the work handed to it.
 *
 * An item that cannot go now for a local reason (its lane's breaker is
 * open, its tenant's bucket is empty for longer than
 * CX_PUBLISH_MAX_WAIT_SECONDS, the provider asked to wait) goes back to
 * approved for later, never to dead: only failed attempts at the provider
 * (and tokens that cannot be had) count towards --max-attempts. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backoff.h"
#include "breaker.h"
#include "clock.h"
#include "commands.h"
#include "config.h"
#include "crypto.h"
#include "exit.h"
#include "httpmulti.h"
#include "identity.h"
#include "json.h"
#include "log.h"
#include "oauth.h"
#include "presets.h"
#include "progress.h"
#include "publish.h"
#include "publish_tool.h"
#include "queue.h"
#include "ratelimit.h"
#include "xalloc.h"

typedef struct job {
	int command;                /* from publish_commands, else from the queue */
	int64_t id, attempts;
	jv item;
	struct lane *lane;
	cx_publish_call call;
	int64_t claimed_ms;         /* monotonic */
	cx_queue_outcome o;         /* settling: where it goes */
	char *ref, *code, *detail;  /* o's strings, owned */
	jv event;                   /* settled: its post.* line, or null */
	char *refused;              /* settled: why the state file refused it */
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
	cx_publish_latency latency; /* of its requests since the last commit */
	struct lane *next;
} lane;

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
	cx_publish_latency *latency;  /* one per lane with requests */
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
	char *meta_token;           /* CX_META_ACCESS_TOKEN, when set */
	cx_httpmulti *m;
	job *head, *tail;           /* claimed, waiting to be sent */
	job *settling, *settling_tail;  /* outcomes for the next commit */
	writer *writer;
	size_t waiting, inflight;
	lane *lanes;
	token *tokens;
	int status;
	int stopped;                /* a store failure: claim nothing more */
	cx_progress progress;       /* items settled of those claimed */
	int64_t settled;
};

static volatile sig_atomic_t stop_requested;

void engine_stop(void)
{
	stop_requested = 1;
}

void publish_status(int *status, int code)
{
	static const int rank[] = { CX_EXIT_OK, CX_EXIT_SOME_FAILED, CX_EXIT_TEMPFAIL,
		CX_EXIT_UNAVAILABLE, CX_EXIT_DATAERR, CX_EXIT_USAGE, CX_EXIT_CONFIG,
		CX_EXIT_NOPERM };
	int a = 0, b = 0;

	for (int i = 0; i < (int)(sizeof rank / sizeof rank[0]); i++) {
		if (rank[i] == *status)
			a = i;
		if (rank[i] == code)
			b = i;
	}
	if (b > a)
		*status = code;
}

static void job_free(job *j)
{
	jv_free(j->item);
	jv_free(j->event);
	cx_publish_call_free(&j->call);
	free(j->ref);
	free(j->code);
	free(j->detail);
	free(j->refused);
	free(j);
}

/* --- settings ------------------------------------------------------------- */

static int setting(const char *name, int64_t def, int64_t min, int64_t *out, cx_err *err)
{
	if (cx_config_int(name, def, out, err) < 0)
		return -1;
	if (*out < min)
		return cx_err_set(err, CX_EXIT_CONFIG, "%s must be at least %lld", name,
		    (long long)min);
	return 0;
}

int engine_open(engine **out, cx_store *s, const publish_conf *c, cx_err *err)
{
	engine *e = cx_xcalloc(1, sizeof *e);
	int64_t timeout, wait;
	char host[64] = "";
	uint32_t r = 0;
	int rc;

	e->s = s;
	e->channel = c->channel;
	e->max = c->max;
	e->max_attempts = c->max_attempts;
	e->dry_run = c->dry_run;
	cx_progress_start(&e->progress, "cx-publish", "items settled", -1, c->no_progress);
	if (setting("CX_PUBLISH_CONCURRENCY", 16, 1, &e->concurrency, err) < 0 ||
	    setting("CX_HTTP_TIMEOUT_SECONDS", 30, 1, &timeout, err) < 0 ||
	    setting("CX_PUBLISH_LEASE_SECONDS", 300, 1, &e->lease, err) < 0 ||
	    setting("CX_PUBLISH_BACKOFF_BASE_SECONDS", 30, 1, &e->backoff_base, err) < 0 ||
	    setting("CX_PUBLISH_BACKOFF_MAX_SECONDS", 3600, 1, &e->backoff_max, err) < 0 ||
	    setting("CX_PUBLISH_MAX_WAIT_SECONDS", 10, 0, &wait, err) < 0 ||
	    setting("CX_PUBLISH_BREAKER_THRESHOLD", 5, 1, &e->breaker.threshold, err) < 0 ||
	    setting("CX_PUBLISH_BREAKER_COOLDOWN_SECONDS", 60, 1, &e->breaker.cooldown,
	    err) < 0)
		goto fail;
	if (cx_publish_check_settings(err) < 0)
		goto fail;
	if (e->concurrency > 256)
		e->concurrency = 256;
	/* an item claimed now must be settled before its lease runs out */
	if (e->lease < 2 * timeout + wait) {
		cx_err_set(err, CX_EXIT_CONFIG, "CX_PUBLISH_LEASE_SECONDS (%lld) must cover two "
		    "request timeouts and the longest wait (%lld s)", (long long)e->lease,
		    (long long)(2 * timeout + wait));
		goto fail;
	}
	e->max_wait_ms = wait * 1000;
	if ((rc = cx_secret_get("CX_META_ACCESS_TOKEN", &e->meta_token, err)) < 0)
		goto fail;
	gethostname(host, sizeof host - 1);
	cx_crypto_random(&r, sizeof r);
	snprintf(e->owner, sizeof e->owner, "cx-publish:%s:%ld:%08x", host, (long)getpid(), r);
	if (!(e->m = cx_httpmulti_new(0))) {
		cx_err_set(err, CX_EXIT_TEMPFAIL, "cannot start libcurl");
		goto fail;
	}
	e->writer = cx_xcalloc(1, sizeof *e->writer);
	pthread_mutex_init(&e->writer->mu, NULL);
	pthread_cond_init(&e->writer->cv, NULL);
	e->writer->w.commands = e->writer->w.items = jv_invalid();
	if (cx_store_open(cx_store_path(s), &e->writer->s, err) < 0)
		goto fail;
	/* the writer reads it too: fill its cache before there are two threads */
	(void)cx_identity_user();
	*out = e;
	return 0;
fail:
	engine_close(e);
	return -1;
}

void engine_close(engine *e)
{
	if (!e)
		return;
	cx_progress_end(&e->progress);
	cx_httpmulti_free(e->m);
	for (lane *l = e->lanes, *n; l; l = n) {
		n = l->next;
		free(l->key);
		free(l->channel);
		free(l);
	}
	for (token *t = e->tokens, *n; t; t = n) {
		n = t->next;
		free(t->provider);
		free(t->workspace);
		cx_secret_free(t->value);
		free(t);
	}
	for (job *j = e->head, *n; j; j = n) {
		n = j->next;
		job_free(j);
	}
	for (job *j = e->settling, *n; j; j = n) {
		n = j->next;
		job_free(j);
	}
	if (e->writer) {
		cx_store_close(e->writer->s);
		pthread_mutex_destroy(&e->writer->mu);
		pthread_cond_destroy(&e->writer->cv);
		free(e->writer->w.asks);
		free(e->writer);
	}
	cx_secret_free(e->meta_token);
	free(e);
}

int engine_status(const engine *e)
{
	return e->status;
}

/* --- items ---------------------------------------------------------------- */

static int64_t num_of(jv item, const char *key)
{
	jv v = jv_object_get(jv_copy(item), jv_string(key));
	int64_t n = jv_get_kind(v) == JV_KIND_NUMBER ? (int64_t)jv_number_value(v) : 0;

	jv_free(v);
	return n;
}

static const char *str_of(jv item, const char *key)
{
	const char *v = cx_json_str(item, key);

	return v ? v : "";
}

/* Log fields naming an item. */
static jv fields(const job *j)
{
	jv f = jv_object_set(jv_object(), jv_string(j->command ? "command_id" : "queue_id"),
	    jv_number((double)j->id));

	f = jv_object_set(f, jv_string("channel"), jv_string(str_of(j->item, "channel")));
	f = jv_object_set(f, jv_string("tenant"), jv_string(str_of(j->item, "tenant")));
	f = jv_object_set(f, jv_string("correlation_id"),
	    jv_string(str_of(j->item, "correlation_id")));
	return f;
}

/* Records where job j goes; the next commit settles it (and frees it). */
static void settle(engine *e, job *j, cx_queue_outcome o)
{
	j->ref = o.provider_ref ? cx_xstrdup(o.provider_ref) : NULL;
	j->code = o.error_code ? cx_xstrdup(o.error_code) : NULL;
	j->detail = o.error_detail ? cx_xstrdup(o.error_detail) : NULL;
	o.provider_ref = j->ref;
	o.error_code = j->code;
	o.error_detail = j->detail;
	o.lease_owner = e->owner;
	j->o = o;
	j->next = NULL;
	if (e->settling_tail)
		e->settling_tail->next = j;
	else
		e->settling = j;
	e->settling_tail = j;
}

/* Back to approved for a local reason: never dead. */
static void defer(engine *e, job *j, int64_t until, const char *code, const char *detail)
{
	jv f = fields(j);

	f = jv_object_set(f, jv_string("error_code"), jv_string(code));
	cx_log(CX_LOG_INFO, f, "deferred: %s", detail);
	settle(e, j, (cx_queue_outcome){ .state = "approved", .error_code = code,
	    .error_detail = detail, .next_attempt_at = until });
}

/* Back to approved after a failed try, or dead once --max-attempts tries
 * were made. */
static void retry_or_dead(engine *e, job *j, const char *code, const char *detail,
    int64_t hint)
{
	int64_t now = cx_clock_now();

	if (j->attempts >= e->max_attempts) {
		settle(e, j, (cx_queue_outcome){ .state = "dead", .error_code = code,
		    .error_detail = detail });
		return;
	}
	settle(e, j, (cx_queue_outcome){ .state = "approved", .error_code = code,
	    .error_detail = detail, .next_attempt_at = cx_backoff_next(now, j->attempts,
	    e->backoff_base, e->backoff_max, hint) });
}

/* --- lanes, breakers, tokens ---------------------------------------------- */

static lane *lane_for(engine *e, jv item)
{
	char *key = cx_xasprintf("%s:%s", str_of(item, "channel"), str_of(item, "tenant"));
	cx_err err = { 0, "" };
	lane *l;

	for (l = e->lanes; l; l = l->next)
		if (strcmp(l->key, key) == 0) {
			free(key);
			return l;
		}
	l = cx_xcalloc(1, sizeof *l);
	l->key = key;
	l->channel = cx_xstrdup(str_of(item, "channel"));
	l->read_ms = -1;
	if (cx_publish_rate(str_of(item, "channel"), &l->limit, &err) < 0) {
		cx_log(CX_LOG_ERROR, jv_null(), "%s", err.msg);
		publish_status(&e->status, err.code);
		l->limit.rate = 0;
	}
	l->next = e->lanes;
	e->lanes = l;
	return l;
}

/* The breaker's state of a lane, read at most once a second. */
static void breaker_refresh(engine *e, lane *l)
{
	cx_err err = { 0, "" };
	int64_t now = cx_clock_mono_ms();

	if (l->read_ms >= 0 && now - l->read_ms < 1000)
		return;
	if (cx_breaker_state(e->s, l->key, &l->failures, &l->open_until, &err) < 0)
		cx_log(CX_LOG_WARN, jv_null(), "breaker %s: %s", l->key, err.msg);
	l->read_ms = now;
}

static void breaker_record(engine *e, lane *l, int ok)
{
	cx_err err = { 0, "" };
	int64_t until = 0;

	/* successes on a clean lane need no write */
	if (ok && l->failures == 0 && l->open_until == 0)
		return;
	if (cx_breaker_record(e->s, l->key, &e->breaker, ok, &until, &err) < 0) {
		cx_log(CX_LOG_WARN, jv_null(), "breaker %s: %s", l->key, err.msg);
		return;
	}
	l->failures = ok ? 0 : l->failures + 1;
	if (until > l->open_until && until > cx_clock_now()) {
		jv f = jv_object_set(jv_object(), jv_string("lane"), jv_string(l->key));

		cx_log(CX_LOG_WARN, f, "circuit breaker open for %s until %lld after %lld "
		    "failures in a row", l->key, (long long)until, (long long)l->failures);
	}
	l->open_until = ok ? 0 : until;
	l->read_ms = cx_clock_mono_ms();
}

/* A token for the call's provider and the item's workspace, or NULL with
 * *err; cached for a minute (refreshing stays cx_oauth_token's job). */
static const char *token_for(engine *e, const job *j, const cx_err **err)
{
	const char *provider = j->call.provider, *workspace = str_of(j->item, "workspace");
	int64_t now = cx_clock_mono_ms();
	token *t;

	if (strcmp(provider, "meta") == 0 && e->meta_token)
		return e->meta_token;
	for (t = e->tokens; t; t = t->next)
		if (strcmp(t->provider, provider) == 0 && strcmp(t->workspace, workspace) == 0)
			break;
	if (t && now - t->got_ms > 60000) {
		cx_secret_free(t->value);
		t->value = NULL;
		t->got_ms = 0;
	}
	if (!t) {
		t = cx_xcalloc(1, sizeof *t);
		t->provider = cx_xstrdup(provider);
		t->workspace = cx_xstrdup(workspace);
		t->next = e->tokens;
		e->tokens = t;
	}
	if (t->got_ms == 0) {
		cx_oauth_provider *op = NULL;

		t->err = (cx_err){ 0, "" };
		if (cx_presets_open(provider, &op, &t->err) < 0 ||
		    cx_oauth_token(e->s, op, workspace, &t->value, &t->err) < 0)
			t->value = NULL;
		cx_oauth_provider_free(op);
		t->got_ms = now;
	}
	*err = &t->err;
	return t->value;
}

/* --- claiming and settling -------------------------------------------------- */

static void add_job(engine *e, int command, jv item)
{
	const char *code = NULL;
	cx_err err = { 0, "" };
	job *j = cx_xcalloc(1, sizeof *j);

	j->command = command;
	j->event = jv_null();
	j->id = num_of(item, "id");
	j->attempts = num_of(item, "attempts");
	j->item = item;
	j->claimed_ms = cx_clock_mono_ms();
	e->claimed++;
	if (cx_publish_call_build(item, &j->call, &code, &err) < 0) {
		jv f = fields(j);

		f = jv_object_set(f, jv_string("error_code"), jv_string(code));
		cx_log(CX_LOG_ERROR, f, "%s", err.msg);
		settle(e, j, (cx_queue_outcome){ .state = "failed", .error_code = code,
		    .error_detail = err.msg });
		return;
	}
	j->lane = lane_for(e, item);
	if (e->tail)
		e->tail->next = j;
	else
		e->head = j;
	e->tail = j;
	e->waiting++;
}

/* The ask of lane key; *fresh (may be NULL) gets 1 when it is new. */
static token_ask *ask_for(commit_work *w, const char *key, int *fresh)
{
	if (fresh)
		*fresh = 0;
	for (size_t i = 0; i < w->nasks; i++)
		if (strcmp(w->asks[i].key, key) == 0)
			return &w->asks[i];
	if (fresh)
		*fresh = 1;
	if (w->nasks == w->capasks) {
		w->capasks = w->capasks ? 2 * w->capasks : 8;
		w->asks = cx_xrealloc(w->asks, w->capasks * sizeof *w->asks);
	}
	memset(&w->asks[w->nasks], 0, sizeof *w->asks);
	w->asks[w->nasks].key = cx_xstrdup(key);
	return &w->asks[w->nasks++];
}

/* The writer's side: counts claimed items (read, not consumed) in the
 * asks of their lanes. */
static void count_claimed(commit_work *w, jv claimed)
{
	jv_array_foreach(claimed, i, item) {
		char *key = cx_xasprintf("%s:%s", str_of(item, "channel"), str_of(item, "tenant"));
		int fresh;
		token_ask *a = ask_for(w, key, &fresh);

		free(key);
		/* a setting that does not parse: lane_for reports it and sends unpaced */
		if (fresh && cx_publish_rate(str_of(item, "channel"), &a->limit,
		    &(cx_err){ 0, "" }) < 0)
			a->limit.rate = 0;
		a->want++;
		jv_free(item);
	}
}

/* Then takes tokens for every lane whose waiting jobs outnumber the tokens
 * it holds, unless its bucket was found empty and has not refilled yet. */
static int take_tokens(cx_store *s, commit_work *w, cx_err *err)
{
	int64_t mono = cx_clock_mono_ms();

	count_claimed(w, w->commands);
	count_claimed(w, w->items);
	for (size_t i = 0; i < w->nasks; i++) {
		token_ask *a = &w->asks[i];

		if (a->want <= a->have || a->retry_ms > mono)
			continue;
		if (cx_ratelimit_take_in(s, a->key, &a->limit, a->want - a->have, &a->granted,
		    &a->wait_ms, err) < 0)
			return -1;
		a->asked = 1;
	}
	return 0;
}

/* The claims of one commit, up to w->room: commands first (whoever piped
 * them in is waiting), then queue items. */
static int claim(cx_store *s, const engine *e, commit_work *w, cx_err *err)
{
	int64_t room = w->room;

	if (room <= 0)
		return 0;
	if (cx_commands_claim_in(s, e->channel, room, w->only_id, e->owner, e->lease,
	    &w->commands, err) < 0)
		return -1;
	room -= jv_array_length(jv_copy(w->commands));
	if (w->only_id <= 0 && room > 0 && cx_queue_claim_in(s, e->channel, room, e->owner,
	    e->lease, &w->items, err) < 0)
		return -1;
	w->drained = jv_array_length(jv_copy(w->commands)) +
	    jv_array_length(jv_copy(w->items)) < w->room;
	return 0;
}

/* The writer's side of a commit: one transaction, all or nothing. */
static void commit_run(cx_store *s, const engine *e, commit_work *w)
{
	cx_err *err = &w->err;

	w->rc = -1;
	if (cx_store_begin(s, err) < 0)
		return;
	for (job *j = w->batch; j; j = j->next) {
		int rc = j->command ? cx_commands_settle_in(s, j->id, &j->o, &j->event, err) :
		    cx_queue_settle_in(s, j->id, &j->o, &j->event, err);

		if (rc < 0 && err->code != CX_EXIT_SOME_FAILED)
			goto fail;
		if (rc < 0) {
			/* a lease lost to another process is its business now */
			j->refused = cx_xstrdup(err->msg);
			*err = (cx_err){ 0, "" };
			j->o.state = NULL;
		}
	}
	for (size_t i = 0; i < w->nlatency; i++)
		if (cx_publish_latency_add(s, w->latency_channel[i], &w->latency[i], err) < 0)
			goto fail;
	if (claim(s, e, w, err) < 0 || take_tokens(s, w, err) < 0 ||
	    cx_store_commit(s, err) < 0)
		goto fail;
	w->rc = 0;
	return;
fail:
	cx_store_rollback(s);
}

static void *writer_main(void *arg)
{
	engine *e = arg;
	writer *wr = e->writer;

	pthread_mutex_lock(&wr->mu);
	for (;;) {
		while (!wr->busy && !wr->quit)
			pthread_cond_wait(&wr->cv, &wr->mu);
		if (!wr->busy)
			break;
		pthread_mutex_unlock(&wr->mu);
		commit_run(wr->s, e, &wr->w);
		pthread_mutex_lock(&wr->mu);
		wr->busy = 0;
		wr->ready = 1;
		pthread_cond_broadcast(&wr->cv);
		cx_httpmulti_wakeup(e->m);
	}
	pthread_mutex_unlock(&wr->mu);
	return NULL;
}

static lane *lane_by_key(engine *e, const char *key)
{
	for (lane *l = e->lanes; l; l = l->next)
		if (strcmp(l->key, key) == 0)
			return l;
	return NULL;
}

/* Hands the next commit to the writer (which must be idle): the outcomes
 * that are ready and, when want_claims, claims for the room the window has. */
static void commit_hand(engine *e, int want_claims, int64_t only_id)
{
	writer *wr = e->writer;
	commit_work *w = &wr->w;
	size_t nlanes = 0;

	w->batch = e->settling;
	e->settling = e->settling_tail = NULL;
	for (lane *l = e->lanes; l; l = l->next)
		nlanes++;
	w->latency = cx_xcalloc(nlanes + 1, sizeof *w->latency);
	w->latency_channel = cx_xcalloc(nlanes + 1, sizeof *w->latency_channel);
	w->nlatency = 0;
	for (lane *l = e->lanes; l; l = l->next) {
		if (l->latency.count > 0) {
			w->latency[w->nlatency] = l->latency;
			w->latency_channel[w->nlatency++] = cx_xstrdup(l->channel);
		}
		memset(&l->latency, 0, sizeof l->latency);
		l->want = 0;
	}
	for (job *j = e->head; j; j = j->next)
		j->lane->want++;
	w->nasks = 0;
	for (lane *l = e->lanes; l; l = l->next) {
		token_ask *a = ask_for(w, l->key, NULL);

		a->limit = l->limit;
		a->want = l->want;
		a->have = l->tokens;
		a->retry_ms = l->retry_ms;
	}
	w->room = 0;
	if (want_claims) {
		w->room = e->concurrency - (int64_t)e->waiting;
		if (e->max > 0 && w->room > e->max - e->claimed)
			w->room = e->max - e->claimed;
	}
	w->only_id = only_id;
	w->commands = jv_array();
	w->items = jv_array();
	w->drained = 0;
	w->err = (cx_err){ 0, "" };
	pthread_mutex_lock(&wr->mu);
	wr->busy = 1;
	pthread_cond_broadcast(&wr->cv);
	pthread_mutex_unlock(&wr->mu);
}

/* Takes in what the writer did, once it is done: after a commit, the
 * outcomes' events go to stdout, the claimed items join the waiting list
 * and the lanes get their tokens; after a failure nothing of it happened
 * (the outcomes are dropped: their leases run out and the next run
 * reconciles them) and the engine stops. Returns 1 when nothing more is
 * due. */
static int commit_take(engine *e)
{
	commit_work *w = &e->writer->w;
	int64_t mono = cx_clock_mono_ms();
	int drained = w->drained;

	e->writer->ready = 0;
	for (size_t i = 0; i < w->nlatency; i++)
		free(w->latency_channel[i]);
	free(w->latency);
	free(w->latency_channel);
	if (w->rc < 0) {
		cx_log(CX_LOG_ERROR, jv_null(), "%s", w->err.msg);
		publish_status(&e->status, w->err.code ? w->err.code : CX_EXIT_TEMPFAIL);
		e->stopped = 1;
		drained = 1;
	}
	for (job *j = w->batch, *n; j; j = n) {
		n = j->next;
		if (j->refused)
			cx_log(CX_LOG_ERROR, fields(j), "%s", j->refused);
		if (w->rc == 0 && jv_get_kind(j->event) == JV_KIND_OBJECT) {
			cx_ndjson_write(j->event);
			j->event = jv_null();
			e->settled++;
		}
		if (w->rc == 0 && j->o.state && (!strcmp(j->o.state, "failed") ||
		    !strcmp(j->o.state, "dead") || !strcmp(j->o.state, "unknown")))
			publish_status(&e->status, CX_EXIT_SOME_FAILED);
		job_free(j);
	}
	w->batch = NULL;
	cx_ndjson_flush();
	if (e->settled > 0)
		cx_progress_update(&e->progress, e->settled, e->claimed);
	if (w->rc == 0) {
		jv_array_foreach(w->commands, i, item)
			add_job(e, 1, item);
		jv_array_foreach(w->items, i, item)
			add_job(e, 0, item);
		for (size_t i = 0; i < w->nasks; i++) {
			lane *l = lane_by_key(e, w->asks[i].key);

			if (l && w->asks[i].asked) {
				l->tokens += w->asks[i].granted;
				l->retry_ms = w->asks[i].granted > 0 ? 0 :
				    mono + (w->asks[i].wait_ms > 0 ? w->asks[i].wait_ms : 1);
			}
		}
	}
	for (size_t i = 0; i < w->nasks; i++)
		free(w->asks[i].key);
	w->nasks = 0;
	jv_free(w->commands);
	jv_free(w->items);
	w->commands = w->items = jv_invalid();
	return drained;
}

/* Whether a waiting job lacks a token that a commit could take now. */
static int tokens_due(const engine *e)
{
	int64_t mono = cx_clock_mono_ms();

	for (const job *j = e->head; j; j = j->next)
		if (j->lane->tokens == 0 && j->lane->retry_ms <= mono)
			return 1;
	return 0;
}

/* --- sending -------------------------------------------------------------- */

static void on_done(void *tag, int rc, cx_http_response *resp, const cx_err *terr,
    void *ctx)
{
	engine *e = ctx;
	job *j = tag;
	lane *l = j->lane;
	int64_t now = cx_clock_now();
	const char *prior = cx_json_str(j->item, "error_code");
	cx_publish_result r;
	jv f = fields(j);

	e->inflight--;
	cx_publish_latency_observe(&l->latency, resp->latency_ms);
	cx_publish_judge(str_of(j->item, "channel"), rc, resp, terr, now, &r);
	f = jv_object_set(f, jv_string("latency_ms"), jv_number((double)resp->latency_ms));
	if (resp->status)
		f = jv_object_set(f, jv_string("upstream_status"), jv_number((double)resp->status));
	if (r.code)
		f = jv_object_set(f, jv_string("error_code"), jv_string(r.code));
	cx_http_response_free(resp);
	switch (r.verdict) {
	case CX_PUBLISH_PUBLISHED:
		cx_log(CX_LOG_INFO, f, "published");
		breaker_record(e, l, 1);
		settle(e, j, (cx_queue_outcome){ .state = "published",
		    .provider_ref = r.provider_ref });
		break;
	case CX_PUBLISH_FAILED:
		breaker_record(e, l, 1);
		/* a resend refused as a duplicate, after the first try was not found:
		 * the first one did go out, so look again rather than fail it */
		if (!strcmp(r.code, "DUPLICATE") && prior && !strcmp(prior, "RECONCILED_NOT_FOUND") &&
		    j->attempts < e->max_attempts) {
			cx_log(CX_LOG_WARN, f, "duplicate of an earlier try: %s", r.detail);
			settle(e, j, (cx_queue_outcome){ .state = "unknown", .error_code = "DUPLICATE",
			    .error_detail = r.detail });
			break;
		}
		cx_log(CX_LOG_ERROR, f, "failed: %s", r.detail);
		settle(e, j, (cx_queue_outcome){ .state = "failed", .error_code = r.code,
		    .error_detail = r.detail });
		break;
	case CX_PUBLISH_RETRY:
		cx_log(CX_LOG_WARN, f, "not sent: %s", r.detail);
		breaker_record(e, l, !r.upstream_failure);
		if (r.hint > l->hold_until)
			l->hold_until = r.hint;
		retry_or_dead(e, j, r.code, r.detail, r.hint);
		break;
	case CX_PUBLISH_UNKNOWN:
		cx_log(CX_LOG_ERROR, f, "%s; to be reconciled, never resent blindly", r.detail);
		breaker_record(e, l, 0);
		settle(e, j, (cx_queue_outcome){ .state = "unknown", .error_code = r.code,
		    .error_detail = r.detail });
		break;
	}
	cx_publish_result_free(&r);
}

/* Tries to start job j; returns 1 when it left the waiting list (sent or
 * settled), 0 when it has to wait. */
static int start(engine *e, job *j)
{
	lane *l = j->lane;
	int64_t now = cx_clock_now(), mono = cx_clock_mono_ms();
	const char *hdrs[2] = { NULL, NULL };
	const cx_err *terr = NULL;
	const char *tok;
	char *idem;
	cx_err err = { 0, "" };
	cx_http_request req;

	breaker_refresh(e, l);
	if (l->open_until > now) {
		defer(e, j, l->open_until, "CIRCUIT_OPEN", "the circuit breaker of this "
		    "channel and tenant is open");
		return 1;
	}
	if (l->hold_until > now) {
		defer(e, j, l->hold_until, "RATE_LIMITED", "the provider asked to wait");
		return 1;
	}
	/* tokens are taken by commits (take_tokens) */
	if (l->tokens == 0)
		goto wait;
	if (!(tok = token_for(e, j, &terr))) {
		jv f = fields(j);

		f = jv_object_set(f, jv_string("error_code"), jv_string("AUTH_UNAVAILABLE"));
		cx_log(CX_LOG_ERROR, f, "no token: %s", terr->msg);
		publish_status(&e->status, terr->code ? terr->code : CX_EXIT_TEMPFAIL);
		retry_or_dead(e, j, "AUTH_UNAVAILABLE", terr->msg, 0);
		return 1;
	}
	idem = cx_xasprintf("Idempotency-Key: %s", j->call.idempotency_key);
	hdrs[0] = idem;
	memset(&req, 0, sizeof req);
	req.method = "POST";
	req.url = j->call.url;
	req.body = j->call.body;
	req.body_len = strlen(j->call.body);
	req.content_type = CX_HTTP_JSON;
	req.headers = hdrs;
	req.bearer = tok;
	if (cx_httpmulti_add(e->m, &req, j, &err) < 0) {
		free(idem);
		retry_or_dead(e, j, "CONNECT_FAILED", err.msg, 0);
		return 1;
	}
	free(idem);
	l->tokens--;
	e->inflight++;
	return 1;
wait:
	if (mono - j->claimed_ms + (l->retry_ms - mono) > e->max_wait_ms) {
		char detail[96];

		snprintf(detail, sizeof detail, "the tenant's rate limit (%.3g a second) "
		    "is used up", l->limit.rate);
		defer(e, j, now + (l->retry_ms - mono + 999) / 1000, "RATE_LIMITED", detail);
		return 1;
	}
	return 0;
}

/* Starts what may start, in claim order; the time (monotonic ms) when a
 * waiting job may be tried again, or 0. */
static int64_t start_waiting(engine *e)
{
	job **p = &e->head, *prev = NULL;
	int64_t next = 0;

	while (*p && (int64_t)e->inflight < e->concurrency) {
		job *j = *p, *n = j->next;

		if (stop_requested || e->stopped) {
			*p = n;
			e->waiting--;
			if (e->tail == j)
				e->tail = prev;
			if (e->stopped)
				job_free(j);   /* the lease runs out; the next run reconciles */
			else
				defer(e, j, cx_clock_now(), "INTERRUPTED", "cx-publish was stopped");
			continue;
		}
		if (start(e, j)) {
			*p = n;
			e->waiting--;
			if (e->tail == j)
				e->tail = prev;
			continue;
		}
		if (!next || j->lane->retry_ms < next)
			next = j->lane->retry_ms;
		prev = j;
		p = &j->next;
	}
	return next;
}

/* Waits until the writer is idle. */
static void writer_wait(writer *wr)
{
	pthread_mutex_lock(&wr->mu);
	while (wr->busy)
		pthread_cond_wait(&wr->cv, &wr->mu);
	pthread_mutex_unlock(&wr->mu);
}

void engine_run(engine *e, int64_t only_id)
{
	writer *wr = e->writer;
	int drained = 0;
	cx_err err = { 0, "" };

	wr->quit = 0;
	if (pthread_create(&wr->thread, NULL, writer_main, e) != 0) {
		cx_log(CX_LOG_ERROR, jv_null(), "cannot start the writer thread");
		publish_status(&e->status, CX_EXIT_TEMPFAIL);
		return;
	}
	for (;;) {
		int64_t next, wait;
		int busy, ready;

		/* what was claimed before goes out first, not after a commit */
		start_waiting(e);
		pthread_mutex_lock(&wr->mu);
		busy = wr->busy;
		ready = wr->ready;
		pthread_mutex_unlock(&wr->mu);
		if (!busy) {
			int claims;

			if (ready)
				drained |= commit_take(e);
			claims = !drained && !stop_requested && !e->stopped &&
			    (int64_t)e->waiting < e->concurrency &&
			    (e->max <= 0 || e->claimed < e->max);
			if (claims || e->settling || tokens_due(e)) {
				commit_hand(e, claims, only_id);
				busy = 1;
			}
		}
		next = start_waiting(e);
		if (!busy && e->waiting == 0 && e->inflight == 0 && !e->settling && (drained ||
		    stop_requested || e->stopped || (e->max > 0 && e->claimed >= e->max)))
			break;
		wait = 100;
		if (next > 0) {
			wait = next - cx_clock_mono_ms();
			wait = wait < 1 ? 1 : wait > 100 ? 100 : wait;
		}
		if (e->inflight == 0) {
			if (busy)
				writer_wait(wr);
			else if (e->waiting > 0 && !e->settling && !tokens_due(e))
				usleep((useconds_t)wait * 1000);
			continue;
		}
		/* the writer wakes this when it is done */
		if (cx_httpmulti_run(e->m, (int)wait, on_done, e, &err) < 0) {
			cx_log(CX_LOG_ERROR, jv_null(), "%s", err.msg);
			publish_status(&e->status, CX_EXIT_TEMPFAIL);
			break;
		}
	}
	writer_wait(wr);
	if (wr->ready)
		commit_take(e);
	pthread_mutex_lock(&wr->mu);
	wr->quit = 1;
	pthread_cond_broadcast(&wr->cv);
	pthread_mutex_unlock(&wr->mu);
	pthread_join(wr->thread, NULL);
}

/* --- dry run -------------------------------------------------------------- */

void engine_plan_item(engine *e, jv item, const char *source)
{
	const char *code = NULL;
	cx_publish_call call;
	cx_err err = { 0, "" };
	jv plan = jv_object_set(jv_object(), jv_string("dry_run"), jv_true());

	plan = jv_object_set(plan, jv_string("source"), jv_string(source));
	plan = jv_object_set(plan, jv_string(strcmp(source, "queue") ? "command_id" : "queue_id"),
	    jv_object_get(jv_copy(item), jv_string("id")));
	plan = jv_object_set(plan, jv_string("channel"), jv_string(str_of(item, "channel")));
	plan = jv_object_set(plan, jv_string("kind"), jv_string(str_of(item, "kind")));
	plan = jv_object_set(plan, jv_string("tenant"), jv_string(str_of(item, "tenant")));
	if (cx_publish_call_build(item, &call, &code, &err) < 0) {
		plan = jv_object_set(plan, jv_string("error_code"), jv_string(code));
		plan = jv_object_set(plan, jv_string("error"), jv_string(err.msg));
		publish_status(&e->status, CX_EXIT_SOME_FAILED);
	} else {
		char *where = cx_http_url_for_log(call.url);

		plan = jv_object_set(plan, jv_string("method"), jv_string("POST"));
		plan = jv_object_set(plan, jv_string("url"), jv_string(where));
		plan = jv_object_set(plan, jv_string("token"), jv_string(call.provider));
		plan = jv_object_set(plan, jv_string("idempotency_key"),
		    jv_string(call.idempotency_key));
		plan = jv_object_set(plan, jv_string("body"), jv_parse(call.body));
		free(where);
		cx_publish_call_free(&call);
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

/* --- leases --------------------------------------------------------------- */

int publish_expire_leases(cx_store *s, int *status)
{
	int64_t q = 0, c = 0;
	cx_err err = { 0, "" };

	if (cx_queue_expire_leases(s, &q, &err) < 0 ||
	    cx_commands_expire_leases(s, &c, &err) < 0) {
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
