/* watch.c: Google Calendar push channels (`cx-sync watch`): events.watch
 * and channels.stop at Google, and the channels started, renewed and
 * stopped there and kept in the state file (store's watch.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "exit.h"
#include "gcal.h"
#include "googleoauth.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "oauth.h"
#include "source.h"
#include "watch.h"
#include "xalloc.h"

/* ---- Google's calls ---------------------------------------------------- */

/* POSTs body (a JSON text; wiped and freed) to url (freed) with the
 * workspace's Google token: 0 and *resp, or -1 with err. */
static int post_json(cx_store *s, const char *workspace, char *url, char *body,
    cx_http_response *resp, cx_err *err)
{
	char *bearer = NULL;
	cx_http_request req = { 0 };
	int rc;

	if (cx_oauth_preset_token(s, &cx_google_oauth, workspace, &bearer, err) < 0) {
		cx_secret_free(body);
		free(url);
		return -1;
	}
	req.url = url;
	req.body = body;
	req.body_len = strlen(body);
	req.content_type = CX_HTTP_JSON;
	req.bearer = bearer;
	rc = cx_http_do(&req, resp, err);
	cx_secret_free(bearer);
	cx_secret_free(body);   /* a watch's holds the channel token */
	free(url);
	if (rc < 0) {
		cx_http_response_free(resp);
		return sync_transport_error(s, GCAL_SOURCE, err);
	}
	return 0;
}

int gcal_watch(cx_store *s, const char *workspace, const char *calendar_id,
    const char *channel_id, const char *address, const char *token, int64_t ttl,
    jv *channel, cx_err *err)
{
	char ttl_s[24];
	jv req_body = jv_object();
	cx_http_response resp;

	*channel = jv_invalid();
	req_body = jv_object_set(req_body, jv_string("id"), jv_string(channel_id));
	req_body = jv_object_set(req_body, jv_string("type"), jv_string("web_hook"));
	req_body = jv_object_set(req_body, jv_string("address"), jv_string(address));
	req_body = jv_object_set(req_body, jv_string("token"), jv_string(token));
	if (ttl > 0) {
		snprintf(ttl_s, sizeof ttl_s, "%lld", (long long)ttl);
		req_body = jv_object_set(req_body, jv_string("params"), jv_object_set(
		    jv_object(), jv_string("ttl"), jv_string(ttl_s)));
	}
	if (post_json(s, workspace, gcal_api_url("/calendar/v3/calendars/%s/events/watch",
	    calendar_id), cx_json_dump(req_body), &resp, err) < 0)
		return -1;
	if (resp.status != 200) {
		gcal_error(s, "events.watch", &resp, err);
		cx_http_response_free(&resp);
		return -1;
	}
	*channel = cx_http_json(&resp);
	cx_http_response_free(&resp);
	if (jv_get_kind(*channel) != JV_KIND_OBJECT || !cx_json_str(*channel, "resourceId")) {
		jv_free(*channel);
		*channel = jv_invalid();
		return cx_err_set(err, CX_EXIT_UNAVAILABLE,
		    "events.watch: the answer has no resourceId");
	}
	return 0;
}

int gcal_stop(cx_store *s, const char *workspace, const char *channel_id,
    const char *resource_id, cx_err *err)
{
	jv b = jv_object_set(jv_object(), jv_string("id"), jv_string(channel_id));
	cx_http_response resp;
	int rc;

	b = jv_object_set(b, jv_string("resourceId"), jv_string(resource_id));
	if (post_json(s, workspace, gcal_api_url("/calendar/v3/channels/stop%s", NULL),
	    cx_json_dump(b), &resp, err) < 0)
		return -1;
	rc = resp.status == 200 || resp.status == 204 ? 1 : resp.status == 404 ? 0 :
	    gcal_error(s, "channels.stop", &resp, err);
	cx_http_response_free(&resp);
	return rc;
}

/* A random UUID (version 4), as Google suggests for channel ids. */
static void new_channel_id(char out[37])
{
	unsigned char b[16];
	char hex[33];

	cx_crypto_random(b, sizeof b);
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	cx_crypto_hex(b, sizeof b, hex);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
	    hex + 20);
}

/* Google's expiration: epoch milliseconds, as a string or a number. */
static int expiration_of(jv channel, int64_t *secs)
{
	jv e = jv_object_get(jv_copy(channel), jv_string("expiration"));
	double ms = -1;

	if (jv_get_kind(e) == JV_KIND_STRING) {
		char *end;

		ms = strtod(jv_string_value(e), &end);
		if (*end || end == jv_string_value(e))
			ms = -1;
	} else if (jv_get_kind(e) == JV_KIND_NUMBER) {
		ms = jv_number_value(e);
	}
	jv_free(e);
	if (!(ms > 0))
		return -1;
	*secs = (int64_t)(ms / 1000);
	return 0;
}

int watch_start(cx_store *s, const char *workspace, const char *calendar_id,
    const char *address, int64_t ttl, const char *replaces, jv *row, cx_err *err)
{
	char id[37], *token;
	unsigned char raw[32];
	jv channel;
	cx_watch_channel c = { 0 };
	int rc;

	*row = jv_null();
	new_channel_id(id);
	if (cx_crypto_random(raw, sizeof raw) < 0)
		return cx_err_set(err, CX_EXIT_TEMPFAIL, "no random bytes for a channel token");
	token = cx_crypto_base64url(raw, sizeof raw);
	cx_crypto_wipe(raw, sizeof raw);
	rc = gcal_watch(s, workspace, calendar_id, id, address, token, ttl, &channel, err);
	if (rc == 0) {
		c = (cx_watch_channel){ id, workspace, calendar_id,
			cx_json_str(channel, "resourceId"), cx_json_str(channel, "resourceUri"),
			address, token, 0, ttl };
		if (expiration_of(channel, &c.expiration) < 0)
			rc = cx_err_set(err, CX_EXIT_UNAVAILABLE,
			    "events.watch: the answer has no expiration");
		else
			rc = cx_watch_add(s, &c, replaces, err);
		if (rc < 0) {
			/* do not leave a channel at Google that nothing here knows */
			cx_err ignored;

			gcal_stop(s, workspace, id, c.resource_id ? c.resource_id : "", &ignored);
		}
		jv_free(channel);
	}
	cx_crypto_wipe(token, strlen(token));
	free(token);
	if (rc == 0 && cx_watch_get(s, id, row, err) < 0)
		return -1;
	return rc;
}

typedef struct {
	void (*each)(jv row, void *ctx);
	void *ctx;
	cx_store *s;
	int64_t failed;
} renewal;

static void renew_one(jv old, void *ctx)
{
	renewal *r = ctx;
	cx_err err = { 0, "" };
	const char *id = cx_json_str(old, "channel_id");
	const char *workspace = cx_json_str(old, "workspace");
	jv ttl = jv_object_get(jv_copy(old), jv_string("ttl")), row;
	int64_t t = jv_get_kind(ttl) == JV_KIND_NUMBER ? (int64_t)jv_number_value(ttl) : 0;

	jv_free(ttl);
	if (watch_start(r->s, workspace, cx_json_str(old, "calendar_id"),
	    cx_json_str(old, "address"), t, id, &row, &err) < 0) {
		cx_log(CX_LOG_ERROR, jv_object_set(jv_object(), jv_string("channel_id"),
		    jv_string(id)), "cannot renew channel %s: %s", id, err.msg);
		r->failed++;
		jv_free(old);
		return;
	}
	/* the successor runs; now the old channel can go */
	if (gcal_stop(r->s, workspace, id, cx_json_str(old, "resource_id"), &err) < 0)
		cx_log(CX_LOG_WARN, jv_object_set(jv_object(), jv_string("channel_id"),
		    jv_string(id)), "channel %s was renewed but Google did not stop it "
		    "(%s); it ends at its expiration", id, err.msg);
	if (cx_watch_stop(r->s, id, &err) < 0)
		cx_log(CX_LOG_WARN, jv_null(), "%s", err.msg);
	row = jv_object_set(row, jv_string("replaces"), jv_string(id));
	r->each(row, r->ctx);
	jv_free(old);
}

int watch_renew(cx_store *s, const char *workspace, int64_t before,
    void (*each)(jv row, void *ctx), void *ctx, int64_t *failed, cx_err *err)
{
	renewal r = { each, ctx, s, 0 };
	int rc = cx_watch_list(s, workspace, 0, cx_clock_now() + before, renew_one, &r, err);

	*failed = r.failed;
	return rc;
}

int watch_stop(cx_store *s, const char *channel_id, jv *row, cx_err *err)
{
	int rc = cx_watch_get(s, channel_id, row, err);

	if (rc <= 0)
		return rc < 0 ? -1 : cx_err_set(err, CX_EXIT_DATAERR, "no channel %s", channel_id);
	if (strcmp(cx_json_str(*row, "status"), "stopped") == 0)
		return 0;
	rc = gcal_stop(s, cx_json_str(*row, "workspace"), channel_id,
	    cx_json_str(*row, "resource_id"), err);
	if (rc < 0)
		return -1;
	if (rc == 0)
		cx_log(CX_LOG_INFO, jv_null(), "Google no longer knew channel %s", channel_id);
	jv_free(*row);
	*row = jv_null();
	if (cx_watch_stop(s, channel_id, err) < 0 || cx_watch_get(s, channel_id, row, err) < 0)
		return -1;
	return 0;
}
