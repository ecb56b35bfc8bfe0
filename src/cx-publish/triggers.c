/* triggers.c: `cx-publish triggers`, the stage that hands canonical events
 * to the automations subscribed to them (cx-automation(7)). Every line on
 * stdin goes to stdout as it came. Each event is sanitized by its type's
 * policy (sanitize.h: no policy, no delivery), kept as a sample, and
 * enqueued once per matching subscription and dedupe key (triggers.h), in
 * the transaction of its batch of lines; then the deliveries that are due,
 * from this run or earlier ones, go out until none is due now.
 *
 * A delivery is a Standard Webhooks POST of the stored payload, signed
 * with every secret its subscription signs with now. Each subscription is
 * a lane ("triggers:<subscription>"): its own rate bucket
 * (CX_PUBLISH_RATE_TRIGGERS) and circuit breaker, and the lanes take turns
 * at the window of CX_PUBLISH_CONCURRENCY requests, so one slow or failing
 * receiver never holds up another. Claims and outcomes share one
 * transaction per round; nothing claimed is sent before its commit, so a
 * crash leaves a delivery approved, publishing (its lease runs out: back
 * to approved, sent again under the same webhook-id) or settled. */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backoff.h"
#include "breaker.h"
#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "exit.h"
#include "httpmulti.h"
#include "identity.h"
#include "json.h"
#include "log.h"
#include "publish_tool.h"
#include "ratelimit.h"
#include "sanitize.h"
#include "state.h"
#include "stdwebhooks.h"
#include "subscriptions.h"
#include "tokencrypt.h"
#include "triggers.h"
#include "xalloc.h"

/* The first try and seven retries, after these waits (±20%). */
static const int64_t retry_wait[] = { 5, 300, 1800, 7200, 18000, 36000, 36000 };
#define TRIES ((int64_t)(sizeof retry_wait / sizeof retry_wait[0]) + 1)
#define BREAKER_THRESHOLD 10
#define FAILING_MAX (5 * 86400)     /* a subscription failing this long is disabled */
#define LINES_PER_COMMIT 256

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* The lane of one subscription, while the run lasts. */
typedef struct sub_lane {
	char *sub, *key;            /* the subscription; "triggers:<subscription>" */
	char **secrets;             /* read at its first claim */
	size_t nsecrets;
	int secrets_read;
	int64_t inflight, queued, want;   /* sent; claimed, not yet sent; to claim */
	int64_t retry_ms;           /* monotonic: ask its bucket again then */
	int64_t open_until, failures, read_ms;   /* its breaker, as last read */
	int paused;                 /* its breaker is open: left for a later run */
	int disabled;               /* disabled in this run */
	struct sub_lane *next;
} sub_lane;

typedef struct delivery {
	int64_t id, attempts;
	jv item;
	sub_lane *lane;
	cx_outbound_outcome o;      /* where it goes, once answered */
	char *code, *detail, *ref;  /* o's strings, owned */
	int health;                 /* 1 the receiver took it, 0 it failed, -1 neither */
	const char *disable;        /* why its subscription is to be disabled */
	struct delivery *next;
} delivery;

typedef struct {
	cx_store *s;
	cx_tokenkeys *keys;
	cx_ratelimit limit;
	cx_breaker breaker;
	cx_httpmulti *m;
	int64_t concurrency, max, claimed, lease, inflight;
	char owner[96];
	sub_lane *lanes;
	delivery *ready, *ready_tail;   /* claimed, waiting for a free request */
	delivery *done, *done_tail; /* answered, to be settled by the next round */
	int64_t nready;
	int status, stopped, dry_run;
} sender;

static void delivery_free(delivery *d)
{
	jv_free(d->item);
	free(d->code);
	free(d->detail);
	free(d->ref);
	free(d);
}

static jv fields(const delivery *d)
{
	jv f = jv_object_set(jv_object(), jv_string("delivery_id"), jv_number((double)d->id));

	f = jv_object_set(f, jv_string("subscription_id"), jv_string(d->lane->sub));
	f = jv_object_set(f, jv_string("webhook_id"), jv_string(str_of(d->item, "webhook_id")));
	return jv_object_set(f, jv_string("correlation_id"),
	    jv_string(str_of(d->item, "correlation_id")));
}

/* --- settings and lanes ---------------------------------------------------- */

static int sender_open(sender *t, cx_store *s, const publish_conf *c, cx_err *err)
{
	char host[64] = "";
	int64_t timeout;
	uint32_t r = 0;

	memset(t, 0, sizeof *t);
	t->s = s;
	t->max = c->max;
	t->dry_run = c->dry_run;
	t->breaker.threshold = BREAKER_THRESHOLD;
	if (cx_ratelimit_parse(cx_config_get("CX_PUBLISH_RATE_TRIGGERS", "50"), &t->limit,
	    err) < 0)
		return cx_err_set(err, CX_EXIT_CONFIG, "CX_PUBLISH_RATE_TRIGGERS: %s", err->msg);
	if (cx_config_int("CX_PUBLISH_CONCURRENCY", 16, &t->concurrency, err) < 0 ||
	    cx_config_int("CX_HTTP_TIMEOUT_SECONDS", 30, &timeout, err) < 0 ||
	    cx_config_int("CX_PUBLISH_LEASE_SECONDS", 300, &t->lease, err) < 0 ||
	    cx_config_int("CX_PUBLISH_BREAKER_COOLDOWN_SECONDS", 60, &t->breaker.cooldown,
	    err) < 0)
		return -1;
	if (c->concurrency > 0)
		t->concurrency = c->concurrency;
	if (t->concurrency < 1 || t->concurrency > 256 || t->breaker.cooldown < 1)
		return cx_err_set(err, CX_EXIT_CONFIG, "CX_PUBLISH_CONCURRENCY must be 1 to 256 "
		    "and CX_PUBLISH_BREAKER_COOLDOWN_SECONDS at least 1");
	/* a delivery claimed now is answered or timed out well before its lease ends */
	if (t->lease < 2 * timeout)
		return cx_err_set(err, CX_EXIT_CONFIG, "CX_PUBLISH_LEASE_SECONDS (%lld) must "
		    "cover two request timeouts (%lld s)", (long long)t->lease,
		    (long long)(2 * timeout));
	gethostname(host, sizeof host - 1);
	cx_crypto_random(&r, sizeof r);
	snprintf(t->owner, sizeof t->owner, "cx-publish:%s:%ld:%08x", host, (long)getpid(), r);
	if (!t->dry_run && !(t->m = cx_httpmulti_new(0)))
		return cx_err_set(err, CX_EXIT_TEMPFAIL, "cannot start libcurl");
	return 0;
}

static void sender_close(sender *t)
{
	for (sub_lane *l = t->lanes, *n; l; l = n) {
		n = l->next;
		for (size_t i = 0; i < l->nsecrets; i++)
			cx_secret_free(l->secrets[i]);
		free(l->secrets);
		free(l->sub);
		free(l->key);
		free(l);
	}
	for (delivery *d = t->done, *n; d; d = n) {
		n = d->next;
		delivery_free(d);
	}
	for (delivery *d = t->ready, *n; d; d = n) {
		n = d->next;
		delivery_free(d);
	}
	cx_httpmulti_free(t->m);
	cx_tokenkeys_free(t->keys);
}

static sub_lane *lane_for(sender *t, const char *sub)
{
	sub_lane *l;

	for (l = t->lanes; l; l = l->next)
		if (strcmp(l->sub, sub) == 0)
			return l;
	l = cx_xcalloc(1, sizeof *l);
	l->sub = cx_xstrdup(sub);
	l->key = cx_xasprintf("triggers:%s", sub);
	l->read_ms = -1;
	l->next = t->lanes;
	t->lanes = l;
	return l;
}

/* The breaker of a lane, read at most once a second; an open one pauses
 * the lane for the rest of the run. */
static void breaker_refresh(sender *t, sub_lane *l, int64_t now)
{
	int64_t mono = cx_clock_mono_ms();
	cx_err err = { 0, "" };

	if (l->read_ms < 0 || mono - l->read_ms >= 1000) {
		if (cx_breaker_state(t->s, l->key, &l->failures, &l->open_until, &err) < 0)
			cx_log(CX_LOG_WARN, jv_null(), "breaker %s: %s", l->key, err.msg);
		l->read_ms = mono;
	}
	if (l->open_until > now && !l->paused) {
		jv f = jv_object_set(jv_object(), jv_string("subscription_id"), jv_string(l->sub));

		cx_log(CX_LOG_WARN, f, "circuit breaker open until %lld after %lld failures in "
		    "a row: deliveries wait for a later run", (long long)l->open_until,
		    (long long)l->failures);
		l->paused = 1;
	}
}

static void breaker_record(sender *t, sub_lane *l, int ok)
{
	cx_err err = { 0, "" };
	int64_t until = 0;

	if (ok && l->failures == 0 && l->open_until == 0)
		return;
	if (cx_breaker_record(t->s, l->key, &t->breaker, ok, &until, &err) < 0) {
		cx_log(CX_LOG_WARN, jv_null(), "breaker %s: %s", l->key, err.msg);
		return;
	}
	l->failures = ok ? 0 : l->failures + 1;
	l->open_until = ok ? 0 : until;
	l->read_ms = cx_clock_mono_ms();
}

/* --- outcomes --------------------------------------------------------------- */

static void finish(sender *t, delivery *d, cx_outbound_outcome o, int health)
{
	d->ref = o.provider_ref ? cx_xstrdup(o.provider_ref) : NULL;
	d->code = o.error_code ? cx_xstrdup(o.error_code) : NULL;
	d->detail = o.error_detail ? cx_xstrdup(o.error_detail) : NULL;
	o.provider_ref = d->ref;
	o.error_code = d->code;
	o.error_detail = d->detail;
	o.lease_owner = t->owner;
	d->o = o;
	d->health = health;
	d->next = NULL;
	if (t->done_tail)
		t->done_tail->next = d;
	else
		t->done = d;
	t->done_tail = d;
}

/* The wait before try attempts + 1, with ±20% jitter. */
static int64_t retry_at(int64_t now, int64_t attempts, int64_t hint)
{
	int64_t base = retry_wait[attempts - 1], at;
	uint32_t r = 0;

	cx_crypto_random(&r, sizeof r);
	at = now + base * 4 / 5 + (int64_t)((double)r / 4294967296.0 * (double)base * 2 / 5);
	if (at <= now)
		at = now + 1;
	return hint > at ? hint : at;
}

/* A failure of the receiver: retried on the schedule, dead after it. */
static void retry_or_dead(sender *t, delivery *d, const char *code, const char *detail,
    int64_t hint)
{
	int64_t now = cx_clock_now();

	if (d->attempts >= TRIES) {
		cx_log(CX_LOG_ERROR, fields(d), "dead after %lld tries: %s",
		    (long long)d->attempts, detail);
		finish(t, d, (cx_outbound_outcome){ .state = "dead", .error_code = code,
		    .error_detail = detail }, 0);
		return;
	}
	cx_log(CX_LOG_WARN, fields(d), "not delivered: %s", detail);
	finish(t, d, (cx_outbound_outcome){ .state = "approved", .error_code = code,
	    .error_detail = detail, .next_attempt_at = retry_at(now, d->attempts, hint) }, 0);
}

static void judge(sender *t, delivery *d, int rc, cx_http_response *resp,
    const cx_err *terr)
{
	long st = resp->status;
	char ref[16], detail[64];

	if (rc < 0) {
		retry_or_dead(t, d, "CONNECT_FAILED", terr->msg, 0);
		return;
	}
	snprintf(ref, sizeof ref, "%ld", st);
	snprintf(detail, sizeof detail, "the receiver answered %ld", st);
	if (st >= 200 && st < 300) {
		cx_log(CX_LOG_INFO, fields(d), "delivered");
		finish(t, d, (cx_outbound_outcome){ .state = "published", .provider_ref = ref }, 1);
	} else if (st == 410) {
		cx_log(CX_LOG_ERROR, fields(d), "410 Gone: the subscription is disabled");
		finish(t, d, (cx_outbound_outcome){ .state = "failed", .error_code = "GONE",
		    .error_detail = detail }, -1);
		d->disable = "the receiver answered 410 Gone";
	} else if (st == 429 || st >= 500) {
		retry_or_dead(t, d, st == 429 ? "RATE_LIMITED" : "UPSTREAM_ERROR", detail,
		    cx_backoff_hint(cx_http_header(resp, "retry-after"), NULL, cx_clock_now()));
	} else {
		cx_log(CX_LOG_ERROR, fields(d), "dead: %s", detail);
		finish(t, d, (cx_outbound_outcome){ .state = "dead", .error_code = "REJECTED",
		    .error_detail = detail }, -1);
	}
}

static void on_done(void *tag, int rc, cx_http_response *resp, const cx_err *terr,
    void *ctx)
{
	sender *t = ctx;
	delivery *d = tag;

	t->inflight--;
	d->lane->inflight--;
	judge(t, d, rc, resp, terr);
	cx_http_response_free(resp);
	if (d->health >= 0)
		breaker_record(t, d->lane, d->health);
}

/* Disables the subscription of d (once a run) for why, inside the round's
 * transaction. */
static int disable(sender *t, delivery *d, const char *why, cx_err *err)
{
	jv f = fields(d);

	if (d->lane->disabled) {
		jv_free(f);
		return 0;
	}
	d->lane->disabled = 1;
	cx_log(CX_LOG_ERROR, f, "subscription %s disabled: %s", d->lane->sub, why);
	return cx_subscriptions_disable_in(t->s, d->lane->sub, why, cx_identity_user(),
	    str_of(d->item, "correlation_id"), err);
}

/* Settles the answered deliveries, inside the round's transaction. A
 * delivery whose lease another run took is left to it. */
static int settle_done(sender *t, cx_err *err)
{
	int64_t now = cx_clock_now(), since;

	for (delivery *d = t->done; d; d = d->next) {
		if (cx_outbound_settle_in(&cx_trigger_deliveries, t->s, d->id, &d->o, NULL,
		    err) < 0) {
			if (err->code != CX_EXIT_SOME_FAILED)
				return -1;
			cx_log(CX_LOG_WARN, fields(d), "%s", err->msg);
			*err = (cx_err){ 0, "" };
			continue;
		}
		if (strcmp(d->o.state, "published") != 0 && strcmp(d->o.state, "approved") != 0)
			publish_status(&t->status, CX_EXIT_SOME_FAILED);
		if (d->disable && disable(t, d, d->disable, err) < 0)
			return -1;
		if (d->health < 0)
			continue;
		if (cx_trigger_subscription_health_in(t->s, d->lane->sub, d->health, now, &since,
		    err) < 0)
			return -1;
		if (since > 0 && now - since >= FAILING_MAX &&
		    disable(t, d, "failing for 5 days", err) < 0)
			return -1;
	}
	return 0;
}

/* --- claims and requests ---------------------------------------------------- */

typedef struct {
	sender *t;
	int64_t *ids;
	sub_lane **lanes;
	size_t n, cap;
} due_list;

static void on_due(int64_t id, const char *sub, void *ctx)
{
	due_list *dl = ctx;

	if (dl->n == dl->cap) {
		dl->cap = dl->cap ? dl->cap * 2 : 64;
		dl->ids = cx_xrealloc(dl->ids, dl->cap * sizeof *dl->ids);
		dl->lanes = cx_xrealloc(dl->lanes, dl->cap * sizeof *dl->lanes);
	}
	dl->ids[dl->n] = id;
	dl->lanes[dl->n++] = lane_for(dl->t, sub);
}

/* The signing secrets of l, read once a run. */
static int secrets_of(sender *t, sub_lane *l, cx_err *err)
{
	if (l->secrets_read)
		return 0;
	if (!t->keys && cx_tokenkeys_load(&t->keys, err) < 0)
		return -1;
	if (cx_subscriptions_secrets(t->s, t->keys, l->sub, cx_clock_now(), &l->secrets,
	    &l->nsecrets, err) < 0)
		return -1;
	l->secrets_read = 1;
	return 0;
}

/* Which due deliveries to claim now: the lanes take turns (the due list
 * comes in turns) at the room the window has, skipping a lane whose
 * breaker is open or whose bucket is empty, and a half-open lane sends one
 * probe at a time. pick[i] is set for those chosen; *wake gets the
 * monotonic time a lane waiting for tokens may ask again (0: none). */
static void choose(sender *t, const due_list *dl, char *pick, int64_t room, int64_t *wake)
{
	int64_t now = cx_clock_now(), mono = cx_clock_mono_ms(), taken = 0;

	for (sub_lane *l = t->lanes; l; l = l->next)
		l->want = 0;
	for (size_t i = 0; i < dl->n && taken < room; i++) {
		sub_lane *l = dl->lanes[i];

		breaker_refresh(t, l, now);
		if (l->paused || l->disabled)
			continue;
		if (l->retry_ms > mono) {
			if (!*wake || l->retry_ms < *wake)
				*wake = l->retry_ms;
			continue;
		}
		if (l->failures >= t->breaker.threshold && l->inflight + l->queued + l->want >= 1)
			continue;
		pick[i] = 1;
		l->want++;
		taken++;
	}
}

/* Takes the tokens the chosen deliveries need and claims those that got
 * one, inside the round's transaction: *items gets them. */
static int claim(sender *t, jv *items, int64_t *wake, cx_err *err)
{
	due_list dl = { t, NULL, NULL, 0, 0 };
	int64_t room = 2 * t->concurrency - t->inflight - t->nready, mono = cx_clock_mono_ms();
	char *pick = NULL;
	int rc = -1;

	if (t->max > 0 && room > t->max - t->claimed)
		room = t->max - t->claimed;
	if (room <= 0 || stopping)
		return 0;
	if (cx_trigger_deliveries_due(t->s, cx_clock_now(), t->concurrency,
	    t->concurrency * 8, on_due, &dl, err) < 0)
		goto out;
	pick = cx_xcalloc(dl.n + 1, 1);
	choose(t, &dl, pick, room, wake);
	for (sub_lane *l = t->lanes; l; l = l->next) {
		int64_t wait_ms = 0;
		int granted = 0;

		if (l->want == 0)
			continue;
		if (cx_ratelimit_take_in(t->s, l->key, &t->limit, (int)l->want, &granted,
		    &wait_ms, err) < 0 || (granted > 0 && secrets_of(t, l, err) < 0))
			goto out;
		if (granted < l->want) {
			l->retry_ms = mono + (wait_ms > 0 ? wait_ms :
			    (int64_t)(1000 / (t->limit.rate > 0 ? t->limit.rate : 1)) + 1);
			if (!*wake || l->retry_ms < *wake)
				*wake = l->retry_ms;
		}
		l->want = granted;
	}
	for (size_t i = 0; i < dl.n; i++) {
		if (!pick[i] || dl.lanes[i]->want == 0)
			continue;
		dl.lanes[i]->want--;
		if (cx_outbound_claim_in(&cx_trigger_deliveries, t->s, "triggers", 1, dl.ids[i],
		    t->owner, t->lease, items, err) < 0)
			goto out;
	}
	rc = 0;
out:
	free(pick);
	free(dl.ids);
	free(dl.lanes);
	return rc;
}

/* Sends delivery d, signed now. */
static void send_one(sender *t, delivery *d)
{
	const char *payload = str_of(d->item, "payload"), *hdrs[4];
	char stamp[48], *id_line, *sig = NULL, *sig_line = NULL;
	int64_t now = cx_clock_now();
	cx_err err = { 0, "" };
	cx_http_request req;

	if (d->lane->nsecrets == 0 || cx_stdwebhooks_sign((const char *const *)d->lane->secrets,
	    d->lane->nsecrets, str_of(d->item, "webhook_id"), now, payload, strlen(payload),
	    &sig, &err) < 0) {
		cx_log(CX_LOG_ERROR, fields(d), "cannot sign: %s", err.code ? err.msg :
		    "the subscription has no secret");
		finish(t, d, (cx_outbound_outcome){ .state = "dead", .error_code = "NO_SECRET",
		    .error_detail = "the subscription has no secret that signs" }, -1);
		return;
	}
	id_line = cx_xasprintf("webhook-id: %s", str_of(d->item, "webhook_id"));
	snprintf(stamp, sizeof stamp, "webhook-timestamp: %lld", (long long)now);
	sig_line = cx_xasprintf("webhook-signature: %s", sig);
	hdrs[0] = id_line;
	hdrs[1] = stamp;
	hdrs[2] = sig_line;
	hdrs[3] = NULL;
	memset(&req, 0, sizeof req);
	req.method = "POST";
	req.url = str_of(d->item, "target_url");
	req.body = payload;
	req.body_len = strlen(payload);
	req.content_type = CX_HTTP_JSON;
	req.headers = hdrs;
	if (cx_httpmulti_add(t->m, &req, d, &err) < 0) {
		retry_or_dead(t, d, "CONNECT_FAILED", err.msg, 0);
	} else {
		t->inflight++;
		d->lane->inflight++;
	}
	free(id_line);
	free(sig);
	free(sig_line);
}

/* Queues a claimed delivery (item consumed) for a free request. */
static void enqueue_ready(sender *t, jv item)
{
	delivery *d = cx_xcalloc(1, sizeof *d);

	d->id = num_of(item, "id");
	d->attempts = num_of(item, "attempts");
	d->item = item;
	d->lane = lane_for(t, str_of(item, "subscription_id"));
	d->lane->queued++;
	t->claimed++;
	t->nready++;
	if (t->ready_tail)
		t->ready_tail->next = d;
	else
		t->ready = d;
	t->ready_tail = d;
}

/* Sends what is ready while requests are free, in claim order. A lane
 * may fill the window only when no other lane has deliveries waiting, so a
 * slow receiver never takes every request; on a signal what is ready goes
 * back to approved. */
static void send_ready(sender *t)
{
	delivery **p = &t->ready, *prev = NULL;
	int64_t lanes_waiting = 0;

	for (sub_lane *l = t->lanes; l; l = l->next)
		lanes_waiting += l->queued > 0;
	while (*p && (stopping || t->inflight < t->concurrency)) {
		delivery *d = *p;
		int64_t cap = t->concurrency - (lanes_waiting - 1);

		if (!stopping && d->lane->inflight >= (cap < 1 ? 1 : cap)) {
			prev = d;
			p = &d->next;
			continue;
		}
		*p = d->next;
		if (t->ready_tail == d)
			t->ready_tail = prev;
		t->nready--;
		if (--d->lane->queued == 0)
			lanes_waiting--;
		if (stopping)
			finish(t, d, (cx_outbound_outcome){ .state = "approved",
			    .error_code = "INTERRUPTED", .error_detail = "cx-publish was stopped" }, -1);
		else
			send_one(t, d);
	}
}

static void drop_done(sender *t)
{
	for (delivery *d = t->done, *n; d; d = n) {
		n = d->next;
		delivery_free(d);
	}
	t->done = t->done_tail = NULL;
}

/* One round: settles what was answered and claims what may go, in one
 * transaction, then sends what is ready. Claims run ahead of the requests
 * (twice the window), so a request that ends is followed at once by the
 * next, without waiting for a commit. After a failure of the state file
 * nothing more is claimed (the outcomes are dropped: their leases run out
 * and a later run sends them again). *claimed: how many it claimed. */
static int round_once(sender *t, int64_t *claimed, int64_t *wake)
{
	cx_err err = { 0, "" };
	jv items = jv_array();

	*claimed = 0;
	*wake = 0;
	if (cx_store_begin(t->s, &err) < 0)
		goto fail;
	if (settle_done(t, &err) < 0 || (!t->stopped && claim(t, &items, wake, &err) < 0) ||
	    cx_store_commit(t->s, &err) < 0) {
		cx_store_rollback(t->s);
		goto fail;
	}
	drop_done(t);
	jv_array_foreach(items, i, item) {
		enqueue_ready(t, item);
		(*claimed)++;
	}
	jv_free(items);
	send_ready(t);
	return 0;
fail:
	cx_log(CX_LOG_ERROR, jv_null(), "%s", err.msg);
	publish_status(&t->status, err.code ? err.code : CX_EXIT_TEMPFAIL);
	t->stopped = 1;
	drop_done(t);
	jv_free(items);
	return -1;
}

/* What a run would send now, one log line each, claiming nothing. */
static void plan(sender *t)
{
	due_list dl = { t, NULL, NULL, 0, 0 };
	cx_err err = { 0, "" };
	int64_t most = t->max > 0 ? t->max : INT64_MAX;

	if (cx_trigger_deliveries_due(t->s, cx_clock_now(), most, most, on_due, &dl, &err) < 0)
		publish_status(&t->status, cx_log_fail(&err));
	for (size_t i = 0; i < dl.n; i++) {
		jv item;

		if (cx_outbound_get(&cx_trigger_deliveries, t->s, dl.ids[i], &item, &err) < 0) {
			publish_status(&t->status, cx_log_fail(&err));
			break;
		}
		cx_log(CX_LOG_INFO, jv_null(), "would deliver %s (delivery %lld, %s) to %s",
		    str_of(item, "event_type"), (long long)dl.ids[i], str_of(item, "webhook_id"),
		    dl.lanes[i]->sub);
		jv_free(item);
	}
	free(dl.ids);
	free(dl.lanes);
}

/* Waits up to 100 ms for answers, then takes those already in too, and
 * fills the requests that ended with deliveries that are ready. */
static int await_answers(sender *t, cx_err *err)
{
	int n = cx_httpmulti_run(t->m, 100, on_done, t, err);

	if (n > 0 && t->inflight > 0)
		n = cx_httpmulti_run(t->m, 0, on_done, t, err);
	if (n < 0)
		return -1;
	send_ready(t);
	return 0;
}

/* Delivers until nothing is due now (or a signal, or --max). */
static void deliver(sender *t)
{
	cx_err err = { 0, "" };
	int64_t expired, claimed, wake;

	if (t->dry_run) {
		plan(t);
		return;
	}
	if (t->stopped)
		return;
	if (cx_outbound_expire_leases(&cx_trigger_deliveries, t->s, NULL, &expired, &err) < 0) {
		publish_status(&t->status, cx_log_fail(&err));
		return;
	}
	for (;;) {
		if (round_once(t, &claimed, &wake) < 0)
			break;
		if (t->inflight == 0 && !t->done && !t->ready) {
			int64_t ms = wake - cx_clock_mono_ms();

			if (claimed > 0)
				continue;
			if (!wake || stopping)
				break;
			usleep((useconds_t)(ms < 1 ? 1 : ms > 100 ? 100 : ms) * 1000);
			continue;
		}
		if (t->inflight > 0 && await_answers(t, &err) < 0) {
			publish_status(&t->status, cx_log_fail(&err));
			break;
		}
	}
}

/* --- events in -------------------------------------------------------------- */

/* The sanitizer of each type seen, NULL for a type without a policy. */
typedef struct policy {
	char *type;
	cx_sanitizer *z;
	struct policy *next;
} policy;

static cx_sanitizer *policy_for(sender *t, policy **list, const char *type)
{
	cx_err err = { 0, "" };
	policy *p;

	for (p = *list; p; p = p->next)
		if (strcmp(p->type, type) == 0)
			return p->z;
	p = cx_xcalloc(1, sizeof *p);
	p->type = cx_xstrdup(type);
	if (cx_sanitizer_load(type, &p->z, &err) < 0) {
		publish_status(&t->status, cx_log_fail(&err));
		p->z = NULL;
	}
	p->next = *list;
	*list = p;
	return p->z;
}

static void policies_free(policy *p)
{
	for (policy *n; p; p = n) {
		n = p->next;
		cx_sanitizer_free(p->z);
		free(p->type);
		free(p);
	}
}

static void collect(jv row, void *ctx)
{
	jv *rows = ctx;

	*rows = jv_array_append(*rows, row);
}

/* Records the sample of event ev and enqueues its deliveries, inside the
 * caller's transaction (a dry run only says where it would go). */
static int enqueue(sender *t, policy **policies, jv ev, cx_err *err)
{
	const char *type = cx_json_str(ev, "type"), *key = cx_json_str(ev, "dedupe_key");
	const char *tenant = cx_json_str(ev, "tenant"), *cid = cx_json_str(ev, "correlation_id");
	jv payload, subs = jv_array();
	cx_sanitizer *z;
	int rc = -1, added;

	if (!type || !key || !(z = policy_for(t, policies, type))) {
		jv_free(subs);
		return 0;
	}
	tenant = tenant ? tenant : "default";
	payload = jv_dump_string(cx_sanitize_event(z, ev), 0);
	if ((!t->dry_run && cx_trigger_samples_record_in(t->s, tenant, type, key,
	    jv_string_value(payload), cx_clock_now(), err) < 0) ||
	    cx_subscriptions_matching(t->s, tenant, type, collect, &subs, err) < 0)
		goto out;
	jv_array_foreach(subs, i, sub) {
		if (t->dry_run)
			cx_log(CX_LOG_INFO, jv_null(), "would enqueue %s %s for %s", type, key,
			    str_of(sub, "subscription_id"));
		else if (cx_trigger_deliveries_enqueue_in(t->s, sub, type, key,
		    jv_string_value(payload), cid ? cid : "", &added, err) < 0) {
			jv_free(sub);
			goto out;
		}
		jv_free(sub);
	}
	rc = 0;
out:
	jv_free(payload);
	jv_free(subs);
	return rc;
}

/* Ends a batch of lines: commits it, passes its lines on, delivers. */
static int batch_end(sender *t, int *open, cx_err *err)
{
	if (*open && cx_store_commit(t->s, err) < 0) {
		cx_store_rollback(t->s);
		*open = 0;
		return -1;
	}
	*open = 0;
	if (cx_ndjson_flush() < 0)
		return 1;
	deliver(t);
	return 0;
}

/* The lines of stdin, each passed through, their events enqueued. */
static void read_events(sender *t, policy **policies, size_t max_line)
{
	cx_ndjson_reader *r = cx_ndjson_open(0, max_line);
	cx_ndjson_line line;
	cx_err err = { 0, "" };
	int rc = 0, open = 0, n = 0;

	while (!stopping && !t->stopped && (rc = cx_ndjson_next(r, &line)) == 1) {
		if (!open && !t->dry_run && cx_store_begin(t->s, &err) < 0)
			goto fail;
		open = !t->dry_run;
		if (enqueue(t, policies, line.value, &err) < 0) {
			cx_log(CX_LOG_ERROR, jv_null(), "line %ld: %s", line.lineno, err.msg);
			jv_free(line.value);
			if (open)
				cx_store_rollback(t->s);
			open = 0;
			goto fail;
		}
		jv_free(line.value);
		cx_ndjson_write_raw(line.raw, line.len);
		if ((++n >= LINES_PER_COMMIT || !cx_ndjson_ready(r)) &&
		    (n = 0, rc = batch_end(t, &open, &err)) != 0) {
			if (rc < 0)
				goto fail;
			break;
		}
	}
	if (rc < 0)
		publish_status(&t->status, CX_EXIT_TEMPFAIL);
	else if (cx_ndjson_rejected(r) > 0)
		publish_status(&t->status, CX_EXIT_DATAERR);
	if (open && batch_end(t, &open, &err) < 0)
		goto fail;
	cx_ndjson_close(r);
	return;
fail:
	publish_status(&t->status, err.code ? err.code : CX_EXIT_TEMPFAIL);
	t->stopped = 1;
	cx_ndjson_close(r);
}

int publish_triggers(cx_store *s, const publish_conf *c)
{
	policy *policies = NULL;
	cx_err err = { 0, "" };
	struct sigaction sa;
	sender t;

	if (sender_open(&t, s, c, &err) < 0) {
		sender_close(&t);
		return cx_log_fail(&err);
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* a closed stdin is no input, a terminal is a person */
	if (fcntl(0, F_GETFD) != -1 && !isatty(0))
		read_events(&t, &policies, (size_t)c->max_line);
	cx_ndjson_flush();
	deliver(&t);
	policies_free(policies);
	sender_close(&t);
	return t.status;
}
