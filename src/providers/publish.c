/* publish.c: the providers' endpoints, request bodies and error codes as
 * cx-publish needs them. The Graph error codes are Meta's (Graph API error
 * handling guide, WhatsApp Cloud API and Messenger error code lists). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backoff.h"
#include "config.h"
#include "exit.h"
#include "json.h"
#include "metrics.h"
#include "publish.h"
#include "xalloc.h"

/* --- channels ------------------------------------------------------------- */

static const struct {
	const char *name, *env, *provider, *rate;
} channels[] = {
	{ "x", "X", "x", "100/900" },
	{ "whatsapp", "WHATSAPP", "meta", "80" },
	{ "instagram", "INSTAGRAM", "meta", "100" },
	{ "messenger", "MESSENGER", "meta", "250" },
	{ NULL, NULL, NULL, NULL },
};

static int channel_index(const char *channel)
{
	for (int i = 0; channels[i].name; i++)
		if (strcmp(channels[i].name, channel) == 0)
			return i;
	return -1;
}

static int unknown_channel(const char *channel, cx_err *err)
{
	return cx_err_set(err, CX_EXIT_DATAERR, "cx-publish cannot send to channel '%s' "
	    "(x, whatsapp, instagram, messenger)", channel ? channel : "");
}

int cx_publish_approval_required(const char *channel, int *required, cx_err *err)
{
	int i = channel_index(channel);
	char name[64];
	const char *v;

	*required = 1;
	if (i < 0)
		return unknown_channel(channel, err);
	snprintf(name, sizeof name, "CX_APPROVAL_%s", channels[i].env);
	v = cx_config_get(name, "required");
	if (strcmp(v, "required") != 0 && strcmp(v, "none") != 0)
		return cx_err_set(err, CX_EXIT_CONFIG, "%s must be required or none", name);
	/* X always requires approval: no setting turns that off */
	*required = strcmp(channel, "x") == 0 || strcmp(v, "required") == 0;
	return 0;
}

int cx_publish_rate(const char *channel, cx_ratelimit *out, cx_err *err)
{
	int i = channel_index(channel);
	char name[64];
	const char *v;
	cx_err e;

	if (i < 0)
		return unknown_channel(channel, err);
	snprintf(name, sizeof name, "CX_PUBLISH_RATE_%s", channels[i].env);
	v = cx_config_get(name, channels[i].rate);
	if (cx_ratelimit_parse(v, out, &e) < 0)
		return cx_err_set(err, CX_EXIT_CONFIG, "%s: %s", name, e.msg);
	return 0;
}

int cx_publish_check_settings(cx_err *err)
{
	cx_ratelimit limit;
	int required;

	for (int i = 0; channels[i].name; i++)
		if (cx_publish_approval_required(channels[i].name, &required, err) < 0 ||
		    cx_publish_rate(channels[i].name, &limit, err) < 0)
			return -1;
	return 0;
}

/* --- requests ------------------------------------------------------------- */

/* The member key of obj, or jv_invalid() when obj is not an object (jv
 * asserts on that). */
static jv member(jv obj, const char *key)
{
	if (jv_get_kind(obj) != JV_KIND_OBJECT) {
		jv_free(obj);
		return jv_invalid();
	}
	return jv_object_get(obj, jv_string(key));
}

static char *base_url(const char *name, const char *def)
{
	char *b = cx_xstrdup(cx_config_get(name, def));
	size_t n = strlen(b);

	while (n > 0 && b[n - 1] == '/')
		b[--n] = '\0';
	return b;
}

/* Provider ids go into URL paths: digits, letters and . _ - : only. */
static int id_ok(const char *id)
{
	if (!id || !*id || strlen(id) > 128)
		return 0;
	for (const char *p = id; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-:", *p))
			return 0;
	return 1;
}

static int bad_item(const char **code, cx_err *err, const char *what)
{
	*code = "VALIDATION_FAILED";
	return cx_err_set(err, CX_EXIT_DATAERR, "%s", what);
}

static char *graph_url(const char *node, const char *edge)
{
	char *base = base_url("CX_GRAPH_API_BASE", "https://graph.facebook.com");
	char *url = cx_xasprintf("%s/%s/%s/%s", base,
	    cx_config_get("CX_GRAPH_API_VERSION", "v24.0"), node, edge);

	free(base);
	return url;
}

/* The WhatsApp template object: as given, with a language given as a
 * string ("en_US") turned into the {code} object the API wants. */
static jv whatsapp_template(jv meta)
{
	jv t = member(jv_copy(meta), "template");
	jv lang = member(jv_copy(t), "language");

	if (jv_get_kind(lang) == JV_KIND_STRING)
		t = jv_object_set(t, jv_string("language"),
		    jv_object_set(jv_object(), jv_string("code"), lang));
	else
		jv_free(lang);
	return t;
}

int cx_publish_call_build(jv item, cx_publish_call *call, const char **code,
    cx_err *err)
{
	const char *channel = cx_json_str(item, "channel"), *kind = cx_json_str(item, "kind");
	const char *text = cx_json_str(item, "text"), *key = cx_json_str(item, "idempotency_key");
	const char *account = cx_json_str(item, "account");
	jv meta = jv_object_get(jv_copy(item), jv_string("meta")), body = jv_object();
	jv id = jv_object_get(jv_copy(item), jv_string("id"));
	const char *to = cx_json_str(meta, "to");
	int rc = -1;

	memset(call, 0, sizeof *call);
	*code = NULL;
	call->idempotency_key = key ? cx_xstrdup(key) :
	    cx_xasprintf("queue:%lld", (long long)jv_number_value(id));
	jv_free(id);
	if (!channel || !kind || channel_index(channel) < 0) {
		unknown_channel(channel, err);
		*code = "VALIDATION_FAILED";
		goto out;
	}
	call->provider = channels[channel_index(channel)].provider;
	if (strcmp(channel, "x") == 0) {
		const char *reply = cx_json_str(item, "in_reply_to");
		char *base = base_url("CX_X_API_BASE", "https://api.x.com");

		body = jv_object_set(body, jv_string("text"), jv_string(text ? text : ""));
		if (reply)
			body = jv_object_set(body, jv_string("reply"), jv_object_set(jv_object(),
			    jv_string("in_reply_to_tweet_id"), jv_string(reply)));
		call->url = cx_xasprintf("%s/2/tweets", base);
		free(base);
	} else if (strcmp(channel, "whatsapp") == 0) {
		const char *phone = cx_json_str(meta, "phone_number_id");

		if (!id_ok(phone) || !to) {
			bad_item(code, err, "a WhatsApp message needs phone_number_id (an id) and to");
			goto out;
		}
		body = jv_object_set(body, jv_string("messaging_product"), jv_string("whatsapp"));
		body = jv_object_set(body, jv_string("recipient_type"), jv_string("individual"));
		body = jv_object_set(body, jv_string("to"), jv_string(to));
		if (strcmp(kind, "template") == 0) {
			body = jv_object_set(body, jv_string("type"), jv_string("template"));
			body = jv_object_set(body, jv_string("template"), whatsapp_template(meta));
		} else {
			jv t = jv_object_set(jv_object(), jv_string("preview_url"), jv_false());

			t = jv_object_set(t, jv_string("body"), jv_string(text ? text : ""));
			body = jv_object_set(body, jv_string("type"), jv_string("text"));
			body = jv_object_set(body, jv_string("text"), t);
		}
		/* echoed in the message's status webhooks: ties them to this send */
		body = jv_object_set(body, jv_string("biz_opaque_callback_data"),
		    jv_string(call->idempotency_key));
		call->url = graph_url(phone, "messages");
	} else if (strcmp(kind, "comment_reply") == 0) {
		const char *comment = cx_json_str(meta, "comment_id");

		if (!id_ok(comment)) {
			bad_item(code, err, "a comment reply needs comment_id (an id)");
			goto out;
		}
		body = jv_object_set(body, jv_string("message"), jv_string(text ? text : ""));
		call->url = graph_url(comment, "replies");
	} else {
		const char *tag = cx_json_str(meta, "tag");
		const char *type = cx_json_str(meta, "messaging_type");

		if (!to || (account && !id_ok(account))) {
			bad_item(code, err, "a message needs to, and account must be an id");
			goto out;
		}
		body = jv_object_set(body, jv_string("recipient"),
		    jv_object_set(jv_object(), jv_string("id"), jv_string(to)));
		if (strcmp(channel, "messenger") == 0 || type)
			body = jv_object_set(body, jv_string("messaging_type"),
			    jv_string(type ? type : tag ? "MESSAGE_TAG" : "RESPONSE"));
		if (tag)
			body = jv_object_set(body, jv_string("tag"), jv_string(tag));
		body = jv_object_set(body, jv_string("message"), jv_object_set(jv_object(),
		    jv_string("text"), jv_string(text ? text : "")));
		call->url = graph_url(account ? account : "me", "messages");
	}
	call->body = cx_json_dump(jv_copy(body));
	rc = 0;
out:
	jv_free(body);
	jv_free(meta);
	if (rc < 0) {
		cx_publish_call_free(call);
		if (!*code)
			*code = "VALIDATION_FAILED";
	}
	return rc;
}

void cx_publish_call_free(cx_publish_call *call)
{
	free(call->url);
	free(call->body);
	free(call->idempotency_key);
	memset(call, 0, sizeof *call);
}

/* --- verdicts ------------------------------------------------------------- */

typedef enum { V_RATE, V_RETRY, V_AUTH, V_FORBIDDEN, V_NOT_FOUND, V_VALIDATION } graph_class;

/* Graph error codes and what they mean for a send. Codes not listed are
 * judged by the HTTP status. */
static const struct {
	long code;
	graph_class cls;
	const char *what;
} graph_codes[] = {
	{ 1, V_RETRY, "unknown error" },
	{ 2, V_RETRY, "service temporarily unavailable" },
	{ 4, V_RATE, "application request limit reached" },
	{ 17, V_RATE, "user request limit reached" },
	{ 32, V_RATE, "page request limit reached" },
	{ 341, V_RATE, "application limit reached" },
	{ 613, V_RATE, "calls exceeded the rate limit" },
	{ 80002, V_RATE, "Instagram rate limit" },
	{ 80006, V_RATE, "Messenger rate limit" },
	{ 130429, V_RATE, "message throughput rate limit hit" },
	{ 131000, V_RETRY, "something went wrong" },
	{ 131016, V_RETRY, "service unavailable" },
	{ 131048, V_RATE, "spam rate limit hit" },
	{ 131056, V_RATE, "pair rate limit hit (too many messages to this recipient)" },
	{ 131057, V_RETRY, "business account in maintenance mode" },
	{ 133004, V_RETRY, "server temporarily unavailable" },
	{ 102, V_AUTH, "session key invalid" },
	{ 190, V_AUTH, "access token invalid or expired" },
	{ 3, V_FORBIDDEN, "capability missing" },
	{ 10, V_FORBIDDEN, "permission denied" },
	{ 200, V_FORBIDDEN, "permission missing" },
	{ 368, V_FORBIDDEN, "temporarily blocked for policy violations" },
	{ 551, V_FORBIDDEN, "this person is not available" },
	{ 131005, V_FORBIDDEN, "access denied" },
	{ 131031, V_FORBIDDEN, "business account locked" },
	{ 131047, V_FORBIDDEN, "re-engagement message: more than 24 hours since the "
	    "customer last replied; send a template" },
	{ 131050, V_FORBIDDEN, "the user stopped marketing messages" },
	{ 803, V_NOT_FOUND, "object does not exist" },
	{ 100, V_VALIDATION, "invalid parameter" },
	{ 131008, V_VALIDATION, "required parameter missing" },
	{ 131009, V_VALIDATION, "parameter value invalid" },
	{ 131021, V_VALIDATION, "recipient cannot be the sender" },
	{ 131026, V_VALIDATION, "message undeliverable" },
	{ 131051, V_VALIDATION, "unsupported message type" },
	{ 132000, V_VALIDATION, "template parameter count mismatch" },
	{ 132001, V_VALIDATION, "template does not exist" },
	{ 0, V_RETRY, NULL },
};

static long num_at(jv obj, const char *key)
{
	jv v = member(jv_copy(obj), key);
	long n = jv_get_kind(v) == JV_KIND_NUMBER ? (long)jv_number_value(v) : 0;

	jv_free(v);
	return n;
}

/* A string field, or the first element's field of an array (WhatsApp's
 * messages[0].id); NULL when absent. */
static char *ref_in(jv body)
{
	static const char *const paths[][2] = {
		{ "data", "id" }, { "messages", "id" }, { "message_id", NULL }, { "id", NULL },
	};
	char *out = NULL;

	for (size_t i = 0; !out && i < sizeof paths / sizeof paths[0]; i++) {
		jv v = member(jv_copy(body), paths[i][0]);

		if (jv_get_kind(v) == JV_KIND_ARRAY && jv_array_length(jv_copy(v)) > 0)
			v = jv_array_get(v, 0);
		if (paths[i][1])
			v = member(v, paths[i][1]);
		if (jv_get_kind(v) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(v)) > 0)
			out = cx_xstrdup(jv_string_value(v));
		jv_free(v);
	}
	return out;
}

static void set(cx_publish_result *r, cx_publish_verdict v, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void set(cx_publish_result *r, cx_publish_verdict v, const char *code,
    const char *fmt, ...)
{
	va_list ap;

	r->verdict = v;
	r->code = code;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof r->detail, fmt, ap);
	va_end(ap);
}

/* The verdict on an HTTP status alone. */
static void by_status(cx_publish_result *r, long status, const char *why)
{
	if (status == 429) {
		set(r, CX_PUBLISH_RETRY, "RATE_LIMITED", "HTTP 429%s%s", *why ? ": " : "", why);
	} else if (status == 408 || status == 425 || status >= 500) {
		set(r, CX_PUBLISH_RETRY, "UPSTREAM_ERROR", "HTTP %ld%s%s", status,
		    *why ? ": " : "", why);
		r->upstream_failure = 1;
	} else if (status == 400 || status == 413 || status == 422) {
		set(r, CX_PUBLISH_FAILED, "VALIDATION_FAILED", "HTTP %ld%s%s", status,
		    *why ? ": " : "", why);
	} else if (status == 401) {
		set(r, CX_PUBLISH_FAILED, "AUTH_FAILED", "HTTP 401%s%s", *why ? ": " : "", why);
	} else if (status == 403) {
		set(r, CX_PUBLISH_FAILED, "FORBIDDEN", "HTTP 403%s%s", *why ? ": " : "", why);
	} else if (status == 404 || status == 410) {
		set(r, CX_PUBLISH_FAILED, "NOT_FOUND", "HTTP %ld%s%s", status, *why ? ": " : "", why);
	} else {
		set(r, CX_PUBLISH_FAILED, "REJECTED", "HTTP %ld%s%s", status, *why ? ": " : "", why);
	}
}

/* A one-line excerpt of an error message from a provider (they hold no
 * payload of ours): control characters dropped, at most 120 bytes. */
static void excerpt(const char *msg, char *out, size_t cap)
{
	size_t n = 0;

	for (const char *p = msg ? msg : ""; *p && n + 1 < cap && n < 120; p++)
		if ((unsigned char)*p >= 0x20)
			out[n++] = *p;
	out[n] = '\0';
}

static void judge_graph(cx_publish_result *r, long status, jv body)
{
	jv e = member(jv_copy(body), "error");
	long code = num_at(e, "code"), sub = num_at(e, "error_subcode");
	char why[160];

	excerpt(cx_json_str(e, "message"), why, sizeof why);
	jv_free(e);
	if (code == 0) {
		by_status(r, status, why);
		return;
	}
	for (int i = 0; graph_codes[i].what; i++) {
		if (graph_codes[i].code != code)
			continue;
		switch (graph_codes[i].cls) {
		case V_RATE:
			set(r, CX_PUBLISH_RETRY, "RATE_LIMITED", "graph error %ld: %s", code,
			    graph_codes[i].what);
			return;
		case V_RETRY:
			set(r, CX_PUBLISH_RETRY, "UPSTREAM_ERROR", "graph error %ld: %s", code,
			    graph_codes[i].what);
			r->upstream_failure = 1;
			return;
		case V_AUTH:
			set(r, CX_PUBLISH_FAILED, "AUTH_FAILED", "graph error %ld/%ld: %s", code,
			    sub, graph_codes[i].what);
			return;
		case V_FORBIDDEN:
			set(r, CX_PUBLISH_FAILED, "FORBIDDEN", "graph error %ld: %s", code,
			    graph_codes[i].what);
			return;
		case V_NOT_FOUND:
			set(r, CX_PUBLISH_FAILED, "NOT_FOUND", "graph error %ld: %s", code,
			    graph_codes[i].what);
			return;
		case V_VALIDATION:
			/* code 100 subcode 33: the object (comment, user) does not exist */
			if (code == 100 && sub == 33)
				set(r, CX_PUBLISH_FAILED, "NOT_FOUND", "graph error 100/33: %s", why);
			else
				set(r, CX_PUBLISH_FAILED, "VALIDATION_FAILED", "graph error %ld: %s",
				    code, graph_codes[i].what);
			return;
		}
	}
	if (code >= 200 && code <= 299) {
		set(r, CX_PUBLISH_FAILED, "FORBIDDEN", "graph error %ld: permission missing", code);
		return;
	}
	if (code >= 132000 && code < 133000) {
		set(r, CX_PUBLISH_FAILED, "VALIDATION_FAILED", "graph error %ld: template: %s",
		    code, why);
		return;
	}
	by_status(r, status, why);
	snprintf(r->detail + strlen(r->detail), sizeof r->detail - strlen(r->detail),
	    " (graph error %ld)", code);
}

static void judge_x(cx_publish_result *r, long status, jv body)
{
	const char *detail = cx_json_str(body, "detail");
	char why[160];

	excerpt(detail ? detail : cx_json_str(body, "title"), why, sizeof why);
	if (status == 403 && detail && strcasestr(detail, "duplicate content")) {
		set(r, CX_PUBLISH_FAILED, "DUPLICATE", "HTTP 403: %s", why);
		return;
	}
	by_status(r, status, why);
}

void cx_publish_judge(const char *channel, int rc, const cx_http_response *resp,
    const cx_err *terr, int64_t now, cx_publish_result *out)
{
	jv body;

	memset(out, 0, sizeof *out);
	if (rc < 0) {
		int timeout = terr && strstr(terr->msg, "timed out");

		if (resp->sent)
			set(out, CX_PUBLISH_UNKNOWN, timeout ? "TIMEOUT" : "CONNECTION_LOST",
			    "%s after the request was sent: it may have gone out",
			    timeout ? "timed out" : "connection lost");
		else
			set(out, CX_PUBLISH_RETRY, "CONNECT_FAILED", "%s",
			    terr ? terr->msg : "no connection");
		out->upstream_failure = 1;
		return;
	}
	body = cx_http_json(resp);
	if (resp->status >= 200 && resp->status < 300) {
		out->verdict = CX_PUBLISH_PUBLISHED;
		out->provider_ref = jv_is_valid(body) ? ref_in(body) : NULL;
		snprintf(out->detail, sizeof out->detail, "HTTP %ld", resp->status);
		jv_free(body);
		return;
	}
	if (!jv_is_valid(body))
		body = jv_object();
	if (strcmp(channel, "x") == 0)
		judge_x(out, resp->status, body);
	else
		judge_graph(out, resp->status, body);
	jv_free(body);
	if (out->verdict == CX_PUBLISH_RETRY)
		out->hint = cx_backoff_hint(cx_http_header(resp, "retry-after"),
		    resp->status == 429 || strcmp(out->code, "RATE_LIMITED") == 0 ?
		    cx_http_header(resp, "x-rate-limit-reset") : NULL, now);
}

void cx_publish_result_free(cx_publish_result *r)
{
	free(r->provider_ref);
	r->provider_ref = NULL;
}

/* --- X reconciliation ----------------------------------------------------- */

char *cx_publish_x_timeline_url(const char *user_id, const char *next_token)
{
	char *base = base_url("CX_X_API_BASE", "https://api.x.com");
	char *path = cx_xasprintf("%s/2/users/%s/tweets", base, user_id);
	char *url = cx_http_url_with(path, "max_results", "100", "tweet.fields",
	    "created_at,referenced_tweets", "pagination_token", next_token, NULL);

	free(base);
	free(path);
	return url;
}

/* text normalized for comparison (a new string): entities decoded, every
 * URL as one \x01, white space runs as one space, trimmed; with
 * skip_mentions, leading @mentions dropped. */
static char *normalized(const char *s, int skip_mentions)
{
	static const struct {
		const char *entity;
		char c;
	} entities[] = { { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
		{ "&quot;", '"' }, { "&#39;", '\'' } };
	char *out = cx_xmalloc(strlen(s) + 1), *o = out;
	int space = 0;

	while (isspace((unsigned char)*s))
		s++;
	while (skip_mentions && *s == '@') {
		s += strcspn(s, " \t\r\n");
		while (isspace((unsigned char)*s))
			s++;
	}
	while (*s) {
		size_t i;

		if (isspace((unsigned char)*s)) {
			space = 1;
			s++;
			continue;
		}
		if (space && o > out)
			*o++ = ' ';
		space = 0;
		if (strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0) {
			*o++ = '\x01';
			s += strcspn(s, " \t\r\n");
			continue;
		}
		for (i = 0; i < sizeof entities / sizeof entities[0]; i++)
			if (strncmp(s, entities[i].entity, strlen(entities[i].entity)) == 0)
				break;
		if (i < sizeof entities / sizeof entities[0]) {
			*o++ = entities[i].c;
			s += strlen(entities[i].entity);
			continue;
		}
		*o++ = *s++;
	}
	*o = '\0';
	return out;
}

int cx_publish_x_same_text(const char *posted, const char *sent)
{
	char *a = normalized(posted, 0), *b = normalized(sent, 0), *c;
	int same = strcmp(a, b) == 0;

	if (!same && sent[0] != '@') {
		c = normalized(posted, 1);
		same = strcmp(c, b) == 0;
		free(c);
	}
	free(a);
	free(b);
	return same;
}

/* --- latency -------------------------------------------------------------- */

/* Upper bounds of the latency buckets, in milliseconds and as labels. */
static const struct {
	int64_t ms;
	const char *le;
} latency_bounds[CX_PUBLISH_LATENCY_BUCKETS] = {
	{ 5, "0.005" }, { 10, "0.01" }, { 25, "0.025" }, { 50, "0.05" }, { 100, "0.1" },
	{ 250, "0.25" }, { 500, "0.5" }, { 1000, "1" }, { 2500, "2.5" }, { 5000, "5" },
	{ 10000, "10" }, { 30000, "30" }, { 60000, "60" }, { -1, "+Inf" },
};

void cx_publish_latency_observe(cx_publish_latency *h, int64_t ms)
{
	size_t i = 0;

	if (ms < 0)
		ms = 0;
	while (latency_bounds[i].ms >= 0 && ms > latency_bounds[i].ms)
		i++;
	h->bucket[i]++;
	h->count++;
	h->sum_ms += ms;
}

static int latency_counter(cx_store *s, const char *name, const char *channel,
    const char *le, int64_t delta, cx_err *err)
{
	char *labels = le ? cx_metrics_labels("channel", channel, "le", le, NULL) :
	    cx_metrics_labels("channel", channel, NULL);
	int rc = cx_metrics_add(s, name, labels, delta, err);

	free(labels);
	return rc;
}

int cx_publish_latency_add(cx_store *s, const char *channel, cx_publish_latency *h,
    cx_err *err)
{
	int64_t below = 0;
	int rc = 0;

	for (size_t i = 0; i < CX_PUBLISH_LATENCY_BUCKETS && h->count > 0 && rc == 0; i++) {
		below += h->bucket[i];
		rc = latency_counter(s, "cx_publish_latency_seconds_bucket", channel,
		    latency_bounds[i].le, below, err);
	}
	if (rc == 0 && h->count > 0 && (latency_counter(s, "cx_publish_latency_seconds_count",
	    channel, NULL, h->count, err) < 0 || latency_counter(s,
	    "cx_publish_latency_milliseconds_total", channel, NULL, h->sum_ms, err) < 0))
		rc = -1;
	memset(h, 0, sizeof *h);
	return rc;
}
