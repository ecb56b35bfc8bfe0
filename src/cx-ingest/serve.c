/* serve.c: `cx-ingest serve`, the webhook server over libmicrohttpd.
 *
 * MHD threads read and check requests; accepted deliveries go to one writer
 * thread that owns the store connection and commits whatever has queued up
 * in one transaction (group commit). A request's connection is suspended
 * until its delivery is committed, and only then answered 200, so a 200
 * always means the delivery is on disk. Calls of the automation API
 * (actions.h) are jobs too: the writer runs each inside the group's
 * transaction, which decides its answer. Counters are kept in memory and
 * written by the writer in its transactions; latency and body-size
 * histograms live in this process and are served by /metrics. WAL
 * checkpoints (an fsync of the database file) run once a second on the
 * reader's connection, not inside the writer's commits. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "actions.h"
#include "clock.h"
#include "config.h"
#include "configfile.h"
#include "exit.h"
#include "inbox.h"
#include "ingest.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "ndjson.h"
#include "opts.h"
#include "store.h"
#include "webhooks.h"
#include "xalloc.h"

#define GROUP_MAX 512
#define CHECKPOINT_EVERY_MS 1000

enum { O_LISTEN = 1, O_DB, O_CONFIG, O_MAX_BODY, O_STDOUT, O_THREADS, O_ROUTES };

static const cx_opt options[] = {
	{ "config", 0, O_CONFIG, "FILE", "load KEY=value settings from FILE" },
	{ "db", 0, O_DB, "PATH", "state file (default $CX_DB, then $XDG_STATE_HOME/cx/cx.db)" },
	{ "listen", 'l', O_LISTEN, "HOST:PORT", "address to listen on (port 0 picks one)" },
	{ "max-body", 0, O_MAX_BODY, "BYTES", "largest accepted body (default 1048576)" },
	{ "routes", 0, O_ROUTES, "LIST", "serve only these providers' /webhooks/ routes, and 'actions' (default $CX_INGEST_ROUTES, else all)" },
	{ "stdout", 0, O_STDOUT, NULL, "also write each stored delivery as a webhook.received line" },
	{ "threads", 0, O_THREADS, "N", "request threads (default 2)" },
	{ NULL, 0, 0, NULL, NULL },
};

const cx_cmd ingest_serve_cmd = {
	"cx-ingest serve",
	"--listen HOST:PORT [--db PATH] [--max-body BYTES] [--routes LIST] [--stdout] [--threads N]",
	"Receive signed webhooks, store them in the inbox, answer 200 once durable.",
	options,
};

typedef struct {
	const char *listen, *db, *config, *routes;
	long long max_body, threads;
	int to_stdout;
	unsigned served;        /* the providers whose routes are served */
} conf;

static int on_option(int id, const char *arg, void *ctx, cx_err *err)
{
	conf *c = ctx;

	switch (id) {
	case O_LISTEN: c->listen = arg; return 0;
	case O_DB: c->db = arg; return 0;
	case O_CONFIG: c->config = arg; return 0;
	case O_ROUTES: c->routes = arg; return 0;
	case O_STDOUT: c->to_stdout = 1; return 0;
	case O_MAX_BODY: return cx_opts_uint("max-body", arg, &c->max_body, err);
	case O_THREADS: return cx_opts_range("threads", arg, 1, 64, &c->threads, err);
	}
	return 0;
}

/* Work for the writer: a delivery to store, a call of the automation API
 * to run (actions.h), or (neither) just a transaction, which proves the
 * store writable and flushes counters. */
typedef struct job {
	const char *provider;
	action_call *call;
	char *body, *headers;   /* headers: the kept ones, a JSON object text */
	size_t len;
	char correlation_id[CX_CORRELATION_ID_LEN];
	int64_t received, inbox_id;
	int done, failed;
	struct MHD_Connection *conn;
	struct job *next;
} job;

/* One request, kept by MHD between calls of the handler. */
typedef struct {
	const char *route;                  /* a webhook route, or NULL */
	int api;                            /* a route of the automation API */
	const cx_webhook_source *source;    /* the route's */
	size_t source_index;
	char *body;
	size_t len, cap;
	int too_big;
	int64_t start_ms;
	unsigned status;
	job *job;
	int metrics;            /* the job was for GET /metrics */
	int counted;            /* in srv.active; 0: turned away, draining */
} request;

/* Latency buckets (seconds) and body-size buckets (bytes). */
static const double latency_bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1, 2.5 };
static const double size_bounds[] = { 256, 1024, 4096, 16384, 65536, 262144,
	1048576 };
#define NLAT (sizeof latency_bounds / sizeof *latency_bounds)
#define NSIZE (sizeof size_bounds / sizeof *size_bounds)

static struct {
	conf c;
	void **keys;            /* each webhook source's secrets, by index */
	cx_store *store;        /* the writer's */
	cx_store *reader;       /* for /metrics, under reader_lock */
	pthread_mutex_t reader_lock;
	pthread_mutex_t lock;   /* guards everything below */
	pthread_cond_t wake, tick;
	job *queue, *queue_tail;
	int stopping;
	delta *deltas;
	histogram latency, sizes;
	long active;            /* requests in flight */
	int draining;           /* stopping: new requests are turned away */
	int stdout_gone;
} srv = {
	.reader_lock = PTHREAD_MUTEX_INITIALIZER,
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.wake = PTHREAD_COND_INITIALIZER,
	.tick = PTHREAD_COND_INITIALIZER,
};

/* Under srv.lock. */
static void count_locked(const char *name, const char *labels, int64_t n)
{
	deltas_add(&srv.deltas, name, labels, n);
}

/* Puts deltas that could not be written back for the next transaction. */
static void requeue_deltas(delta *list)
{
	pthread_mutex_lock(&srv.lock);
	for (delta *d = list; d; d = d->next)
		count_locked(d->name, d->labels, d->n);
	pthread_mutex_unlock(&srv.lock);
	deltas_free(list);
}

static void emit_stdout(job *j)
{
	char ts[CX_RFC3339_LEN], *line;

	if (srv.stdout_gone)
		return;
	if (j->call) {
		line = actions_stdout_line(j->call);
	} else {
		cx_clock_rfc3339(j->received, -1, ts);
		line = cx_inbox_line(j->inbox_id, j->provider, j->correlation_id, ts,
		    j->headers, j->body, j->len);
	}
	if (line)
		cx_ndjson_write_raw(line, strlen(line));
	free(line);
}

/* Counts the batch's deliveries and answered calls, once per counter. */
static int count_stored(job *batch, cx_err *err)
{
	delta *counts = NULL;
	char *labels;
	int rc;

	for (job *j = batch; j; j = j->next) {
		if (j->provider)
			deltas_add(&counts, "cx_inbox_deliveries_total", j->provider, 1);
		if (j->call && actions_stored(j->call))
			deltas_add(&counts, "cx_inbox_deliveries_total", "action", 1);
		if (j->call && (labels = actions_result_labels(j->call))) {
			deltas_add(&counts, "cx_actions_total", labels, 1);
			free(labels);
		}
	}
	rc = 0;
	for (delta *d = counts; d && rc == 0; d = d->next)
		rc = strcmp(d->name, "cx_inbox_deliveries_total") == 0 ?
		    cx_inbox_count(srv.store, d->labels, d->n, err) :
		    cx_metrics_add(srv.store, d->name, d->labels, d->n, err);
	deltas_free(counts);
	return rc;
}

/* One group: store every job of the batch and the pending counters in one
 * transaction; then wake their connections. The deliveries' own counts are
 * written only with them. */
static void commit_group(job *batch)
{
	cx_err err = { 0, "" };
	delta *pending;
	int ok;

	pthread_mutex_lock(&srv.lock);
	pending = srv.deltas;
	srv.deltas = NULL;
	pthread_mutex_unlock(&srv.lock);

	ok = cx_store_begin(srv.store, &err) == 0;
	for (job *j = batch; ok && j; j = j->next) {
		if (j->call)
			ok = actions_run(j->call, srv.store, &err) == 0;
		else if (j->provider)
			ok = cx_inbox_add(srv.store, j->provider, j->correlation_id,
			    j->received, j->headers, j->body, j->len, &j->inbox_id,
			    &err) == 0;
	}
	ok = ok && count_stored(batch, &err) == 0;
	ok = ok && deltas_flush(srv.store, pending, &err) == 0;
	ok = ok && cx_store_commit(srv.store, &err) == 0;
	if (!ok) {
		cx_store_rollback(srv.store);
		cx_log(CX_LOG_ERROR, jv_null(), "cannot store deliveries: %s", err.msg);
		requeue_deltas(pending);
	} else {
		deltas_free(pending);
	}
	for (job *j = batch; j; j = j->next)
		if (ok && (j->provider || j->call) && srv.c.to_stdout)
			emit_stdout(j);
	if (srv.c.to_stdout && !srv.stdout_gone && cx_ndjson_flush() < 0) {
		srv.stdout_gone = 1;
		cx_log_warn("stdout is closed; deliveries are still stored");
	}
	pthread_mutex_lock(&srv.lock);
	for (job *j = batch, *next; j; j = next) {
		next = j->next;
		j->failed = !ok;
		j->done = 1;
		MHD_resume_connection(j->conn);
	}
	pthread_mutex_unlock(&srv.lock);
}

static void *checkpointer_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct timespec until;
		cx_err err = { 0, "" };
		int stop;

		pthread_mutex_lock(&srv.lock);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += CHECKPOINT_EVERY_MS / 1000;
		if (!srv.stopping)
			pthread_cond_timedwait(&srv.tick, &srv.lock, &until);
		stop = srv.stopping;
		pthread_mutex_unlock(&srv.lock);
		pthread_mutex_lock(&srv.reader_lock);
		if (cx_store_checkpoint(srv.reader, &err) < 0)
			cx_log(CX_LOG_WARN, jv_null(), "%s", err.msg);
		pthread_mutex_unlock(&srv.reader_lock);
		if (stop)
			return NULL;
	}
}

static void *writer_main(void *arg)
{
	(void)arg;
	for (;;) {
		job *batch = NULL, **tail = &batch;
		int n = 0, idle;

		pthread_mutex_lock(&srv.lock);
		if (!srv.queue && !srv.stopping) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			pthread_cond_timedwait(&srv.wake, &srv.lock, &until);
		}
		while (srv.queue && n < GROUP_MAX) {
			job *j = srv.queue;

			srv.queue = j->next;
			j->next = NULL;
			*tail = j;
			tail = &j->next;
			n++;
		}
		if (!srv.queue)
			srv.queue_tail = NULL;
		idle = n == 0 && !srv.deltas;
		if (n == 0 && srv.stopping) {
			pthread_mutex_unlock(&srv.lock);
			if (!idle)
				commit_group(NULL);  /* the last counters, once */
			return NULL;
		}
		pthread_mutex_unlock(&srv.lock);
		if (!idle)
			commit_group(batch);
	}
}

static void enqueue(job *j)
{
	pthread_mutex_lock(&srv.lock);
	if (srv.queue_tail)
		srv.queue_tail->next = j;
	else
		srv.queue = j;
	srv.queue_tail = j;
	pthread_cond_signal(&srv.wake);
	pthread_mutex_unlock(&srv.lock);
}

static enum MHD_Result reply(struct MHD_Connection *conn, request *r,
    unsigned status, const char *type, const char *body)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body),
	    (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
		    r->route ? "GET, POST" : "GET");
	rc = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	r->status = status;
	return rc;
}

static enum MHD_Result reply_error(struct MHD_Connection *conn, request *r,
    unsigned status, const char *code)
{
	char body[128];

	snprintf(body, sizeof body, "{\"ok\":false,\"error\":\"%s\"}\n", code);
	return reply(conn, r, status, "application/json", body);
}

/* A request that arrives on a kept-alive connection while the server stops:
 * 503 and the connection closed, so the client retries elsewhere or later. */
static enum MHD_Result reply_closing(struct MHD_Connection *conn, request *r)
{
	static const char body[] = "{\"ok\":false,\"error\":\"shutting_down\"}\n";
	struct MHD_Response *resp = MHD_create_response_from_buffer(sizeof body - 1,
	    (void *)body, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result rc;

	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	rc = MHD_queue_response(conn, MHD_HTTP_SERVICE_UNAVAILABLE, resp);
	MHD_destroy_response(resp);
	r->status = MHD_HTTP_SERVICE_UNAVAILABLE;
	return rc;
}

static const char *mhd_header(const cx_webhook_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->ctx, MHD_HEADER_KIND, name);
}

static const char *mhd_query(const cx_webhook_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->ctx, MHD_GET_ARGUMENT_KIND, name);
}

/* A GET on a route: the source's subscription handshake. */
static enum MHD_Result verify_handshake(struct MHD_Connection *conn, request *r)
{
	cx_webhook_request req = { mhd_header, mhd_query, conn, NULL, 0, NULL };
	const char *challenge = r->source->handshake ?
	    r->source->handshake(&req, srv.keys[r->source_index]) : NULL;

	if (!challenge)
		return reply_error(conn, r, MHD_HTTP_FORBIDDEN, "verification_failed");
	return reply(conn, r, MHD_HTTP_OK, "text/plain", challenge);
}

/* The headers kept with a delivery: these, then its source's signature. */
static const char *const kept_headers[] = {
	"Content-Type", "User-Agent", NULL,
};

static jv keep_header(jv h, struct MHD_Connection *conn, const char *name)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);

	return v ? jv_object_set(h, jv_string(name), jv_string(v)) : h;
}

static char *selected_headers(struct MHD_Connection *conn, const cx_webhook_source *src)
{
	jv h = jv_object();

	for (const char *const *name = kept_headers; *name; name++)
		h = keep_header(h, conn, *name);
	if (src->signature_header)
		h = keep_header(h, conn, src->signature_header);
	return cx_json_dump(h);
}

static void count_signature_failure(const char *provider)
{
	char *labels = cx_metrics_labels("provider", provider, NULL);

	pthread_mutex_lock(&srv.lock);
	count_locked("cx_webhook_signature_failures_total", labels, 1);
	pthread_mutex_unlock(&srv.lock);
	free(labels);
}

/* The source's check of a POST: 1 accepted (r->body may be replaced), 0
 * refused (*forbidden: the error code of a 403, else NULL), -1 store
 * failure (logged). */
static int verify_delivery(struct MHD_Connection *conn, request *r,
    const char **forbidden)
{
	cx_webhook_request req = { mhd_header, mhd_query, conn, r->body, r->len, NULL };
	cx_err err = { 0, "" };
	int ok;

	if (r->source->needs_store)
		pthread_mutex_lock(&srv.reader_lock);
	ok = r->source->verify(&req, srv.keys[r->source_index],
	    r->source->needs_store ? srv.reader : NULL, &err);
	if (r->source->needs_store)
		pthread_mutex_unlock(&srv.reader_lock);
	r->body = req.body;
	r->len = req.len;
	*forbidden = req.forbidden;
	if (ok < 0)
		cx_log(CX_LOG_ERROR, jv_null(), "%s", err.msg);
	return ok;
}

static enum MHD_Result accept_delivery(struct MHD_Connection *conn, request *r)
{
	const char *forbidden = NULL;
	job *j;
	int ok;

	if (r->too_big)
		return reply_error(conn, r, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large");
	if ((ok = verify_delivery(conn, r, &forbidden)) < 0)
		return reply_error(conn, r, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable");
	if (ok == 0 && forbidden)
		return reply_error(conn, r, MHD_HTTP_FORBIDDEN, forbidden);
	if (ok == 0) {
		count_signature_failure(r->route);
		return reply_error(conn, r, MHD_HTTP_UNAUTHORIZED, r->source->refused);
	}
	if (!cx_json_object_valid(r->body, r->len))
		return reply_error(conn, r, MHD_HTTP_BAD_REQUEST, "invalid_json");
	j = cx_xcalloc(1, sizeof *j);
	j->provider = r->route;
	j->body = r->body;
	j->len = r->len;
	r->body = NULL;
	j->headers = selected_headers(conn, r->source);
	j->received = cx_clock_now();
	cx_inbox_new_correlation_id(j->correlation_id);
	j->conn = conn;
	r->job = j;
	MHD_suspend_connection(conn);
	enqueue(j);
	return MHD_YES;
}

/* A call of the automation API answered without the writer (no route,
 * wrong method, Content-Length over the limit): counted, answered, freed. */
static enum MHD_Result answer_call_now(struct MHD_Connection *conn, request *r,
    action_call *c)
{
	char *labels;
	enum MHD_Result rc;

	if (!c->status)
		actions_answer_verdict(c, &c->early);
	if ((labels = actions_result_labels(c))) {
		pthread_mutex_lock(&srv.lock);
		count_locked("cx_actions_total", labels, 1);
		pthread_mutex_unlock(&srv.lock);
		free(labels);
	}
	rc = actions_reply(conn, c, 0, &r->status);
	actions_free(c);
	return rc;
}

/* A call of the automation API: answered at once when nothing needs the
 * store, else run by the writer. */
static enum MHD_Result accept_call(struct MHD_Connection *conn, request *r,
    const char *url, const char *method)
{
	action_call *c = actions_begin(conn, method, url, r->body, r->len, r->too_big);
	job *j;

	r->body = NULL;
	if (c->status)
		return answer_call_now(conn, r, c);
	j = cx_xcalloc(1, sizeof *j);
	j->call = c;
	j->conn = conn;
	r->job = j;
	MHD_suspend_connection(conn);
	enqueue(j);
	return MHD_YES;
}

/* A job without a delivery: the writer runs a transaction for it. */
static enum MHD_Result probe_store(struct MHD_Connection *conn, request *r)
{
	job *j = cx_xcalloc(1, sizeof *j);

	j->conn = conn;
	r->job = j;
	MHD_suspend_connection(conn);
	enqueue(j);
	return MHD_YES;
}

static enum MHD_Result serve_metrics(struct MHD_Connection *conn, request *r)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	cx_err err = { 0, "" };
	int64_t depth = 0;
	histogram lat, sizes;
	int rc;
	enum MHD_Result res;

	pthread_mutex_lock(&srv.reader_lock);
	rc = cx_metrics_write(srv.reader, out, &err);
	rc = rc < 0 ? rc : cx_inbox_depth(srv.reader, &depth, &err);
	pthread_mutex_unlock(&srv.reader_lock);
	pthread_mutex_lock(&srv.lock);
	lat = srv.latency;
	sizes = srv.sizes;
	pthread_mutex_unlock(&srv.lock);
	fprintf(out, "# HELP cx_inbox_depth Deliveries not yet acked by the slowest consumer.\n"
	    "# TYPE cx_inbox_depth gauge\ncx_inbox_depth %lld\n", (long long)depth);
	write_histogram(out, "cx_webhook_latency_seconds",
	    "Time from request to answer.", &lat, latency_bounds, NLAT);
	write_histogram(out, "cx_webhook_body_bytes", "Size of webhook bodies.",
	    &sizes, size_bounds, NSIZE);
	fclose(out);
	if (rc < 0) {
		free(text);
		cx_log(CX_LOG_ERROR, jv_null(), "metrics: %s", err.msg);
		return reply_error(conn, r, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable");
	}
	res = reply(conn, r, MHD_HTTP_OK, "text/plain; version=0.0.4", text);
	free(text);
	return res;
}

/* Answers a request whose job the writer has finished. */
static enum MHD_Result finish_job(struct MHD_Connection *conn, request *r)
{
	job *j = r->job;
	char body[128];

	if (j->call)
		return actions_reply(conn, j->call, j->failed, &r->status);
	if (j->failed)
		return reply_error(conn, r, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable");
	if (j->provider) {
		snprintf(body, sizeof body, "{\"ok\":true,\"correlation_id\":\"%s\"}\n",
		    j->correlation_id);
		return reply(conn, r, MHD_HTTP_OK, "application/json", body);
	}
	if (r->metrics)
		return serve_metrics(conn, r);
	return reply(conn, r, MHD_HTTP_OK, "application/json", "{\"ok\":true}\n");
}

/* The first call for a request: find its route, refuse early what can be. */
static enum MHD_Result begin_request(struct MHD_Connection *conn, request *r,
    const char *url, const char *method)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);

	if (strncmp(url, "/webhooks/", 10) == 0) {
		int i = cx_webhooks_find(url + 10, &r->source, &r->source_index);

		r->route = ingest_route_served(srv.c.served, i) ?
		    cx_webhooks_route((size_t)i, NULL, NULL) : NULL;
		if (!r->route)
			return reply_error(conn, r, MHD_HTTP_NOT_FOUND, "not_found");
		if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
			return reply_error(conn, r, MHD_HTTP_METHOD_NOT_ALLOWED,
			    "method_not_allowed");
		if (cl && strtoull(cl, NULL, 10) > (unsigned long long)srv.c.max_body)
			return reply_error(conn, r, MHD_HTTP_CONTENT_TOO_LARGE,
			    "body_too_large");
		return MHD_YES;
	}
	if ((srv.c.served & INGEST_ACTIONS_BIT) && actions_route(url)) {
		r->api = 1;
		if (cl && strtoull(cl, NULL, 10) > (unsigned long long)srv.c.max_body)
			return answer_call_now(conn, r, actions_begin(conn, method, url,
			    NULL, 0, 1));
		return MHD_YES;
	}
	if (strcmp(url, "/healthz") != 0 && strcmp(url, "/metrics") != 0)
		return reply_error(conn, r, MHD_HTTP_NOT_FOUND, "not_found");
	if (strcmp(method, "GET") != 0)
		return reply_error(conn, r, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed");
	return MHD_YES;
}

static void take_body(request *r, const char *data, size_t n)
{
	if (r->too_big || r->len + n > (size_t)srv.c.max_body) {
		r->too_big = 1;
		return;
	}
	if (r->len + n > r->cap) {
		r->cap = (r->len + n) * 2;
		if (r->cap > (size_t)srv.c.max_body)
			r->cap = (size_t)srv.c.max_body;
		r->body = cx_xrealloc(r->body, r->cap);
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn,
    const char *url, const char *method, const char *version,
    const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	request *r = *con_cls;

	(void)cls;
	(void)version;
	if (!r) {
		int draining;

		r = cx_xcalloc(1, sizeof *r);
		r->start_ms = cx_clock_mono_ms();
		*con_cls = r;
		pthread_mutex_lock(&srv.lock);
		draining = srv.draining;
		srv.active += !draining;
		r->counted = !draining;
		pthread_mutex_unlock(&srv.lock);
		if (draining)
			return reply_closing(conn, r);
		return begin_request(conn, r, url, method);
	}
	/* A request turned away while draining is called again only if its 503
	 * was not queued: once MHD_stop_daemon() has begun, MHD_queue_response()
	 * queues nothing yet answers MHD_YES, while the pool threads still serve
	 * connections that were already readable, so MHD reads the body on and
	 * calls back. Such a request is not in srv.active, and drain_requests()
	 * no longer waits: it must never be suspended (MHD_stop_daemon() aborts
	 * on a suspended connection). Close the connection instead. */
	if (!r->counted)
		return MHD_NO;
	if (*upload_data_size) {
		take_body(r, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->job)
		return finish_job(conn, r);
	if (r->api)
		return accept_call(conn, r, url, method);
	if (!r->route) {
		r->metrics = strcmp(url, "/metrics") == 0;
		return probe_store(conn, r);
	}
	if (strcmp(method, "GET") == 0)
		return verify_handshake(conn, r);
	return accept_delivery(conn, r);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	request *r = *con_cls;
	double secs;

	(void)cls;
	(void)conn;
	(void)toe;
	if (!r)
		return;
	secs = (double)(cx_clock_mono_ms() - r->start_ms) / 1000.0;
	pthread_mutex_lock(&srv.lock);
	srv.active -= r->counted;
	if (r->route && r->status) {
		char code[16], *labels;

		snprintf(code, sizeof code, "%u", r->status);
		labels = cx_metrics_labels("provider", r->route, "status", code, NULL);
		count_locked("cx_webhook_requests_total", labels, 1);
		free(labels);
		observe(&srv.latency, latency_bounds, NLAT, secs);
		if (r->status == MHD_HTTP_OK && r->job)
			observe(&srv.sizes, size_bounds, NSIZE, (double)r->job->len);
	}
	pthread_mutex_unlock(&srv.lock);
	if (r->job) {
		actions_free(r->job->call);
		free(r->job->headers);
		free(r->job->body);
		free(r->job);
	}
	free(r->body);
	free(r);
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof msg, fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	cx_log(CX_LOG_DEBUG, jv_null(), "http: %s", msg);
}

/* Stops taking requests and waits for those in flight: each ends when the
 * writer has settled its job or MHD's connection timeout closes it, so no
 * connection is still suspended when the daemon stops. */
static void drain_requests(void)
{
	pthread_mutex_lock(&srv.lock);
	srv.draining = 1;
	pthread_mutex_unlock(&srv.lock);
	for (;;) {
		long active;

		pthread_mutex_lock(&srv.lock);
		active = srv.active;
		pthread_mutex_unlock(&srv.lock);
		if (active == 0)
			return;
		usleep(10000);
	}
}

/* The command line: 0 with *addr, or the exit status (after --help, or
 * a usage error). */
static int read_command_line(int argc, char **argv, struct sockaddr_storage *addr,
    socklen_t *addrlen)
{
	cx_err err = { 0, "" };
	int rc;

	srv.c.max_body = 1024 * 1024;
	srv.c.threads = 2;
	rc = cx_opts_parse(&ingest_serve_cmd, argc, argv, on_option, &srv.c, &err);
	if (rc == CX_OPTS_DONE)
		return CX_EXIT_OK;
	if (rc >= 0 && rc < argc)
		rc = cx_err_set(&err, CX_EXIT_USAGE, "unexpected argument '%s'", argv[rc]);
	if (rc >= 0 && !srv.c.listen)
		rc = cx_err_set(&err, CX_EXIT_USAGE, "serve needs --listen HOST:PORT");
	if (rc >= 0)
		rc = ingest_resolve_listen(srv.c.listen, addr, addrlen, &err);
	if (rc < 0) {
		cx_log(CX_LOG_ERROR, jv_null(), "%s (see cx-ingest serve --help)", err.msg);
		return CX_EXIT_USAGE;
	}
	return -1;
}

/* Config, the routes served, their sources' secrets and the two store
 * connections: -1 to go on, else the exit status. */
static int open_all(void)
{
	cx_err err = { 0, "" };
	const cx_webhook_source *src;
	size_t n = 0;

	if (cx_config_load(srv.c.config, &err) < 0)
		return cx_log_fail(&err);
	if (ingest_routes_parse(srv.c.routes ? srv.c.routes :
	    cx_config_get("CX_INGEST_ROUTES", NULL), &srv.c.served, &err) < 0) {
		cx_log(CX_LOG_ERROR, jv_null(), "%s: %s (see cx-ingest serve --help)",
		    srv.c.routes ? "--routes" : "CX_INGEST_ROUTES", err.msg);
		return srv.c.routes ? CX_EXIT_USAGE : CX_EXIT_CONFIG;
	}
	while (cx_webhooks_source(n))
		n++;
	srv.keys = cx_xcalloc(n, sizeof *srv.keys);
	for (size_t k = 0; (src = cx_webhooks_source(k)); k++)
		if (src->load && ingest_routes_use(srv.c.served, k) &&
		    src->load(&srv.keys[k], &err) < 0)
			return cx_log_fail(&err);
	if (actions_open(&err) < 0)
		return cx_log_fail(&err);
	if (cx_store_open(srv.c.db, &srv.store, &err) < 0 ||
	    cx_store_open(srv.c.db, &srv.reader, &err) < 0)
		return cx_log_fail(&err);
	return -1;
}

/* Serves until SIGTERM or SIGINT (blocked in every thread, taken here),
 * then lets the requests in flight finish. The exit status. */
static int serve_until_signal(const struct sockaddr_storage *addr, sigset_t *sigs)
{
	/* poll(2), not epoll: libmicrohttpd 0.9.75's MHD_quiesce_daemon()
	 * races a pool thread that takes the listening socket out of its
	 * epoll set itself, and aborts ("Failed to remove listen FD from
	 * epoll set") when the thread wins; with poll it only flags them. */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
	    MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *d;
	int sig;

	if (addr->ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	d = MHD_start_daemon(flags, 0, NULL, NULL, handle, NULL,
	    MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)addr,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)srv.c.threads,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
	    MHD_OPTION_CONNECTION_TIMEOUT, 30u,
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_END);
	if (!d) {
		cx_log(CX_LOG_ERROR, jv_null(), "cannot listen on %s: %s", srv.c.listen,
		    strerror(errno));
		return CX_EXIT_UNAVAILABLE;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	cx_log(CX_LOG_INFO, jv_object_set(jv_object(), jv_string("port"),
	    jv_number(info ? info->port : 0)), "listening on %s", srv.c.listen);
	sigwait(sigs, &sig);
	cx_log_info("stopping on signal %d; finishing requests in flight", sig);
	MHD_quiesce_daemon(d);
	drain_requests();
	MHD_stop_daemon(d);
	return CX_EXIT_OK;
}

/* Stops the writer (after its last group) and the checkpointer, and lets
 * go of the stores and the secrets. */
static void close_all(pthread_t writer, pthread_t checkpointer)
{
	const cx_webhook_source *src;

	pthread_mutex_lock(&srv.lock);
	srv.stopping = 1;
	pthread_cond_signal(&srv.wake);
	pthread_cond_signal(&srv.tick);
	pthread_mutex_unlock(&srv.lock);
	pthread_join(writer, NULL);
	pthread_join(checkpointer, NULL);
	cx_store_close(srv.reader);
	cx_store_close(srv.store);
	actions_close();
	for (size_t k = 0; (src = cx_webhooks_source(k)); k++)
		if (src->unload)
			src->unload(srv.keys[k]);
	free(srv.keys);
}

int ingest_serve(int argc, char **argv)
{
	struct sockaddr_storage addr;
	socklen_t addrlen;
	pthread_t writer, checkpointer;
	sigset_t sigs;
	int rc;

	if ((rc = read_command_line(argc, argv, &addr, &addrlen)) >= 0 ||
	    (rc = open_all()) >= 0)
		return rc;
	cx_ndjson_out_init();

	/* Signals are taken by sigwait; threads inherit the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	cx_store_autocheckpoint(srv.store, 0);
	pthread_create(&writer, NULL, writer_main, NULL);
	pthread_create(&checkpointer, NULL, checkpointer_main, NULL);
	rc = serve_until_signal(&addr, &sigs);
	close_all(writer, checkpointer);
	return rc;
}
