/* channel.c: the channels of Meta's Graph API (metachannel.h): their
 * kinds, the requests they send and the verdicts on Graph errors. The
 * Graph error codes are Meta's (Graph API error handling guide, WhatsApp
 * Cloud API and Messenger error code lists). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "exit.h"
#include "json.h"
#include "metachannel.h"
#include "url.h"
#include "xalloc.h"

/* Limits are code points: WhatsApp text 4096, Instagram DM 1000 and
 * comment 2200, Messenger 2000. */
static const cx_channel_kind whatsapp_kinds[] = {
	{ "text", 1, 0, 4096, { "to", "phone_number_id", NULL }, NULL },
	{ "template", 0, 0, 4096, { "to", "phone_number_id", NULL }, "template" },
	{ NULL, 0, 0, 0, { NULL }, NULL },
};

static const cx_channel_kind instagram_kinds[] = {
	{ "dm", 1, 0, 1000, { "to", NULL }, NULL },
	{ "comment_reply", 1, 0, 2200, { "comment_id", NULL }, NULL },
	{ NULL, 0, 0, 0, { NULL }, NULL },
};

static const cx_channel_kind messenger_kinds[] = {
	{ "message", 1, 0, 2000, { "to", NULL }, NULL },
	{ NULL, 0, 0, 0, { NULL }, NULL },
};

/* --- requests ------------------------------------------------------------- */

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

static char *graph_url(const char *node, const char *edge)
{
	char *base = cx_url_base(cx_config_get("CX_GRAPH_API_BASE", "https://graph.facebook.com"));
	char *url = cx_xasprintf("%s/%s/%s/%s", base,
	    cx_config_get("CX_GRAPH_API_VERSION", "v24.0"), node, edge);

	free(base);
	return url;
}

static int bad_item(cx_err *err, const char *what)
{
	return cx_err_set(err, CX_EXIT_DATAERR, "%s", what);
}

/* The WhatsApp template object: as given, with a language given as a
 * string ("en_US") turned into the {code} object the API wants. */
static jv whatsapp_template(jv meta)
{
	jv t = cx_channel_member(jv_copy(meta), "template");
	jv lang = cx_channel_member(jv_copy(t), "language");

	if (jv_get_kind(lang) == JV_KIND_STRING)
		t = jv_object_set(t, jv_string("language"),
		    jv_object_set(jv_object(), jv_string("code"), lang));
	else
		jv_free(lang);
	return t;
}

static int whatsapp_build(jv item, cx_channel_call *call, const char **code, cx_err *err)
{
	const char *kind = cx_json_str(item, "kind"), *text = cx_json_str(item, "text");
	jv meta = jv_object_get(jv_copy(item), jv_string("meta")), body = jv_object();
	const char *phone = cx_json_str(meta, "phone_number_id"), *to = cx_json_str(meta, "to");

	(void)code;
	if (!id_ok(phone) || !to) {
		jv_free(body);
		jv_free(meta);
		return bad_item(err, "a WhatsApp message needs phone_number_id (an id) and to");
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
	call->body = cx_json_dump(body);
	jv_free(meta);
	return 0;
}

/* A message to a person (Instagram DM, Messenger); typed: always give a
 * messaging_type, else only when the item names one. */
static int message_build(jv item, cx_channel_call *call, int typed, cx_err *err)
{
	const char *text = cx_json_str(item, "text"), *account = cx_json_str(item, "account");
	jv meta = jv_object_get(jv_copy(item), jv_string("meta")), body = jv_object();
	const char *to = cx_json_str(meta, "to"), *tag = cx_json_str(meta, "tag");
	const char *type = cx_json_str(meta, "messaging_type");

	if (!to || (account && !id_ok(account))) {
		jv_free(body);
		jv_free(meta);
		return bad_item(err, "a message needs to, and account must be an id");
	}
	body = jv_object_set(body, jv_string("recipient"),
	    jv_object_set(jv_object(), jv_string("id"), jv_string(to)));
	if (typed || type)
		body = jv_object_set(body, jv_string("messaging_type"),
		    jv_string(type ? type : tag ? "MESSAGE_TAG" : "RESPONSE"));
	if (tag)
		body = jv_object_set(body, jv_string("tag"), jv_string(tag));
	body = jv_object_set(body, jv_string("message"), jv_object_set(jv_object(),
	    jv_string("text"), jv_string(text ? text : "")));
	call->url = graph_url(account ? account : "me", "messages");
	call->body = cx_json_dump(body);
	jv_free(meta);
	return 0;
}

static int instagram_build(jv item, cx_channel_call *call, const char **code, cx_err *err)
{
	const char *kind = cx_json_str(item, "kind"), *text = cx_json_str(item, "text");
	jv meta, body;
	const char *comment;

	(void)code;
	if (strcmp(kind, "comment_reply") != 0)
		return message_build(item, call, 0, err);
	meta = jv_object_get(jv_copy(item), jv_string("meta"));
	comment = cx_json_str(meta, "comment_id");
	if (!id_ok(comment)) {
		jv_free(meta);
		return bad_item(err, "a comment reply needs comment_id (an id)");
	}
	body = jv_object_set(jv_object(), jv_string("message"), jv_string(text ? text : ""));
	call->url = graph_url(comment, "replies");
	call->body = cx_json_dump(body);
	jv_free(meta);
	return 0;
}

static int messenger_build(jv item, cx_channel_call *call, const char **code, cx_err *err)
{
	(void)code;
	return message_build(item, call, 1, err);
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
	jv v = cx_channel_member(jv_copy(obj), key);
	long n = jv_get_kind(v) == JV_KIND_NUMBER ? (long)jv_number_value(v) : 0;

	jv_free(v);
	return n;
}

static void judge(cx_channel_result *r, long status, jv body)
{
	jv e = cx_channel_member(jv_copy(body), "error");
	long code = num_at(e, "code"), sub = num_at(e, "error_subcode");
	char why[160];

	cx_channel_excerpt(cx_json_str(e, "message"), why, sizeof why);
	jv_free(e);
	if (code == 0) {
		cx_channel_by_status(r, status, why);
		return;
	}
	for (int i = 0; graph_codes[i].what; i++) {
		if (graph_codes[i].code != code)
			continue;
		switch (graph_codes[i].cls) {
		case V_RATE:
			cx_channel_set(r, CX_CHANNEL_RETRY, "RATE_LIMITED", "graph error %ld: %s", code,
			    graph_codes[i].what);
			return;
		case V_RETRY:
			cx_channel_set(r, CX_CHANNEL_RETRY, "UPSTREAM_ERROR", "graph error %ld: %s", code,
			    graph_codes[i].what);
			r->upstream_failure = 1;
			return;
		case V_AUTH:
			cx_channel_set(r, CX_CHANNEL_FAILED, "AUTH_FAILED", "graph error %ld/%ld: %s", code,
			    sub, graph_codes[i].what);
			return;
		case V_FORBIDDEN:
			cx_channel_set(r, CX_CHANNEL_FAILED, "FORBIDDEN", "graph error %ld: %s", code,
			    graph_codes[i].what);
			return;
		case V_NOT_FOUND:
			cx_channel_set(r, CX_CHANNEL_FAILED, "NOT_FOUND", "graph error %ld: %s", code,
			    graph_codes[i].what);
			return;
		case V_VALIDATION:
			/* code 100 subcode 33: the object (comment, user) does not exist */
			if (code == 100 && sub == 33)
				cx_channel_set(r, CX_CHANNEL_FAILED, "NOT_FOUND", "graph error 100/33: %s", why);
			else
				cx_channel_set(r, CX_CHANNEL_FAILED, "VALIDATION_FAILED", "graph error %ld: %s",
				    code, graph_codes[i].what);
			return;
		}
	}
	if (code >= 200 && code <= 299) {
		cx_channel_set(r, CX_CHANNEL_FAILED, "FORBIDDEN", "graph error %ld: permission missing", code);
		return;
	}
	if (code >= 132000 && code < 133000) {
		cx_channel_set(r, CX_CHANNEL_FAILED, "VALIDATION_FAILED", "graph error %ld: template: %s",
		    code, why);
		return;
	}
	cx_channel_by_status(r, status, why);
	snprintf(r->detail + strlen(r->detail), sizeof r->detail - strlen(r->detail),
	    " (graph error %ld)", code);
}

const cx_channel cx_whatsapp_channel = {
	.name = "whatsapp",
	.env = "WHATSAPP",
	.provider = "meta",
	.token_setting = "CX_META_ACCESS_TOKEN",
	.account_field = "phone_number_id",
	.rate = "80",
	.length_note = "",
	.kinds = whatsapp_kinds,
	.build = whatsapp_build,
	.judge = judge,
};

const cx_channel cx_instagram_channel = {
	.name = "instagram",
	.env = "INSTAGRAM",
	.provider = "meta",
	.token_setting = "CX_META_ACCESS_TOKEN",
	.rate = "100",
	.length_note = "",
	.kinds = instagram_kinds,
	.build = instagram_build,
	.judge = judge,
};

const cx_channel cx_messenger_channel = {
	.name = "messenger",
	.env = "MESSENGER",
	.provider = "meta",
	.token_setting = "CX_META_ACCESS_TOKEN",
	.rate = "250",
	.length_note = "",
	.kinds = messenger_kinds,
	.build = messenger_build,
	.judge = judge,
};
