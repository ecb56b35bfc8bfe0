/* engine.c: the send loop of cx-publish. Due items (queue items and stdin
 * commands) are claimed, each goes through its lane ("<channel>:<tenant>":
 * circuit breaker, rate limit, provider hold), gets a token, and is sent on
 * one curl multi handle with up to CX_PUBLISH_CONCURRENCY requests in
 * flight; every answer is judged by its channel (channel.h). Outcomes and
 * claims share transactions (a group commit, as cx-ingest serve's), run by
 * a writer thread (writer.c) on a connection of its own while the send
 * loop goes on: each
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
#include "channels.h"
#include "clock.h"
#include "commands.h"
#include "config.h"
#include "crypto.h"
#include "state.h"
#include "exit.h"
#include "httpmulti.h"
#include "identity.h"
#include "json.h"
#include "log.h"
#include "oauth.h"
#include "presets.h"
#include "progress.h"
#include "publish_tool.h"
#include "queue.h"
#include "ratelimit.h"
#include "tenants.h"
#include "xalloc.h"

/* The most extra header lines a channel's call may have. */
#define HEADERS_MAX 8

volatile sig_atomic_t stop_requested;

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

void engine_job_free(job *j)
{
	for (job *m = j->members, *n; m; m = n) {
		n = m->batch_next;
		engine_job_free(m);
	}
	free(j->batch_key);
	jv_free(j->item);
	jv_free(j->event);
	cx_channel_call_free(&j->call);
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

/* The token settings of every channel, each read once. */
static int read_fixed_tokens(engine *e, cx_err *err)
{
	const cx_channel *ch;

	for (size_t i = 0; (ch = cx_channels_at(i)); i++) {
		fixed_token *t;

		for (t = e->fixed; t && ch->token_setting; t = t->next)
			if (strcmp(t->setting, ch->token_setting) == 0)
				break;
		if (!ch->token_setting || t)
			continue;
		t = cx_xcalloc(1, sizeof *t);
		t->setting = ch->token_setting;
		t->next = e->fixed;
		e->fixed = t;
		if (cx_secret_get(t->setting, &t->value, err) < 0)
			return -1;
	}
	return 0;
}

int engine_open(engine **out, cx_store *s, const publish_conf *c, cx_err *err)
{
	engine *e = cx_xcalloc(1, sizeof *e);
	int64_t timeout, wait;
	char host[64] = "";
	uint32_t r = 0;

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
	    setting("CX_SMTP_CONNECTIONS", 1, 1, &e->smtp_connections, err) < 0 ||
	    setting("CX_PUBLISH_BREAKER_THRESHOLD", 5, 1, &e->breaker.threshold, err) < 0 ||
	    setting("CX_PUBLISH_BREAKER_COOLDOWN_SECONDS", 60, 1, &e->breaker.cooldown,
	    err) < 0)
		goto fail;
	if (cx_channels_check_settings(err) < 0)
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
	if (read_fixed_tokens(e, err) < 0)
		goto fail;
	gethostname(host, sizeof host - 1);
	cx_crypto_random(&r, sizeof r);
	snprintf(e->owner, sizeof e->owner, "cx-publish:%s:%ld:%08x", host, (long)getpid(), r);
	if (!(e->m = cx_httpmulti_new(0))) {
		cx_err_set(err, CX_EXIT_TEMPFAIL, "cannot start libcurl");
		goto fail;
	}
	pthread_mutex_init(&e->xmu, NULL);
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
		engine_job_free(j);
	}
	for (job *j = e->settling, *n; j; j = n) {
		n = j->next;
		engine_job_free(j);
	}
	if (e->writer) {
		cx_store_close(e->writer->s);
		pthread_mutex_destroy(&e->writer->mu);
		pthread_cond_destroy(&e->writer->cv);
		free(e->writer->w.asks);
		free(e->writer);
	}
	for (fixed_token *t = e->fixed, *n; t; t = n) {
		n = t->next;
		cx_secret_free(t->value);
		free(t);
	}
	if (e->m)
		pthread_mutex_destroy(&e->xmu);
	free(e);
}

int engine_status(const engine *e)
{
	return e->status;
}

/* --- items ---------------------------------------------------------------- */

/* Log fields naming an item. */
jv engine_fields(const job *j)
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
void engine_settle(engine *e, job *j, cx_queue_outcome o)
{
	job *m = j->members;

	/* a batch that never went out (deferred, retried, dropped): its other
	 * items go the same way */
	j->members = NULL;
	j->nmembers = 0;
	while (m) {
		job *n = m->batch_next;

		m->batch_next = NULL;
		engine_settle(e, m, o);
		m = n;
	}
	j->ref = o.provider_ref ? cx_xstrdup(o.provider_ref) : NULL;
	j->code = o.error_code ? cx_xstrdup(o.error_code) : NULL;
	j->detail = o.error_detail ? cx_xstrdup(o.error_detail) : NULL;
	o.provider_ref = j->ref;
	o.error_code = j->code;
	o.error_detail = j->detail;
	o.lease_owner = e->owner;
	if (jv_get_kind(j->call.data) == JV_KIND_OBJECT)
		o.data = j->call.data;
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
	jv f = engine_fields(j);

	f = jv_object_set(f, jv_string("error_code"), jv_string(code));
	cx_log(CX_LOG_INFO, f, "deferred: %s", detail);
	engine_settle(e, j, (cx_queue_outcome){ .state = "approved", .error_code = code,
	    .error_detail = detail, .next_attempt_at = until });
}

/* Back to approved after a failed try, or dead once --max-attempts tries
 * were made. */
static void retry_or_dead(engine *e, job *j, const char *code, const char *detail,
    int64_t hint)
{
	int64_t now = cx_clock_now();

	if (j->attempts >= e->max_attempts) {
		engine_settle(e, j, (cx_queue_outcome){ .state = "dead", .error_code = code,
		    .error_detail = detail });
		return;
	}
	engine_settle(e, j, (cx_queue_outcome){ .state = "approved", .error_code = code,
	    .error_detail = detail, .next_attempt_at = cx_backoff_next(now, j->attempts,
	    e->backoff_base, e->backoff_max, hint) });
}

/* --- lanes, breakers, tokens ---------------------------------------------- */

static lane *lane_for(engine *e, const job *j)
{
	jv item = j->item;
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
	l->serial = j->channel->rollback;
	if (cx_channel_rate(j->channel, &l->limit, &err) < 0) {
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

	for (fixed_token *f = e->fixed; f && j->channel->token_setting; f = f->next)
		if (strcmp(f->setting, j->channel->token_setting) == 0 && f->value)
			return f->value;
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

/* Whether job j joined a waiting batch of its lane with its key and room
 * for it, after the others (a new batch begins with it otherwise). */
static int join_batch(engine *e, job *j)
{
	j->batch_key = j->channel->batch_key(j->item);
	for (job *b = e->head; b && j->batch_key; b = b->next)
		if (b->lane == j->lane && b->batch_key && !strcmp(b->batch_key, j->batch_key) &&
		    b->nmembers + 1 < j->channel->batch_max) {
			job **end = &b->members;

			while (*end)
				end = &(*end)->batch_next;
			*end = j;
			b->nmembers++;
			return 1;
		}
	return 0;
}

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
	j->channel = cx_channels_find(str_of(item, "channel"));
	if (cx_channels_call_build(item, &j->call, &code, &err) < 0) {
		jv f = engine_fields(j);

		f = jv_object_set(f, jv_string("error_code"), jv_string(code));
		cx_log(CX_LOG_ERROR, f, "%s", err.msg);
		engine_settle(e, j, (cx_queue_outcome){ .state = "failed", .error_code = code,
		    .error_detail = err.msg });
		return;
	}
	j->lane = lane_for(e, j);
	if (j->channel->batch_key && join_batch(e, j))
		return;
	if (e->tail)
		e->tail->next = j;
	else
		e->head = j;
	e->tail = j;
	e->waiting++;
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
		token_ask *a = writer_ask(w, l->key, NULL);

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
			cx_log(CX_LOG_ERROR, engine_fields(j), "%s", j->refused);
		if (w->rc == 0 && jv_get_kind(j->event) == JV_KIND_OBJECT) {
			cx_ndjson_write(j->event);
			j->event = jv_null();
			e->settled++;
		}
		if (j->started)
			j->lane->active--;
		if (w->rc == 0 && j->o.state && (!strcmp(j->o.state, "failed") ||
		    !strcmp(j->o.state, "dead") || !strcmp(j->o.state, "unknown")))
			publish_status(&e->status, CX_EXIT_SOME_FAILED);
		engine_job_free(j);
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

void engine_judged(engine *e, job *j, cx_channel_result *r, jv f)
{
	lane *l = j->lane;
	const char *prior = cx_json_str(j->item, "error_code");

	if (r->code)
		f = jv_object_set(f, jv_string("error_code"), jv_string(r->code));
	switch (r->verdict) {
	case CX_CHANNEL_PUBLISHED:
		cx_log(CX_LOG_INFO, f, "published");
		breaker_record(e, l, 1);
		engine_settle(e, j, (cx_queue_outcome){ .state = "published",
		    .provider_ref = r->provider_ref });
		break;
	case CX_CHANNEL_FAILED:
		breaker_record(e, l, 1);
		/* a resend refused as a duplicate, after the first try was not found:
		 * the first one did go out, so look again rather than fail it */
		if (!strcmp(r->code, "DUPLICATE") && prior &&
		    !strcmp(prior, "RECONCILED_NOT_FOUND") && j->attempts < e->max_attempts) {
			cx_log(CX_LOG_WARN, f, "duplicate of an earlier try: %s", r->detail);
			engine_settle(e, j, (cx_queue_outcome){ .state = "unknown",
			    .error_code = "DUPLICATE", .error_detail = r->detail });
			break;
		}
		cx_log(CX_LOG_ERROR, f, "failed: %s", r->detail);
		engine_settle(e, j, (cx_queue_outcome){ .state = "failed", .error_code = r->code,
		    .error_detail = r->detail });
		break;
	case CX_CHANNEL_RETRY:
		cx_log(CX_LOG_WARN, f, "not sent: %s", r->detail);
		breaker_record(e, l, !r->upstream_failure);
		if (r->hint > l->hold_until)
			l->hold_until = r->hint;
		retry_or_dead(e, j, r->code, r->detail, r->hint);
		break;
	case CX_CHANNEL_UNKNOWN:
		cx_log(CX_LOG_ERROR, f, "%s; to be reconciled, never resent blindly", r->detail);
		breaker_record(e, l, 0);
		engine_settle(e, j, (cx_queue_outcome){ .state = "unknown", .error_code = r->code,
		    .error_detail = r->detail });
		break;
	}
}

static void on_done(void *tag, int rc, cx_http_response *resp, const cx_err *terr,
    void *ctx)
{
	engine *e = ctx;
	job *j = tag;
	int64_t now = cx_clock_now();
	cx_channel_result r;
	jv f = engine_fields(j);

	e->inflight--;
	publish_latency_observe(&j->lane->latency, resp->latency_ms);
	cx_channel_judge(j->channel, &j->call, rc, resp, terr, now, &r);
	if (j->call.mail_from)
		e->smtp_inflight--;
	f = jv_object_set(f, jv_string("latency_ms"), jv_number((double)resp->latency_ms));
	if (resp->status)
		f = jv_object_set(f, jv_string("upstream_status"), jv_number((double)resp->status));
	cx_http_response_free(resp);
	engine_judged(e, j, &r, f);
	cx_channel_result_free(&r);
}

/* The request of call, with the token (may be NULL); hdrs has room for
 * HEADERS_MAX + 2 lines; *idem is the Idempotency-Key line to free (sent
 * to the platforms of OAuth channels; the e-mail providers take none). */
static void call_request(const cx_channel_call *call, const char *tok,
    cx_http_request *req, const char **hdrs, char **idem)
{
	size_t n = 0;

	memset(req, 0, sizeof *req);
	*idem = NULL;
	if (call->provider) {
		*idem = cx_xasprintf("Idempotency-Key: %s", call->idempotency_key);
		hdrs[n++] = *idem;
	}
	for (char **h = call->headers; h && *h && n < HEADERS_MAX + 1; h++)
		hdrs[n++] = *h;
	hdrs[n] = NULL;
	req->method = call->mail_from ? NULL : "POST";
	req->url = call->url;
	req->body = call->body;
	req->body_len = call->body_len ? call->body_len : strlen(call->body);
	req->content_type = call->content_type ? call->content_type : CX_HTTP_JSON;
	req->headers = hdrs;
	req->bearer = tok;
	req->basic_user = call->user;
	req->basic_password = call->password;
	req->aws_sigv4 = call->aws_sigv4;
	req->mail_from = call->mail_from;
	req->mail_rcpt = (const char *const *)call->mail_rcpt;
	req->mail_starttls = call->mail_starttls;
}

/* The channel's governance and request for job j, on the sender's
 * connection: 0 to send it, 1 when it was settled instead (not now: back to
 * approved; never: failed). */
static int prepare(engine *e, job *j)
{
	cx_channel_gate gate = { NULL, 0 };
	cx_err err = { 0, "" };
	int rc = j->channel->prepare(e->s, j->item, &j->call, &gate, &err);
	jv f;

	if (rc == 0) {
		j->prepared = 1;
		return 0;
	}
	if (rc > 0) {
		defer(e, j, gate.until, gate.code ? gate.code : "DEFERRED", err.msg);
		return 1;
	}
	f = engine_fields(j);
	f = jv_object_set(f, jv_string("error_code"), jv_string(gate.code ? gate.code :
	    "VALIDATION_FAILED"));
	cx_log(CX_LOG_ERROR, f, "failed: %s", err.msg);
	if (err.code == CX_EXIT_TEMPFAIL || err.code == CX_EXIT_UNAVAILABLE) {
		publish_status(&e->status, err.code);
		retry_or_dead(e, j, gate.code ? gate.code : "UNAVAILABLE", err.msg, 0);
		return 1;
	}
	engine_settle(e, j, (cx_queue_outcome){ .state = "failed", .error_code = gate.code ?
	    gate.code : "VALIDATION_FAILED", .error_detail = err.msg });
	return 1;
}

/* Whether the channel of job j is paused for its tenant (e-mail's
 * reputation breaker, a delivery channel's three failures in a row); then
 * it goes back to approved until `cx tenants resume` releases it. */
static int disabled(engine *e, job *j)
{
	const char *tenant = str_of(j->item, "tenant"), *channel = j->channel->name;
	char *code = NULL, *reason = NULL, detail[256];
	cx_err err = { 0, "" };
	int rc = cx_tenants_paused(e->s, tenant, channel, &code, &reason, &err);

	if (rc < 0) {
		cx_log(CX_LOG_ERROR, engine_fields(j), "%s", err.msg);
		publish_status(&e->status, CX_EXIT_TEMPFAIL);
		defer(e, j, cx_clock_now() + 60, "UNAVAILABLE", err.msg);
		return 1;
	}
	if (rc == 1) {
		snprintf(detail, sizeof detail, "%s is paused for tenant %s (%s: %s) until "
		    "cx tenants resume %s --channel %s", channel, tenant, code ? code : "-",
		    reason ? reason : "-", tenant, channel);
		defer(e, j, cx_clock_now() + 86400, "TENANT_PAUSED", detail);
	}
	free(code);
	free(reason);
	return rc;
}

/* Tries to start job j; returns 1 when it left the waiting list (sent or
 * settled), 0 when it has to wait. */
static int start(engine *e, job *j)
{
	lane *l = j->lane;
	int64_t now = cx_clock_now(), mono = cx_clock_mono_ms();
	const char *hdrs[HEADERS_MAX + 2];
	const cx_err *terr = NULL;
	const char *tok = NULL;
	char *idem = NULL;
	cx_err err = { 0, "" };
	cx_http_request req;

	if (l->serial && l->active > 0) {
		if (mono - j->claimed_ms <= e->max_wait_ms)
			return 0;
		defer(e, j, now, "DEFERRED", "the items before it on this channel and tenant "
		    "took longer than CX_PUBLISH_MAX_WAIT_SECONDS");
		return 1;
	}
	if (disabled(e, j))
		return 1;
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
	if (!j->prepared && j->channel->prepare) {
		int rc = prepare(e, j);

		if (rc != 0)
			return 1;
	}
	if (j->call.mail_from && e->smtp_inflight >= e->smtp_connections)
		return 0;
	if (j->call.provider && !(tok = token_for(e, j, &terr))) {
		jv f = engine_fields(j);

		f = jv_object_set(f, jv_string("error_code"), jv_string("AUTH_UNAVAILABLE"));
		cx_log(CX_LOG_ERROR, f, "no token: %s", terr->msg);
		publish_status(&e->status, terr->code ? terr->code : CX_EXIT_TEMPFAIL);
		retry_or_dead(e, j, "AUTH_UNAVAILABLE", terr->msg, 0);
		return 1;
	}
	if (j->channel->transfer) {
		if (transfer_start(e, j, tok, &err) < 0) {
			retry_or_dead(e, j, "UNAVAILABLE", err.msg, 0);
			return 1;
		}
		l->tokens--;
		l->active++;
		j->started = 1;
		e->inflight++;
		return 1;
	}
	call_request(&j->call, tok, &req, hdrs, &idem);
	if (cx_httpmulti_add(e->m, &req, j, &err) < 0) {
		free(idem);
		retry_or_dead(e, j, "CONNECT_FAILED", err.msg, 0);
		return 1;
	}
	free(idem);
	l->tokens--;
	l->active++;
	j->started = 1;
	e->inflight++;
	if (j->call.mail_from)
		e->smtp_inflight++;
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
				engine_job_free(j);   /* the lease runs out; the next run reconciles */
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

		transfer_collect(e);
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
	transfer_drain(e);
	writer_wait(wr);
	if (wr->ready)
		commit_take(e);
	pthread_mutex_lock(&wr->mu);
	wr->quit = 1;
	pthread_cond_broadcast(&wr->cv);
	pthread_mutex_unlock(&wr->mu);
	pthread_join(wr->thread, NULL);
}
