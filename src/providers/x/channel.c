/* channel.c: the x channel: posts and replies, counted as X counts them
 * (xtext.h), sent as POST {CX_X_API_BASE}/2/tweets {text, reply?}, with
 * X's answers judged; its reconcile is in reconcile.c. */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "xchannel.h"
#include "xoauth.h"
#include "xalloc.h"
#include "xtext.h"

static const cx_channel_kind kinds[] = {
	{ "post", 1, 0, CX_XTEXT_MAX, { NULL }, NULL },
	{ "reply", 1, 1, CX_XTEXT_MAX, { NULL }, NULL },
	{ NULL, 0, 0, 0, { NULL }, NULL },
};

/* The weighted length; X refuses U+FEFF, U+FFFE and U+FFFF outright. */
static int measure(const cx_channel *ch, const cx_channel_kind *k, const char *text,
    long *length, const char **problem, cx_err *err)
{
	cx_xtext_info info;

	(void)ch;
	cx_xtext_parse(text, strlen(text), &info);
	*length = info.weighted;
	if (info.invalid_chars)
		return cx_channel_invalid(problem, "invalid_text", err, "text holds %d "
		    "character%s X refuses (U+FEFF, U+FFFE or U+FFFF)", info.invalid_chars,
		    info.invalid_chars == 1 ? "" : "s");
	if (*length > k->limit)
		return cx_channel_invalid(problem, "too_long", err, "text is %ld/%ld weighted "
		    "characters as X counts them (URLs count %d, emoji and most CJK "
		    "characters 2)", *length, k->limit, CX_XTEXT_URL_LENGTH);
	return 0;
}

static int check_reply(const char *id, const char **problem, cx_err *err)
{
	if (*id && id[strspn(id, "0123456789")] == '\0')
		return 0;
	return cx_channel_invalid(problem, "invalid_field", err,
	    "in_reply_to must be an X post id (digits)");
}

static int build(jv item, cx_channel_call *call, const char **code, cx_err *err)
{
	const char *text = cx_json_str(item, "text"), *reply = cx_json_str(item, "in_reply_to");
	char *base = cx_x_api_base();
	jv body = jv_object_set(jv_object(), jv_string("text"), jv_string(text ? text : ""));

	(void)code;
	(void)err;
	if (reply)
		body = jv_object_set(body, jv_string("reply"), jv_object_set(jv_object(),
		    jv_string("in_reply_to_tweet_id"), jv_string(reply)));
	call->url = cx_xasprintf("%s/2/tweets", base);
	call->body = cx_json_dump(body);
	free(base);
	return 0;
}

/* X says a post is a duplicate with a 403 whose detail names it. */
static void judge(cx_channel_result *r, long status, jv body)
{
	const char *detail = cx_json_str(body, "detail");
	char why[160];

	cx_channel_excerpt(detail ? detail : cx_json_str(body, "title"), why, sizeof why);
	if (status == 403 && detail && strcasestr(detail, "duplicate content")) {
		cx_channel_set(r, CX_CHANNEL_FAILED, "DUPLICATE", "HTTP 403: %s", why);
		return;
	}
	cx_channel_by_status(r, status, why);
}

const cx_channel cx_x_channel = {
	.name = "x",
	.env = "X",
	.provider = "x",
	.approval_always = 1,
	.rate = "100/900",
	.length_note = " (as X counts: URLs 23, emoji and CJK 2)",
	.kinds = kinds,
	.measure = measure,
	.check_reply = check_reply,
	.build = build,
	.judge = judge,
	.reconcile = cx_x_reconcile,
	.reconcile_end = cx_x_reconcile_end,
};
