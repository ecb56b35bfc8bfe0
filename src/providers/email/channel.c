/* channel.c: the e-mail channel (emailchannel.h): its checks, and how the
 * answers of its four providers are judged. The request itself is made
 * right before it is sent (prepare.c), once the tenant's plan and the
 * governance rules have had their say. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emailchannel.h"
#include "emailmsg.h"
#include "emailprep.h"
#include "emailsend.h"
#include "exit.h"
#include "json.h"
#include "xalloc.h"

/* Text is the plain body, counted in code points; html and the rest are
 * fields of the item. */
static const cx_channel_kind email_kinds[] = {
	{ "message", 0, 0, 2000000, { NULL }, NULL },
	{ NULL, 0, 0, 0, { NULL }, NULL },
};

/* The item's fields as the message will have them. The From may be left
 * out: the tenant's plan decides it when the item is sent (prepare.c), so
 * a stand-in takes its place here. */
static int email_check(jv p, const char **problem, cx_err *err)
{
	jv q = cx_json_str(p, "from") ? jv_copy(p) :
	    jv_object_set(jv_copy(p), jv_string("from"), jv_string("from@plan.invalid"));
	cx_email_msg m;
	const char *path = NULL;
	int rc;

	memset(&m, 0, sizeof m);
	rc = cx_email_msg_from_json(q, &m, &path, err);
	cx_email_msg_free(&m);
	jv_free(q);
	if (rc < 0) {
		if (problem)
			*problem = "invalid_email";
		if (path && err)
			snprintf(err->msg + strlen(err->msg), sizeof err->msg - strlen(err->msg),
			    " (at %s)", path);
		return -1;
	}
	return 0;
}

/* The message's fields: a stored item keeps them in meta, its plain body
 * in text ("" when it had none). */
jv cx_email_item_message(jv item)
{
	jv m = jv_object_get(jv_copy(item), jv_string("meta"));
	const char *text = cx_json_str(item, "text");

	if (jv_get_kind(m) != JV_KIND_OBJECT) {
		jv_free(m);
		m = jv_object();
	}
	if (text && *text)
		m = jv_object_set(m, jv_string("text"), jv_string(text));
	return m;
}

/* A stored item is checked again when it is claimed: the request is made
 * later (prepare), once the tenant's plan is known. */
static int email_build(jv item, cx_channel_call *call, const char **code, cx_err *err)
{
	jv m = cx_email_item_message(item);
	int rc = email_check(m, NULL, err);

	(void)call;
	jv_free(m);
	if (rc < 0)
		*code = "VALIDATION_FAILED";
	return rc;
}

/* --- answers -------------------------------------------------------------- */

static const char *data_str(const cx_channel_call *call, const char *key)
{
	return jv_get_kind(call->data) == JV_KIND_OBJECT ? cx_json_str(call->data, key) : NULL;
}

/* Any provider's error message, for the detail. */
static void http_judge(cx_channel_result *r, long status, jv body)
{
	jv errors = cx_channel_member(jv_copy(body), "errors");
	const char *msg = cx_json_str(body, "message");
	char why[128];

	if (!msg)
		msg = cx_json_str(body, "Message");
	if (!msg && jv_get_kind(errors) == JV_KIND_ARRAY && jv_array_length(jv_copy(errors)) > 0) {
		jv first = jv_array_get(jv_copy(errors), 0);

		cx_channel_excerpt(cx_json_str(first, "message"), why, sizeof why);
		jv_free(first);
	} else {
		cx_channel_excerpt(msg, why, sizeof why);
	}
	jv_free(errors);
	cx_channel_by_status(r, status, why);
}

/* SES names its errors in x-amzn-ErrorType ("Type:extra"). */
static void ses_refine(const cx_http_response *resp, cx_channel_result *r)
{
	static const struct { const char *type; cx_channel_verdict v; const char *code; } map[] = {
		{ "MessageRejected", CX_CHANNEL_FAILED, "REJECTED" },
		{ "AccountSuspendedException", CX_CHANNEL_FAILED, "FORBIDDEN" },
		{ "SendingPausedException", CX_CHANNEL_FAILED, "FORBIDDEN" },
		{ "MailFromDomainNotVerifiedException", CX_CHANNEL_FAILED, "FORBIDDEN" },
		{ "NotFoundException", CX_CHANNEL_FAILED, "NOT_FOUND" },
		{ "LimitExceededException", CX_CHANNEL_RETRY, "RATE_LIMITED" },
		{ "TooManyRequestsException", CX_CHANNEL_RETRY, "RATE_LIMITED" },
		{ "SignatureDoesNotMatch", CX_CHANNEL_FAILED, "AUTH_FAILED" },
		{ "InvalidSignatureException", CX_CHANNEL_FAILED, "AUTH_FAILED" },
		{ "IncompleteSignature", CX_CHANNEL_FAILED, "AUTH_FAILED" },
		{ "UnrecognizedClientException", CX_CHANNEL_FAILED, "AUTH_FAILED" },
		{ "InvalidClientTokenId", CX_CHANNEL_FAILED, "AUTH_FAILED" },
	};
	const char *type = cx_http_header(resp, "x-amzn-errortype");

	for (size_t i = 0; type && i < sizeof map / sizeof map[0]; i++)
		if (strncmp(type, map[i].type, strlen(map[i].type)) == 0) {
			r->verdict = map[i].v;
			r->code = map[i].code;
			return;
		}
	if (resp->status == 403)
		r->code = "AUTH_FAILED";
}

/* The provider's id of a message it took. */
static char *http_ref(const char *provider, const cx_http_response *resp)
{
	jv body = cx_http_json(resp);
	const char *v = NULL;
	char *ref = NULL;

	if (strcmp(provider, "sendgrid") == 0)
		v = cx_http_header(resp, "x-message-id");
	else if (jv_get_kind(body) == JV_KIND_OBJECT)
		v = cx_json_str(body, strcmp(provider, "ses") == 0 ? "MessageId" : "id");
	if (v && *v) {
		size_t n = strlen(v);

		ref = v[0] == '<' && v[n - 1] == '>' && n > 2 ? cx_xstrndup(v + 1, n - 2) :
		    cx_xstrdup(v);
	}
	jv_free(body);
	return ref;
}

/* An SMTP reply to a failed transfer: 4xx for now, 5xx for good. */
static void smtp_reply(long code, const char *msg, cx_channel_result *r)
{
	if (code >= 400 && code < 500) {
		cx_channel_set(r, CX_CHANNEL_RETRY, code == 421 || code == 454 ?
		    "UPSTREAM_ERROR" : "RATE_LIMITED", "SMTP %ld: %s", code, msg);
		r->upstream_failure = code == 421;
	} else if (code == 530 || code == 534 || code == 535 || code == 538) {
		cx_channel_set(r, CX_CHANNEL_FAILED, "AUTH_FAILED", "SMTP %ld: %s", code, msg);
	} else if (code == 552) {
		cx_channel_set(r, CX_CHANNEL_FAILED, "VALIDATION_FAILED", "SMTP %ld: %s", code, msg);
	} else {
		cx_channel_set(r, CX_CHANNEL_FAILED, "REJECTED", "SMTP %ld: %s", code, msg);
	}
}

static void email_answer(const cx_channel_call *call, int rc, const cx_http_response *resp,
    const cx_err *terr, int64_t now, cx_channel_result *out)
{
	const char *provider = data_str(call, "provider");
	const char *mid = data_str(call, "message_id");

	if (!provider)
		provider = "";
	if (call->mail_from && rc < 0 && resp->status >= 400) {
		smtp_reply(resp->status, terr ? terr->msg : "", out);
		return;
	}
	cx_channel_judge_http(http_judge, rc, resp, terr, now, out);
	if (strcmp(provider, "ses") == 0 && rc == 0 && out->verdict != CX_CHANNEL_PUBLISHED)
		ses_refine(resp, out);
	if (out->verdict != CX_CHANNEL_PUBLISHED)
		return;
	free(out->provider_ref);
	out->provider_ref = call->mail_from ? NULL : http_ref(provider, resp);
	if (!out->provider_ref && mid)
		out->provider_ref = cx_xstrdup(mid);
	if (call->mail_from)
		snprintf(out->detail, sizeof out->detail, "SMTP %ld", resp->status);
}

/* --- what is kept ------------------------------------------------------------ */

static int email_settled(cx_store *s, jv item, const cx_channel_call *call,
    const char *state, const char *provider_ref, cx_err *err)
{
	const char *mid = data_str(call, "message_id");
	const char *status = strcmp(state, "published") == 0 ? "sent" :
	    strcmp(state, "unknown") == 0 ? "unknown" : "failed";

	(void)item;
	if (!mid)
		return 0;
	return cx_email_sent(s, mid, status, strcmp(status, "sent") == 0 ? provider_ref : NULL,
	    err);
}

const cx_channel cx_email_channel = {
	.name = "email",
	.env = "EMAIL",
	.provider = NULL,
	.rate = "14",
	.length_note = "",
	.kinds = email_kinds,
	.check = email_check,
	.build = email_build,
	.judge = http_judge,
	.prepare = cx_email_prepare,
	.answer = email_answer,
	.settled = email_settled,
};
