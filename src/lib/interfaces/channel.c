/* channel.c: what every channel shares: checking a proposal against its
 * kinds, the approval policy and rate settings, building a request and
 * judging an answer around the channel's own build and judge, and small
 * helpers for implementations. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "channel.h"
#include "config.h"
#include "crypto.h"
#include "exit.h"
#include "json.h"
#include "unicode.h"
#include "xalloc.h"

/* --- helpers -------------------------------------------------------------- */

int cx_channel_invalid(const char **problem, const char *code, cx_err *err,
    const char *fmt, ...)
{
	va_list ap;

	if (problem)
		*problem = code;
	if (err) {
		err->code = CX_EXIT_DATAERR;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return -1;
}

jv cx_channel_member(jv obj, const char *key)
{
	if (jv_get_kind(obj) != JV_KIND_OBJECT) {
		jv_free(obj);
		return jv_invalid();
	}
	return jv_object_get(obj, jv_string(key));
}

/* --- checking proposals --------------------------------------------------- */

const cx_channel_kind *cx_channel_kind_find(const cx_channel *ch, const char *kind)
{
	for (const cx_channel_kind *k = ch->kinds; k->name; k++)
		if (strcmp(k->name, kind) == 0)
			return k;
	return NULL;
}

static int blank(const char *s)
{
	return s[strspn(s, " \t\r\n\v\f")] == '\0';
}

/* "post, reply": the kinds of ch. */
static void kind_names(const cx_channel *ch, char *out, size_t cap)
{
	out[0] = '\0';
	for (const cx_channel_kind *k = ch->kinds; k->name; k++)
		snprintf(out + strlen(out), cap - strlen(out), "%s%s", out[0] ? ", " : "", k->name);
}

/* Code points, against the kind's limit. */
static int measure_codepoints(const cx_channel *ch, const cx_channel_kind *k,
    const char *text, long *length, const char **problem, cx_err *err)
{
	*length = (long)cx_unicode_codepoints(text, strlen(text));
	if (*length > k->limit && (problem || err))
		return cx_channel_invalid(problem, "too_long", err,
		    "text is %ld characters; %s %s allows %ld", *length, ch->name, k->name,
		    k->limit);
	return 0;
}

static int measure(const cx_channel *ch, const cx_channel_kind *k, const char *text,
    long *length, const char **problem, cx_err *err)
{
	return (ch->measure ? ch->measure : measure_codepoints)(ch, k, text, length,
	    problem, err);
}

void cx_channel_length(const cx_channel *ch, const char *kind, const char *text,
    long *length, long *limit)
{
	const cx_channel_kind *k = ch && kind ? cx_channel_kind_find(ch, kind) : NULL;

	*length = *limit = 0;
	if (!k)
		return;
	measure(ch, k, text ? text : "", length, NULL, NULL);
	*limit = k->limit;
}

/* The text of p for kind k: present and whole (no NUL), not blank when
 * the kind needs one, within the platform's rules. */
static int check_text(const cx_channel *ch, const cx_channel_kind *k, jv p,
    long *length, const char **problem, cx_err *err)
{
	const char *text = cx_json_str(p, "text");

	*length = 0;
	if (text && strlen(text) != (size_t)jv_string_length_bytes(jv_object_get(jv_copy(p),
	    jv_string("text"))))
		return cx_channel_invalid(problem, "invalid_text", err, "text holds a NUL character");
	if (k->text_required && (!text || blank(text)))
		return cx_channel_invalid(problem, "empty_text", err, "text is empty");
	return text ? measure(ch, k, text, length, problem, err) : 0;
}

/* The reply target and the fields kind k needs. */
static int check_fields(const cx_channel *ch, const cx_channel_kind *k, jv p,
    const char **problem, cx_err *err)
{
	const char *reply = cx_json_str(p, "in_reply_to");

	if (k->reply && (!reply || blank(reply)))
		return cx_channel_invalid(problem, "missing_in_reply_to", err,
		    "a reply needs in_reply_to, the id of the post it answers");
	if (!k->reply && reply)
		return cx_channel_invalid(problem, "invalid_field", err,
		    "in_reply_to is only for kind reply");
	if (reply && ch->check_reply && ch->check_reply(reply, problem, err) < 0)
		return -1;
	for (int i = 0; i < 3 && k->fields[i]; i++) {
		const char *v = cx_json_str(p, k->fields[i]);

		if (!v || blank(v))
			return cx_channel_invalid(problem, "missing_field", err,
			    "%s is required for %s %s (a string)", k->fields[i], ch->name, k->name);
	}
	if (k->object) {
		jv o = jv_object_get(jv_copy(p), jv_string(k->object));
		int ok = jv_get_kind(o) == JV_KIND_OBJECT && cx_json_str(o, "name");

		jv_free(o);
		if (!ok)
			return cx_channel_invalid(problem, "missing_field", err,
			    "%s is required for %s %s (an object with a name)", k->object,
			    ch->name, k->name);
	}
	return 0;
}

int cx_channel_check(const cx_channel *ch, jv p, cx_queue_checked *out,
    const char **problem, cx_err *err)
{
	const char *kind = cx_json_str(p, "kind"), *workspace = cx_json_str(p, "workspace");
	const char *cid = cx_json_str(p, "correlation_id");
	const cx_channel_kind *k;
	char list[256];

	kind_names(ch, list, sizeof list);
	if (!kind && ch->kinds[0].name && !ch->kinds[1].name)
		kind = ch->kinds[0].name;
	if (!kind || !*kind)
		return cx_channel_invalid(problem, "unknown_kind", err,
		    "kind is missing (for %s: %s)", ch->name, list);
	if (!(k = cx_channel_kind_find(ch, kind)))
		return cx_channel_invalid(problem, "unknown_kind", err,
		    "unknown kind for %s (one of %s)", ch->name, list);
	if (!workspace || blank(workspace))
		return cx_channel_invalid(problem, "missing_workspace", err,
		    "workspace is missing: it names the credentials to publish with");
	if (check_text(ch, k, p, &out->length, problem, err) < 0 ||
	    check_fields(ch, k, p, problem, err) < 0 ||
	    (ch->check && ch->check(p, problem, err) < 0))
		return -1;
	if (cid && (!*cid || strlen(cid) > 128 || blank(cid)))
		return cx_channel_invalid(problem, "invalid_field", err,
		    "correlation_id must be 1 to 128 characters");
	out->limit = k->limit;
	out->kind = k->name;
	out->account = cx_json_str(p, "account");
	if (!out->account && ch->account_field)
		out->account = cx_json_str(p, ch->account_field);
	return 0;
}

/* --- settings ------------------------------------------------------------- */

int cx_channel_approval_required(const cx_channel *ch, int *required, cx_err *err)
{
	char name[64];
	const char *v;

	*required = 1;
	snprintf(name, sizeof name, "CX_APPROVAL_%s", ch->env);
	v = cx_config_get(name, ch->approval_default ? ch->approval_default : "required");
	if (strcmp(v, "required") != 0 && strcmp(v, "none") != 0)
		return cx_err_set(err, CX_EXIT_CONFIG, "%s must be required or none", name);
	*required = ch->approval_always || strcmp(v, "required") == 0;
	return 0;
}

int cx_channel_rate(const cx_channel *ch, cx_ratelimit *out, cx_err *err)
{
	char name[64];
	const char *v;
	cx_err e;

	snprintf(name, sizeof name, "CX_PUBLISH_RATE_%s", ch->env);
	v = cx_config_get(name, ch->rate);
	if (cx_ratelimit_parse(v, out, &e) < 0)
		return cx_err_set(err, CX_EXIT_CONFIG, "%s: %s", name, e.msg);
	return 0;
}

/* --- requests ------------------------------------------------------------- */

int cx_channel_call_build(const cx_channel *ch, jv item, cx_channel_call *call,
    const char **code, cx_err *err)
{
	const char *key = cx_json_str(item, "idempotency_key");
	jv id = jv_object_get(jv_copy(item), jv_string("id"));

	memset(call, 0, sizeof *call);
	*code = NULL;
	call->idempotency_key = key ? cx_xstrdup(key) :
	    cx_xasprintf("queue:%lld", (long long)jv_number_value(id));
	jv_free(id);
	call->provider = ch->provider;
	if (ch->build(item, call, code, err) == 0)
		return 0;
	cx_channel_call_free(call);
	if (!*code)
		*code = "VALIDATION_FAILED";
	return -1;
}

/* Frees header lines (they may hold a key) and recipients. */
static void free_lines(char **lines)
{
	for (char **l = lines; l && *l; l++) {
		cx_crypto_wipe(*l, strlen(*l));
		free(*l);
	}
	free(lines);
}

void cx_channel_call_free(cx_channel_call *call)
{
	free(call->url);
	if (call->body)
		cx_crypto_wipe(call->body, call->body_len ? call->body_len : strlen(call->body));
	free(call->body);
	free(call->content_type);
	free_lines(call->headers);
	free(call->user);
	cx_secret_free(call->password);
	free(call->aws_sigv4);
	free(call->mail_from);
	free_lines(call->mail_rcpt);
	free(call->idempotency_key);
	jv_free(call->data);
	memset(call, 0, sizeof *call);
}

jv cx_channel_fields(jv item)
{
	static const char *const columns[] = { "channel", "kind", "workspace", "account",
		"tenant", "text", "in_reply_to", "correlation_id", "idempotency_key", NULL };
	jv f = jv_object_get(jv_copy(item), jv_string("meta"));

	if (jv_get_kind(f) != JV_KIND_OBJECT) {
		jv_free(f);
		f = jv_object();
	}
	for (const char *const *c = columns; *c; c++) {
		const char *v = cx_json_str(item, *c);

		if (v)
			f = jv_object_set(f, jv_string(*c), jv_string(v));
	}
	return f;
}

char *cx_channel_item_ref(jv item)
{
	jv id = jv_object_get(jv_copy(item), jv_string("id"));
	char *ref = cx_xasprintf("%s:%lld", cx_json_str(item, "idempotency_key") ? "command" :
	    "queue", jv_get_kind(id) == JV_KIND_NUMBER ? (long long)jv_number_value(id) : 0LL);

	jv_free(id);
	return ref;
}

/* --- verdicts ------------------------------------------------------------- */

void cx_channel_set(cx_channel_result *r, cx_channel_verdict v, const char *code,
    const char *fmt, ...)
{
	va_list ap;

	r->verdict = v;
	r->code = code;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof r->detail, fmt, ap);
	va_end(ap);
}

void cx_channel_by_status(cx_channel_result *r, long status, const char *why)
{
	const char *sep = *why ? ": " : "";

	if (status == 429) {
		cx_channel_set(r, CX_CHANNEL_RETRY, "RATE_LIMITED", "HTTP 429%s%s", sep, why);
	} else if (status == 408 || status == 425 || status >= 500) {
		cx_channel_set(r, CX_CHANNEL_RETRY, "UPSTREAM_ERROR", "HTTP %ld%s%s", status,
		    sep, why);
		r->upstream_failure = 1;
	} else if (status == 400 || status == 413 || status == 422) {
		cx_channel_set(r, CX_CHANNEL_FAILED, "VALIDATION_FAILED", "HTTP %ld%s%s", status,
		    sep, why);
	} else if (status == 401) {
		cx_channel_set(r, CX_CHANNEL_FAILED, "AUTH_FAILED", "HTTP 401%s%s", sep, why);
	} else if (status == 403) {
		cx_channel_set(r, CX_CHANNEL_FAILED, "FORBIDDEN", "HTTP 403%s%s", sep, why);
	} else if (status == 404 || status == 410) {
		cx_channel_set(r, CX_CHANNEL_FAILED, "NOT_FOUND", "HTTP %ld%s%s", status, sep, why);
	} else {
		cx_channel_set(r, CX_CHANNEL_FAILED, "REJECTED", "HTTP %ld%s%s", status, sep, why);
	}
}

void cx_channel_excerpt(const char *msg, char *out, size_t cap)
{
	size_t n = 0;

	for (const char *p = msg ? msg : ""; *p && n + 1 < cap && n < 120; p++)
		if ((unsigned char)*p >= 0x20)
			out[n++] = *p;
	out[n] = '\0';
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
		jv v = cx_channel_member(jv_copy(body), paths[i][0]);

		if (jv_get_kind(v) == JV_KIND_ARRAY && jv_array_length(jv_copy(v)) > 0)
			v = jv_array_get(v, 0);
		if (paths[i][1])
			v = cx_channel_member(v, paths[i][1]);
		if (jv_get_kind(v) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(v)) > 0)
			out = cx_xstrdup(jv_string_value(v));
		jv_free(v);
	}
	return out;
}

/* A transport failure: before the request went out it may be retried,
 * after it the item may have gone out. */
static void judge_transport(const cx_http_response *resp, const cx_err *terr,
    cx_channel_result *out)
{
	int timeout = terr && strstr(terr->msg, "timed out");

	if (resp->sent)
		cx_channel_set(out, CX_CHANNEL_UNKNOWN, timeout ? "TIMEOUT" : "CONNECTION_LOST",
		    "%s after the request was sent: it may have gone out",
		    timeout ? "timed out" : "connection lost");
	else
		cx_channel_set(out, CX_CHANNEL_RETRY, "CONNECT_FAILED", "%s",
		    terr ? terr->msg : "no connection");
	out->upstream_failure = 1;
}

void cx_channel_judge_http(void (*judge)(cx_channel_result *r, long status, jv body),
    int rc, const cx_http_response *resp, const cx_err *terr, int64_t now,
    cx_channel_result *out)
{
	jv body;

	memset(out, 0, sizeof *out);
	if (rc < 0) {
		judge_transport(resp, terr, out);
		return;
	}
	body = cx_http_json(resp);
	if (resp->status >= 200 && resp->status < 300) {
		out->verdict = CX_CHANNEL_PUBLISHED;
		out->provider_ref = jv_is_valid(body) ? ref_in(body) : NULL;
		snprintf(out->detail, sizeof out->detail, "HTTP %ld", resp->status);
		jv_free(body);
		return;
	}
	if (!jv_is_valid(body))
		body = jv_object();
	judge(out, resp->status, body);
	jv_free(body);
	if (out->verdict == CX_CHANNEL_RETRY)
		out->hint = cx_backoff_hint(cx_http_header(resp, "retry-after"),
		    resp->status == 429 || strcmp(out->code, "RATE_LIMITED") == 0 ?
		    cx_http_header(resp, "x-rate-limit-reset") : NULL, now);
}

void cx_channel_judge(const cx_channel *ch, const cx_channel_call *call, int rc,
    const cx_http_response *resp, const cx_err *terr, int64_t now,
    cx_channel_result *out)
{
	if (ch->answer) {
		memset(out, 0, sizeof *out);
		ch->answer(call, rc, resp, terr, now, out);
		return;
	}
	cx_channel_judge_http(ch->judge, rc, resp, terr, now, out);
}

void cx_channel_result_free(cx_channel_result *r)
{
	free(r->provider_ref);
	r->provider_ref = NULL;
}
