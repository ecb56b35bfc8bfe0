/* Unit tests of cx-publish's channels (channel.h) through their registry
 * (channels.h): what each channel declares, the checks of a proposal, the
 * request of an item and the verdict on an answer, and the NFC the queue
 * stores text in (unicode.h). Prints TAP lines; tests/run counts them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channels.h"
#include "exit.h"
#include "json.h"
#include "unicode.h"

#include "tap.h"

static void test_registry(void)
{
	const cx_channel *ch;
	size_t n = 0;
	int complete = 1, unique = 1;

	for (; (ch = cx_channels_at(n)); n++) {
		/* a channel with no OAuth credential makes its request in prepare,
		 * or sends and judges by itself (transfer) */
		complete &= ch->name && ch->env && (ch->provider || ch->prepare || ch->transfer) &&
		    ch->rate && ch->length_note && ch->kinds && ch->kinds[0].name && ch->build &&
		    (ch->judge || ch->transfer) && (!ch->reconcile_end || ch->reconcile);
		unique &= cx_channels_find(ch->name) == ch;
	}
	check(n == 8, "the registry holds x, whatsapp, instagram, messenger, email, sheets, s3 and upload");
	check(complete, "every channel names its settings, credential (or prepare), kinds, build "
	    "and judge");
	check(unique, "every channel is found by its name");
	check(cx_channels_find("telegram") == NULL && cx_channels_find(NULL) == NULL,
	    "an unknown or missing name finds nothing");
	check(cx_channels_find("x")->approval_always && !cx_channels_find("whatsapp")->approval_always &&
	    !cx_channels_find("email")->approval_always, "approval cannot be turned off for x only");
	check(cx_channels_find("email")->prepare && !cx_channels_find("email")->provider,
	    "email needs no OAuth token: its plan's provider takes keys (prepare)");
}

/* The account of the last proposal that passed (it lives in the proposal). */
static char account[64];

/* Checks the proposal JSON text p; *problem gets the rule it breaks. */
static int check_proposal(const char *p, cx_queue_checked *out, const char **problem)
{
	jv v = jv_parse(p);
	cx_err err = { 0, "" };
	int rc;

	*problem = NULL;
	rc = cx_channels_check(v, out, problem, &err);
	snprintf(account, sizeof account, "%s", rc == 0 && out->account ? out->account : "");
	out->account = NULL;
	jv_free(v);
	return rc;
}

static void test_checks(void)
{
	char text[400], p[600];
	cx_queue_checked c;
	const char *problem;

	memset(text, 'a', 280);
	text[280] = '\0';
	snprintf(p, sizeof p, "{\"channel\":\"x\",\"kind\":\"post\",\"workspace\":\"w\","
	    "\"text\":\"%s\"}", text);
	check(check_proposal(p, &c, &problem) == 0 && c.length == 280 && c.limit == 280,
	    "an x post of 280 weighted characters passes");
	snprintf(p, sizeof p, "{\"channel\":\"x\",\"kind\":\"post\",\"workspace\":\"w\","
	    "\"text\":\"%sa\"}", text);
	check(check_proposal(p, &c, &problem) < 0 && problem && !strcmp(problem, "too_long"),
	    "an x post of 281 is too long");
	check(check_proposal("{\"channel\":\"x\",\"kind\":\"reply\",\"workspace\":\"w\","
	    "\"text\":\"hi\",\"in_reply_to\":\"12a\"}", &c, &problem) < 0 && problem &&
	    !strcmp(problem, "invalid_field"), "an x reply must answer a post id of digits");
	check(check_proposal("{\"channel\":\"whatsapp\",\"kind\":\"text\",\"workspace\":\"w\","
	    "\"text\":\"hi\",\"to\":\"+15550100\",\"phone_number_id\":\"106\"}", &c,
	    &problem) == 0 && !strcmp(account, "106") && c.length == 2 &&
	    c.limit == 4096, "a WhatsApp message sends from its phone_number_id");
	check(check_proposal("{\"channel\":\"messenger\",\"kind\":\"dm\",\"workspace\":\"w\","
	    "\"text\":\"hi\",\"to\":\"1\"}", &c, &problem) < 0 && problem &&
	    !strcmp(problem, "unknown_kind"), "a kind the channel does not send is refused");
	check(check_proposal("{\"channel\":\"fax\",\"kind\":\"page\"}", &c, &problem) < 0 &&
	    problem && !strcmp(problem, "unknown_channel"), "an unknown channel is refused");
	check(check_proposal("[1]", &c, &problem) < 0 && problem &&
	    !strcmp(problem, "not_object"), "a proposal is an object");
}

static void test_build(void)
{
	jv item = jv_parse("{\"id\":7,\"channel\":\"x\",\"kind\":\"reply\",\"text\":\"hi\","
	    "\"in_reply_to\":\"42\",\"meta\":{}}");
	cx_channel_call call;
	const char *code = NULL;
	cx_err err = { 0, "" };

	setenv("CX_X_API_BASE", "http://127.0.0.1:9/", 1);
	check(cx_channels_call_build(item, &call, &code, &err) == 0, "an x reply builds");
	check_str(call.url, "http://127.0.0.1:9/2/tweets", "it is a POST to /2/tweets");
	check_str(call.body, "{\"text\":\"hi\",\"reply\":{\"in_reply_to_tweet_id\":\"42\"}}",
	    "its body is the text and the post it answers");
	check_str(call.idempotency_key, "queue:7", "a queue item's key is queue:<id>");
	check_str(call.provider, "x", "it needs the x credential");
	cx_channel_call_free(&call);
	jv_free(item);
	item = jv_parse("{\"id\":8,\"channel\":\"whatsapp\",\"kind\":\"text\",\"text\":\"hi\","
	    "\"meta\":{\"to\":\"+1\",\"phone_number_id\":\"a/b\"}}");
	check(cx_channels_call_build(item, &call, &code, &err) < 0 && code &&
	    !strcmp(code, "VALIDATION_FAILED") && err.code == CX_EXIT_DATAERR,
	    "a phone_number_id that is not an id builds no request");
	jv_free(item);
}

/* The verdict of channel on status with body. */
static cx_channel_result judged(const char *channel, long status, const char *body)
{
	cx_http_response resp = { .status = status, .body = (char *)body,
		.len = strlen(body), .headers = jv_object() };
	cx_channel_result r;

	cx_channel_judge(cx_channels_find(channel), NULL, 0, &resp, NULL, 0, &r);
	jv_free(resp.headers);
	return r;
}

static void test_judge(void)
{
	cx_channel_result r = judged("x", 201, "{\"data\":{\"id\":\"99\"}}");

	check(r.verdict == CX_CHANNEL_PUBLISHED && r.provider_ref &&
	    !strcmp(r.provider_ref, "99"), "a 201 is published with the post's id");
	cx_channel_result_free(&r);
	r = judged("x", 403, "{\"detail\":\"You are not allowed to create a Tweet with "
	    "duplicate content.\"}");
	check(r.verdict == CX_CHANNEL_FAILED && !strcmp(r.code, "DUPLICATE"),
	    "X's duplicate content is DUPLICATE");
	r = judged("whatsapp", 400, "{\"error\":{\"code\":131047}}");
	check(r.verdict == CX_CHANNEL_FAILED && !strcmp(r.code, "FORBIDDEN"),
	    "Graph error 131047 (re-engagement) fails as FORBIDDEN");
	r = judged("messenger", 400, "{\"error\":{\"code\":613}}");
	check(r.verdict == CX_CHANNEL_RETRY && !strcmp(r.code, "RATE_LIMITED"),
	    "Graph error 613 is a rate limit, to retry");
}

static void test_nfc(void)
{
	size_t len;
	char *s = cx_unicode_nfc("e\xcc\x81 \xea\xb0\x80", 7, &len);

	check_str(s, "\xc3\xa9 \xea\xb0\x80", "NFC composes e + U+0301 and keeps a Hangul syllable");
	check(cx_unicode_codepoints(s, len) == 3, "the NFC text has three code points");
	free(s);
}

int main(void)
{
	test_registry();
	test_checks();
	test_build();
	test_judge();
	test_nfc();
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
