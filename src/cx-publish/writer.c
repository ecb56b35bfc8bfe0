/* writer.c: cx-publish's writer thread. Each commit handed to it is one
 * transaction on a connection of its own: the outcomes that were ready
 * (settled, their events filled), the latency of those requests, the
 * claims the window has room for and the rate-limit tokens the waiting
 * jobs need. It touches only the commit_work handed to it (state.h). */
#include <stdlib.h>
#include <string.h>

#include "channels.h"
#include "clock.h"
#include "commands.h"
#include "state.h"
#include "exit.h"
#include "xalloc.h"

token_ask *writer_ask(commit_work *w, const char *key, int *fresh)
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
		const cx_channel *ch = cx_channels_find(str_of(item, "channel"));
		int fresh;
		token_ask *a = writer_ask(w, key, &fresh);

		free(key);
		/* a setting that does not parse: lane_for reports it and sends unpaced */
		if (fresh && (!ch || cx_channel_rate(ch, &a->limit, &(cx_err){ 0, "" }) < 0))
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

/* How many of the claimed items (read) are of channel. */
static int64_t count_of(jv claimed, const char *channel)
{
	int64_t n = 0;

	jv_array_foreach(claimed, i, item) {
		n += strcmp(str_of(item, "channel"), channel) == 0;
		jv_free(item);
	}
	return n;
}

/* A batching channel's claims bring the rest of a batch with them: up to
 * batch_max - 1 more of its items (they wait as one job, for one token). */
static int claim_batches(cx_store *s, const engine *e, commit_work *w, cx_err *err)
{
	const cx_channel *ch;

	for (size_t i = 0; (ch = cx_channels_at(i)); i++) {
		int64_t more = (int64_t)ch->batch_max - 1;
		int before;

		if (!ch->batch_key || (e->channel && strcmp(e->channel, ch->name)) ||
		    count_of(w->commands, ch->name) + count_of(w->items, ch->name) == 0)
			continue;
		before = jv_array_length(jv_copy(w->commands));
		if (cx_commands_claim_in(s, ch->name, more, 0, e->owner, e->lease, &w->commands,
		    err) < 0)
			return -1;
		more -= jv_array_length(jv_copy(w->commands)) - before;
		if (more > 0 && cx_queue_claim_in(s, ch->name, more, e->owner, e->lease,
		    &w->items, err) < 0)
			return -1;
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
	return w->only_id > 0 ? 0 : claim_batches(s, e, w, err);
}

/* What the job's channel keeps of an outcome, in the commit's transaction
 * (not for a retry: it stays approved and is prepared again). */
static int settled_hook(cx_store *s, const job *j, cx_err *err)
{
	const cx_channel *ch = j->channel;

	if (!ch || !ch->settled || !j->prepared || !j->o.state ||
	    strcmp(j->o.state, "approved") == 0)
		return 0;
	return ch->settled(s, j->item, &j->call, j->o.state, j->o.provider_ref, err);
}

/* The writer's side of a commit: one transaction, all or nothing. */
static void commit_run(cx_store *s, const engine *e, commit_work *w)
{
	cx_err *err = &w->err;

	w->rc = -1;
	if (cx_store_begin(s, err) < 0)
		return;
	for (job *j = w->batch; j; j = j->next) {
		int rc = settled_hook(s, j, err);

		if (rc < 0)
			goto fail;
		rc = j->command ? cx_commands_settle_in(s, j->id, &j->o, &j->event, err) :
		    cx_queue_settle_in(s, j->id, &j->o, &j->event, err);

		if (rc < 0 && err->code != CX_EXIT_SOME_FAILED)
			goto fail;
		if (rc < 0) {
			/* a lease lost to another process is its business now */
			j->refused = cx_xstrdup(err->msg);
			*err = (cx_err){ 0, "" };
			j->o.state = NULL;
		} else if (j->channel && j->channel->rollback && rollback_settled(s, j, err) < 0) {
			goto fail;
		}
	}
	for (size_t i = 0; i < w->nlatency; i++)
		if (publish_latency_add(s, w->latency_channel[i], &w->latency[i], err) < 0)
			goto fail;
	if (claim(s, e, w, err) < 0 || take_tokens(s, w, err) < 0 ||
	    cx_store_commit(s, err) < 0)
		goto fail;
	w->rc = 0;
	return;
fail:
	cx_store_rollback(s);
}

void *writer_main(void *arg)
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

void writer_wait(writer *wr)
{
	pthread_mutex_lock(&wr->mu);
	while (wr->busy)
		pthread_cond_wait(&wr->cv, &wr->mu);
	pthread_mutex_unlock(&wr->mu);
}
