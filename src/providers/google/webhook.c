/* webhook.c: Google Calendar's push notifications (the google-calendar
 * route): no body and no signature; the channel id, resource id and
 * channel token must name a live channel of the watch table. The stored
 * body is built from the X-Goog-* headers and the channel's calendar
 * (share/cx/parsers/google-calendar.jq reads it, and keys each change on
 * the channel and X-Goog-Message-Number). */
#include <stdlib.h>
#include <string.h>

#include "gcal.h"
#include "json.h"
#include "watch.h"

static int gcal_verify(cx_webhook_request *r, const void *keys, cx_store *store,
    cx_err *err)
{
	static const struct { const char *header, *key; } fields[] = {
		{ "X-Goog-Channel-ID", "channel_id" },
		{ "X-Goog-Resource-ID", "resource_id" },
		{ "X-Goog-Resource-State", "resource_state" },
		{ "X-Goog-Message-Number", "message_number" },
		{ "X-Goog-Resource-URI", "resource_uri" },
		{ "X-Goog-Channel-Expiration", "channel_expiration" },
	};
	char *calendar = NULL;
	jv body;
	int ok;

	(void)keys;
	ok = cx_watch_verify(store, r->header(r, "X-Goog-Channel-ID"),
	    r->header(r, "X-Goog-Resource-ID"), r->header(r, "X-Goog-Channel-Token"),
	    &calendar, err);
	if (ok < 0) {
		char msg[sizeof err->msg];

		memcpy(msg, err->msg, sizeof msg);
		cx_err_set(err, err->code, "watch: %.500s", msg);
	}
	if (ok <= 0)
		return ok;
	body = jv_object();
	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
		const char *v = r->header(r, fields[i].header);

		if (v)
			body = jv_object_set(body, jv_string(fields[i].key), jv_string(v));
	}
	body = jv_object_set(body, jv_string("calendar_id"), jv_string(calendar));
	free(calendar);
	free(r->body);
	r->body = cx_json_dump(body);
	r->len = strlen(r->body);
	return 1;
}

static const char *const routes[] = { GCAL_SOURCE, NULL };
static const char *const no_secrets[] = { NULL };

const cx_webhook_source gcal_webhook = {
	.routes = routes,
	.secrets = no_secrets,
	.refused = "unknown_channel",
	.needs_store = 1,
	.verify = gcal_verify,
};
