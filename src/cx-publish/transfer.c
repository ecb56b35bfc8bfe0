/* transfer.c: the delivery channels' transfers (channel.h: transfer). A
 * job of such a channel (with the other items of its batch) is sent by its
 * channel on a thread of its own, with a store connection of its own for
 * what must outlive a kill -9 (an S3 upload id); the send loop goes on and
 * takes the outcome in once the thread is over (woken through the multi
 * handle). The thread gets deep copies of the items: jv reference counts
 * are not atomic, so nothing it holds is shared with the send loop until
 * it is joined; after that, what it made (each item's data) is the send
 * loop's. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "exit.h"
#include "json.h"
#include "log.h"
#include "state.h"
#include "xalloc.h"

typedef struct xfer {
	engine *e;
	job *j;                     /* the batch's first job; its members follow */
	pthread_t thread;
	cx_channel_transfer t;
	char *token;
	char *tenant;
	int64_t latency_ms;
	struct xfer *next;
} xfer;

/* An unshared copy of v (consumed). */
static jv unshared(jv v)
{
	char *text = cx_json_dump(v);
	jv out = jv_parse(text);

	free(text);
	return out;
}

static void *run(void *arg)
{
	xfer *x = arg;
	engine *e = x->e;
	cx_err err = { 0, "" };
	int64_t t0 = cx_clock_mono_ms();

	if (cx_store_open(cx_store_path(e->s), &x->t.s, &err) < 0) {
		for (size_t i = 0; i < x->t.n; i++)
			cx_channel_set(&x->t.results[i], CX_CHANNEL_RETRY, "UNAVAILABLE", "%s",
			    err.msg);
	} else {
		x->j->channel->transfer(&x->t);
		cx_store_close(x->t.s);
		x->t.s = NULL;
	}
	x->latency_ms = cx_clock_mono_ms() - t0;
	pthread_mutex_lock(&e->xmu);
	x->next = e->xdone;
	e->xdone = x;
	pthread_mutex_unlock(&e->xmu);
	cx_httpmulti_wakeup(e->m);
	return NULL;
}

/* Frees x, whose data objects were taken (or never set). */
static void xfer_free(xfer *x)
{
	jv_free(x->t.items);
	free(x->t.results);
	free(x->t.data);
	cx_secret_free(x->token);
	free(x->tenant);
	free(x);
}

int transfer_start(engine *e, job *j, const char *tok, cx_err *err)
{
	xfer *x = cx_xcalloc(1, sizeof *x);
	jv items = jv_array_append(jv_array(), jv_copy(j->item));
	size_t i = 1;

	for (job *m = j->members; m; m = m->batch_next)
		items = jv_array_append(items, jv_copy(m->item));
	x->e = e;
	x->j = j;
	x->token = tok ? cx_xstrdup(tok) : NULL;
	x->tenant = cx_xstrdup(str_of(j->item, "tenant"));
	x->t.items = unshared(items);
	x->t.n = 1 + j->nmembers;
	x->t.token = x->token;
	x->t.tenant = x->tenant;
	x->t.stop = &stop_requested;
	x->t.results = cx_xcalloc(x->t.n, sizeof *x->t.results);
	x->t.data = cx_xcalloc(x->t.n, sizeof *x->t.data);
	for (i = 0; i < x->t.n; i++)
		x->t.data[i] = jv_invalid();
	if (pthread_create(&x->thread, NULL, run, x) != 0) {
		xfer_free(x);
		return cx_err_set(err, CX_EXIT_TEMPFAIL, "cannot start a transfer thread");
	}
	e->xrunning++;
	return 0;
}

/* The outcome of item i of transfer x for its job j. */
static void take_one(engine *e, xfer *x, job *j, size_t i)
{
	cx_channel_result *r = &x->t.results[i];
	jv f = engine_fields(j);

	f = jv_object_set(f, jv_string("latency_ms"), jv_number((double)x->latency_ms));
	/* the thread is over: what it made is the send loop's alone now */
	if (jv_get_kind(x->t.data[i]) == JV_KIND_OBJECT) {
		jv_free(j->call.data);
		j->call.data = x->t.data[i];
	} else {
		jv_free(x->t.data[i]);
	}
	x->t.data[i] = jv_invalid();
	j->prepared = 1;            /* its channel's settled hook sees the outcome */
	engine_judged(e, j, r, f);
	cx_channel_result_free(r);
}

static void take(engine *e, xfer *x)
{
	job *j = x->j, *m = j->members;
	size_t i = 1;

	pthread_join(x->thread, NULL);
	e->xrunning--;
	e->inflight--;
	publish_latency_observe(&j->lane->latency, x->latency_ms);
	j->members = NULL;
	j->nmembers = 0;
	take_one(e, x, j, 0);
	while (m) {
		job *n = m->batch_next;

		m->batch_next = NULL;
		take_one(e, x, m, i++);
		m = n;
	}
	xfer_free(x);
}

void transfer_collect(engine *e)
{
	xfer *done;

	pthread_mutex_lock(&e->xmu);
	done = e->xdone;
	e->xdone = NULL;
	pthread_mutex_unlock(&e->xmu);
	while (done) {
		xfer *n = done->next;

		take(e, done);
		done = n;
	}
}

void transfer_drain(engine *e)
{
	while (e->xrunning > 0) {
		transfer_collect(e);
		if (e->xrunning > 0)
			usleep(10000);
	}
}
