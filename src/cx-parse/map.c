/* map.c: cx-parse's mapping. A delivery's body goes through its provider's
 * jq mapping (share/cx/parsers/<provider>.jq, compiled once per run on
 * first use); every item the mapping prints becomes one event line in the
 * SPEC §5 envelope, every {"error","path"} one parse.error log line, and a
 * delivery.done marker closes the delivery. Lines go into a batch whose
 * counters are committed in one transaction before its output is written
 * (main.c). In the default mode the deliveries are webhook.received NDJSON
 * lines, and other lines pass through byte for byte. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "accounts.h"
#include "clock.h"
#include "exit.h"
#include "inbox.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "ndjson.h"
#include "parse.h"
#include "paths.h"
#include "xalloc.h"

#define BATCH_LINES 8192
#define BATCH_IN_BYTES (4 * 1024 * 1024)
#define BATCH_OUT_BYTES (8 * 1024 * 1024)
#define PROVIDER_NAME_MAX 64
#define UNKNOWN_PROVIDERS_CACHED 64
/* RFC 3339 needs a four-digit year: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z. */
#define RFC3339_MIN_SECS (-62135596800.0)
#define RFC3339_MAX_SECS 253402300799.0

/* Object keys, made once and shared by jv_copy (no allocation per use). */
enum { K_V, K_TYPE, K_DEDUPE_KEY, K_CHANNEL, K_PROVIDER, K_TENANT, K_ACCOUNT,
	K_OCCURRED_AT, K_RECEIVED_AT, K_CORRELATION_ID, K_SOURCE, K_DATA,
	K_INBOX_ID, K_BODY, K_TS, K_ERROR, K_PATH, K_EVENTS, K_ERRORS, K_COUNT };

static const char *const key_names[K_COUNT] = { "v", "type", "dedupe_key",
	"channel", "provider", "tenant", "account", "occurred_at", "received_at",
	"correlation_id", "source", "data", "inbox_id", "body", "ts", "error",
	"path", "events", "errors" };
static jv keys[K_COUNT];

static jv get(jv obj, int k)
{
	return jv_object_get(jv_copy(obj), jv_copy(keys[k]));
}

static jv set(jv obj, int k, jv v)
{
	return jv_object_set(obj, jv_copy(keys[k]), v);
}

static int is_string(jv v)
{
	return jv_get_kind(v) == JV_KIND_STRING;
}


static void batch_append(parse_batch *b, const char *s, size_t len)
{
	cx_buf_add(&b->out, s, len);
	cx_buf_add(&b->out, "\n", 1);
}

static void batch_append_jv(parse_batch *b, jv v)
{
	cx_json_append(&b->out, v);
	cx_buf_add(&b->out, "\n", 1);
}

static void count(parse_batch *b, const char *metric, const char *channel,
    const char *type)
{
	parse_counter *c;

	for (int i = 0; i < b->ncounters; i++) {
		c = &b->counters[i];
		if (c->metric == metric && strcmp(c->channel, channel) == 0 &&
		    strcmp(c->type, type) == 0) {
			c->n++;
			return;
		}
	}
	if (b->ncounters == b->capcounters) {
		b->capcounters = b->capcounters ? b->capcounters * 2 : 16;
		b->counters = cx_xrealloc(b->counters,
		    (size_t)b->capcounters * sizeof *b->counters);
	}
	b->counters[b->ncounters++] = (parse_counter){ metric, cx_xstrdup(channel),
		cx_xstrdup(type), 1 };
}

static void tenants_clear(parse_batch *b)
{
	for (int i = 0; i < b->ntenants; i++) {
		free(b->tenants[i].channel);
		free(b->tenants[i].account);
		free(b->tenants[i].tenant);
	}
	b->ntenants = 0;
}

void parse_batch_clear(parse_batch *b)
{
	for (int i = 0; i < b->ncounters; i++) {
		free(b->counters[i].channel);
		free(b->counters[i].type);
	}
	b->ncounters = 0;
	tenants_clear(b);
	b->out.len = 0;
	b->lines = 0;
	b->in_bytes = 0;
}

int parse_batch_full(const parse_batch *b)
{
	return b->lines >= BATCH_LINES || b->in_bytes >= BATCH_IN_BYTES ||
	    b->out.len >= BATCH_OUT_BYTES;
}

/* The batch's counters in one transaction (none when there is nothing to count). */
int parse_batch_commit(parse_run *R, parse_batch *b, cx_err *err)
{
	if (b->ncounters == 0)
		return 0;
	if (cx_store_begin(R->store, err) < 0)
		return -1;
	for (int i = 0; i < b->ncounters; i++) {
		parse_counter *c = &b->counters[i];
		char *labels = cx_metrics_labels("channel", c->channel, "type", c->type, NULL);
		int rc = cx_metrics_add(R->store, c->metric, labels, c->n, err);

		free(labels);
		if (rc < 0) {
			cx_store_rollback(R->store);
			return -1;
		}
	}
	return cx_store_commit(R->store, err);
}

static void stop(parse_run *R, const cx_err *err, int discard)
{
	if (R->fatal)
		return;
	R->err = *err;
	R->fatal = err->code ? err->code : CX_EXIT_TEMPFAIL;
	R->discard = discard;
}

/* Provider names become file names and metric labels: keep them plain. */
int parse_provider_name_ok(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') ||
		    (n > 0 && (s[n] == '-' || s[n] == '_'))))
			return 0;
	return n > 0 && n <= PROVIDER_NAME_MAX;
}

/* The parser of a provider (jq NULL when it has none), or NULL after a
 * parser file that does not compile stopped the run. */
const parse_mapping *parse_parser_for(parse_run *R, const char *name)
{
	static const parse_mapping none = { NULL, NULL };
	struct stat st;
	cx_err err = { 0, "" };
	char *rel, *path;
	cx_jq *jq = NULL;

	if (!parse_provider_name_ok(name))
		return &none;
	for (int i = 0; i < R->nparsers; i++)
		if (strcmp(R->parsers[i]->name, name) == 0)
			return R->parsers[i];
	rel = cx_xasprintf("parsers/%s.jq", name);
	path = cx_paths_share(rel);
	free(rel);
	if (stat(path, &st) == 0 || (errno != ENOENT && errno != ENOTDIR)) {
		jq = cx_jq_compile_file(path, jv_null(), &err);
		if (!jq) {
			err.code = CX_EXIT_CONFIG;  /* a broken mapping is configuration */
			stop(R, &err, 0);
			free(path);
			return NULL;
		}
	}
	free(path);
	if (!jq && R->unknown_cached >= UNKNOWN_PROVIDERS_CACHED)
		return &none;
	R->unknown_cached += !jq;
	R->parsers = cx_xrealloc(R->parsers, (size_t)(R->nparsers + 1) * sizeof *R->parsers);
	R->parsers[R->nparsers] = cx_xmalloc(sizeof **R->parsers);
	*R->parsers[R->nparsers] = (parse_mapping){ cx_xstrdup(name), jq };
	return R->parsers[R->nparsers++];
}

/* The tenant of channel + account, from the batch's cache or the store;
 * NULL after a store failure stopped the run. */
static const char *tenant_for(parse_run *R, parse_batch *b, const char *channel,
    const char *account)
{
	cx_err err = { 0, "" };
	parse_tenant *t;
	char *tenant;

	for (int i = 0; i < b->ntenants; i++) {
		t = &b->tenants[i];
		if (strcmp(t->account, account) == 0 && strcmp(t->channel, channel) == 0)
			return t->tenant;
	}
	tenant = cx_accounts_tenant(R->store, channel, account, &err);
	if (!tenant) {
		stop(R, &err, 1);
		return NULL;
	}
	if (b->ntenants == TENANTS_CACHED)
		tenants_clear(b);
	t = &b->tenants[b->ntenants++];
	*t = (parse_tenant){ cx_xstrdup(channel), cx_xstrdup(account), tenant };
	return tenant;
}

/* jq's tonumber on a string (the string read as JSON): a number, or invalid. */
static jv string_number(jv s)
{
	const char *p = jv_string_value(s);
	size_t n = strspn(p, "0123456789");
	jv v;

	if (n > 0 && n <= 15 && p[n] == '\0') {
		/* the usual case, epoch seconds: exact in a double, no parser needed */
		v = jv_number(strtod(p, NULL));
	} else if (strchr(p, '"')) {
		/* never a number, and libjq 1.6 leaks on some such text */
		v = jv_invalid();
	} else {
		v = jv_parse(p);
		if (jv_get_kind(v) != JV_KIND_NUMBER) {
			jv_free(v);
			v = jv_invalid();
		}
	}
	jv_free(s);
	return v;
}

/* The provider's timestamp as RFC 3339, by the rule of tests/fixtures/envelope.jq:
 * strings are epoch seconds, numbers above 1e11 epoch milliseconds, fractions
 * dropped; anything else (or out of range) is null. Consumes ts. */
static jv occurred_at(jv ts)
{
	char buf[CX_RFC3339_LEN];
	double x;

	if (is_string(ts))
		ts = string_number(ts);
	if (jv_get_kind(ts) != JV_KIND_NUMBER) {
		jv_free(ts);
		return jv_null();
	}
	x = jv_number_value(ts);
	jv_free(ts);
	if (x > 1e11)
		x /= 1000;
	x = floor(x);
	if (!(x >= RFC3339_MIN_SECS && x <= RFC3339_MAX_SECS))
		return jv_null();
	cx_clock_rfc3339((int64_t)x, -1, buf);
	return jv_string(buf);
}

jv parse_now(void)
{
	char buf[CX_RFC3339_LEN];

	cx_clock_rfc3339(cx_clock_now(), -1, buf);
	return jv_string(buf);
}

/* A correlation id of the same form cx-ingest gives deliveries. */
jv parse_correlation_id(void)
{
	char id[CX_CORRELATION_ID_LEN];

	cx_inbox_new_correlation_id(id);
	return jv_string(id);
}

/* One parse.error log line (never payload content) and its counter.
 * path and reason are consumed. */
static void parse_error(parse_delivery *d, jv path, jv reason)
{
	char msg[512];
	jv f = jv_object();

	snprintf(msg, sizeof msg, "parse.error %s at %s", jv_string_value(reason),
	    jv_string_value(path));
	f = jv_object_set(f, jv_string("error_code"), jv_string("parse_error"));
	if (jv_is_valid(d->inbox_id))
		f = set(f, K_INBOX_ID, jv_copy(d->inbox_id));
	f = set(f, K_PROVIDER, jv_copy(d->provider));
	if (jv_is_valid(d->correlation_id))  /* input that never became a body has none */
		f = set(f, K_CORRELATION_ID, jv_copy(d->correlation_id));
	if (d->line > 0)
		f = jv_object_set(f, jv_string("line"), jv_number((double)d->line));
	f = set(f, K_PATH, path);
	f = jv_object_set(f, jv_string("reason"), reason);
	cx_log(CX_LOG_ERROR, f, "%s", msg);
	count(d->b, "cx_parse_errors_total", d->label, "parse_error");
	d->errors++;
	d->R->errors++;
}

void parse_error_str(parse_delivery *d, const char *path, const char *reason)
{
	parse_error(d, jv_string(path), jv_string(reason));
}

/* The first "{tenant}" of a dedupe key replaced by the tenant. Consumes dkey. */
static jv key_with_tenant(jv dkey, const char *tenant)
{
	const char *s = jv_string_value(dkey), *at = strstr(s, "{tenant}");
	jv out;

	if (!at)
		return dkey;
	out = jv_string_sized(s, (int)(at - s));
	out = jv_string_append_str(out, tenant);
	out = jv_string_append_str(out, at + strlen("{tenant}"));
	jv_free(dkey);
	return out;
}

/* What an item may name for itself: a tenant (a non-empty string, or null
 * for the accounts lookup) and a correlation id (a non-empty string); absent
 * is the default. 1 when both are absent or of those kinds. */
static int own_value_ok(jv v, int null_ok)
{
	jv_kind k = jv_get_kind(v);

	return k == JV_KIND_INVALID || (null_ok && k == JV_KIND_NULL) ||
	    (k == JV_KIND_STRING && jv_string_length_bytes(jv_copy(v)) > 0);
}

/* One item of the mapping -> one event line. Consumes item. An item that
 * names its tenant (or null) gets its dedupe key's "{tenant}" filled in; one
 * that names a correlation id carries it instead of the delivery's. */
static void emit_event(parse_delivery *d, jv item)
{
	jv type, dkey, channel, account, data, ts, own_tenant, cid;
	const char *tenant = NULL;
	jv ev;

	if (jv_get_kind(item) != JV_KIND_OBJECT) {
		jv_free(item);
		parse_error_str(d, ".", "mapping gave an invalid item");
		return;
	}
	type = get(item, K_TYPE);
	dkey = get(item, K_DEDUPE_KEY);
	channel = get(item, K_CHANNEL);
	account = get(item, K_ACCOUNT);
	data = get(item, K_DATA);
	ts = get(item, K_TS);
	own_tenant = get(item, K_TENANT);
	cid = get(item, K_CORRELATION_ID);
	jv_free(item);
	if (!is_string(type) || !is_string(dkey) || !is_string(channel) ||
	    !is_string(account) || jv_get_kind(data) != JV_KIND_OBJECT ||
	    !own_value_ok(own_tenant, 1) || !own_value_ok(cid, 0))
		parse_error_str(d, ".", "mapping gave an invalid item");
	else if (is_string(own_tenant))
		tenant = jv_string_value(own_tenant);
	else
		tenant = tenant_for(d->R, d->b, jv_string_value(channel),
		    jv_string_value(account));
	if (!tenant) {
		jv_free(type);
		jv_free(dkey);
		jv_free(channel);
		jv_free(account);
		jv_free(data);
		jv_free(ts);
		jv_free(own_tenant);
		jv_free(cid);
		return;
	}
	if (jv_get_kind(own_tenant) != JV_KIND_INVALID)
		dkey = key_with_tenant(dkey, tenant);
	if (!is_string(cid)) {
		jv_free(cid);
		cid = jv_copy(d->correlation_id);
	}
	count(d->b, "cx_events_parsed_total", jv_string_value(channel),
	    jv_string_value(type));
	ev = set(jv_object(), K_V, jv_number(1));
	ev = set(ev, K_TYPE, type);
	ev = set(ev, K_DEDUPE_KEY, dkey);
	ev = set(ev, K_CHANNEL, channel);
	ev = set(ev, K_PROVIDER, jv_copy(d->provider));
	ev = set(ev, K_TENANT, jv_string(tenant));
	ev = set(ev, K_ACCOUNT, account);
	ev = set(ev, K_OCCURRED_AT, occurred_at(ts));
	ev = set(ev, K_RECEIVED_AT, jv_copy(d->received_at));
	ev = set(ev, K_CORRELATION_ID, cid);
	ev = set(ev, K_SOURCE, jv_copy(d->source));
	ev = set(ev, K_DATA, data);
	jv_free(own_tenant);
	batch_append_jv(d->b, ev);
	d->events++;
}

/* cx_jq_run callback: an item or an {"error","path"} object. */
static void on_output(jv out, void *ctx)
{
	parse_delivery *d = ctx;
	jv reason, path;

	if (d->R->fatal) {
		jv_free(out);
		return;
	}
	if (jv_get_kind(out) != JV_KIND_OBJECT ||
	    !jv_object_has(jv_copy(out), jv_copy(keys[K_ERROR]))) {
		emit_event(d, out);
		return;
	}
	reason = get(out, K_ERROR);
	path = get(out, K_PATH);
	jv_free(out);
	if (is_string(reason) && is_string(path)) {
		parse_error(d, path, reason);
		return;
	}
	jv_free(reason);
	jv_free(path);
	parse_error_str(d, ".", "mapping gave an invalid error");
}

/* Runs the mapping on one body (consumed): an object, or an array. */
void parse_map_body(parse_delivery *d, const parse_mapping *p, jv body)
{
	cx_err err = { 0, "" };

	/* SendGrid posts an array of events; each mapping judges its own shape */
	if (jv_get_kind(body) != JV_KIND_OBJECT && jv_get_kind(body) != JV_KIND_ARRAY) {
		jv_free(body);
		parse_error_str(d, ".", "body is not an object");
		return;
	}
	/* jq's own message may quote the payload: only a fixed reason is logged */
	if (cx_jq_run(p->jq, body, on_output, d, &err) < 0 && !d->R->fatal)
		parse_error_str(d, ".", "mapping failed");
}

void parse_delivery_free(parse_delivery *d)
{
	jv_free(d->provider);
	jv_free(d->inbox_id);
	jv_free(d->correlation_id);
	jv_free(d->received_at);
	jv_free(d->source);
}

/* The marker that tells `cx-ingest ack` the delivery went through. */
static void emit_marker(parse_delivery *d)
{
	jv counts = set(jv_object(), K_EVENTS, jv_number((double)d->events));
	jv m = set(jv_object(), K_V, jv_number(1));

	counts = set(counts, K_ERRORS, jv_number((double)d->errors));
	m = set(m, K_TYPE, jv_string("delivery.done"));
	m = set(m, K_PROVIDER, jv_copy(d->provider));
	m = set(m, K_CORRELATION_ID, jv_copy(d->correlation_id));
	m = set(m, K_SOURCE, jv_copy(d->source));
	m = set(m, K_DATA, counts);
	batch_append_jv(d->b, m);
}

/* Default mode: a webhook.received line (v, consumed) -> its events, errors
 * and marker. */
static void handle_delivery(parse_run *R, parse_batch *b, jv v)
{
	parse_delivery d = { R, b, "unknown", get(v, K_PROVIDER), get(v, K_INBOX_ID),
		get(v, K_CORRELATION_ID), get(v, K_RECEIVED_AT), jv_object(), 0, 0, 0 };
	const char *name = is_string(d.provider) ? jv_string_value(d.provider) : NULL;
	const parse_mapping *p;

	if (name && parse_provider_name_ok(name))
		d.label = name;
	if (!jv_is_valid(d.provider)) {
		jv_free(d.provider);
		d.provider = jv_null();
	}
	if (jv_get_kind(d.inbox_id) == JV_KIND_NULL) {
		jv_free(d.inbox_id);
		d.inbox_id = jv_invalid();
	}
	if (jv_is_valid(d.inbox_id))
		d.source = set(d.source, K_INBOX_ID, jv_copy(d.inbox_id));
	if (!is_string(d.correlation_id)) {
		jv_free(d.correlation_id);
		d.correlation_id = parse_correlation_id();
	}
	if (!is_string(d.received_at)) {
		jv_free(d.received_at);
		d.received_at = parse_now();
	}
	if (!name)
		parse_error_str(&d, ".", "missing provider");
	else if (!(p = parse_parser_for(R, name)))
		;  /* a broken parser file stops the run; the delivery stays unacknowledged */
	else if (!p->jq)
		parse_error_str(&d, ".", "no parser for provider");
	else
		parse_map_body(&d, p, get(v, K_BODY));
	if (!R->fatal)
		emit_marker(&d);
	parse_delivery_free(&d);
	jv_free(v);
}

/* Default mode: one NDJSON line; what is not webhook.received passes through. */
static void handle_line(parse_run *R, parse_batch *b, cx_ndjson_line *line)
{
	jv type = get(line->value, K_TYPE);
	int ours = is_string(type) && strcmp(jv_string_value(type), "webhook.received") == 0;

	jv_free(type);
	if (ours) {
		handle_delivery(R, b, line->value);
		return;
	}
	jv_free(line->value);
	batch_append(b, line->raw, line->len);
}

int parse_read_lines(parse_run *R, cx_ndjson_reader *r, parse_batch *b)
{
	cx_ndjson_line line;
	int rc;

	while (!parse_batch_full(b) && !R->fatal) {
		rc = cx_ndjson_next(r, &line);
		if (rc < 0)
			return -1;
		if (rc == 0)
			break;
		b->lines++;
		b->in_bytes += line.len;
		handle_line(R, b, &line);
		if (!cx_ndjson_ready(r))
			break;
	}
	return b->lines > 0;
}

void parse_keys_init(void)
{
	for (int k = 0; k < K_COUNT; k++)
		keys[k] = jv_string(key_names[k]);
}

void parse_run_free(parse_run *R)
{
	for (int i = 0; i < R->nparsers; i++) {
		free(R->parsers[i]->name);
		cx_jq_free(R->parsers[i]->jq);
		free(R->parsers[i]);
	}
	free(R->parsers);
	for (int k = 0; k < K_COUNT; k++)
		jv_free(keys[k]);
}
