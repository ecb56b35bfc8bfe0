/* reconcile.c: items whose fate is unknown (a timeout after the request
 * went out, a lease that ran out) are never resent blindly. For X, the
 * account's recent posts (GET /2/users/{id}/tweets, up to
 * CX_PUBLISH_RECONCILE_PAGES pages of 100) are matched by text (and reply
 * target): a match settles the item as published with the post's id; no
 * match, once the item has been unknown for CX_PUBLISH_RECONCILE_GRACE_SECONDS
 * (X may take a moment to list a new post), sends it back to approved to be
 * published again. The Meta APIs cannot be asked whether a message went
 * out (cx-publish(1) RECONCILIATION says why): those items stay unknown for
 * a person to decide (`cx-publish retry` or `cx-publish resolve`). */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "commands.h"
#include "config.h"
#include "exit.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "oauth.h"
#include "xoauth.h"
#include "publish.h"
#include "publish_tool.h"
#include "queue.h"
#include "xalloc.h"

/* The recent posts of one workspace's X account, fetched once a run. */
typedef struct timeline {
	char *workspace;
	jv posts;                  /* array of {id, text, referenced_tweets?}, or invalid */
	struct timeline *next;
} timeline;

typedef struct {
	cx_store *s;
	int explicit;
	int64_t grace, pages, now;
	jv items;                  /* [[source, item]...] */
	jv used;                   /* post ids matched in this run */
	timeline *timelines;
	int *status;
} recon;

static void collect(jv item, void *ctx)
{
	void **args = ctx;
	recon *r = args[0];

	r->items = jv_array_append(r->items, jv_array_append(jv_array_append(jv_array(),
	    jv_string(args[1])), item));
}

static void account_of(jv row, void *ctx)
{
	char **id = ctx;
	const char *a = cx_json_str(row, "account_id");

	if (a && !*id)
		*id = cx_xstrdup(a);
	jv_free(row);
}

/* Fetches the posts of workspace's X account; jv_invalid() when they
 * cannot be had (logged, status set). */
static jv fetch_posts(recon *r, const char *workspace)
{
	char *user = NULL, *tok = NULL, *next = NULL;
	cx_err err = { 0, "" };
	jv posts = jv_array();

	if (cx_oauth_list(r->s, cx_x_oauth.name, workspace, account_of, &user, &err) < 0 ||
	    cx_oauth_preset_token(r->s, &cx_x_oauth, workspace, &tok, &err) < 0)
		goto fail;
	if (!user) {
		cx_err_set(&err, CX_EXIT_CONFIG, "the X credential of workspace %s names no "
		    "account", workspace);
		goto fail;
	}
	for (int64_t page = 0; page < r->pages; page++) {
		char *url = cx_publish_x_timeline_url(user, next);
		cx_http_request req = { .url = url, .bearer = tok };
		cx_http_response resp;
		jv body, data, meta;

		free(next);
		next = NULL;
		if (cx_http_do(&req, &resp, &err) < 0) {
			free(url);
			cx_http_response_free(&resp);
			goto fail;
		}
		free(url);
		if (resp.status != 200) {
			cx_err_set(&err, resp.status == 401 || resp.status == 403 ? CX_EXIT_NOPERM :
			    CX_EXIT_TEMPFAIL, "X answered HTTP %ld to the timeline lookup", resp.status);
			cx_http_response_free(&resp);
			goto fail;
		}
		body = cx_http_json(&resp);
		cx_http_response_free(&resp);
		if (jv_get_kind(body) != JV_KIND_OBJECT) {
			jv_free(body);
			body = jv_object();
		}
		data = jv_object_get(jv_copy(body), jv_string("data"));
		if (jv_get_kind(data) == JV_KIND_ARRAY)
			posts = jv_array_concat(posts, data);
		else
			jv_free(data);
		meta = jv_object_get(body, jv_string("meta"));
		if (cx_json_str(meta, "next_token"))
			next = cx_xstrdup(cx_json_str(meta, "next_token"));
		jv_free(meta);
		if (!next)
			break;
	}
	free(next);
	free(user);
	cx_secret_free(tok);
	return posts;
fail:
	cx_log(CX_LOG_ERROR, jv_null(), "cannot reconcile the X posts of workspace %s: %s",
	    workspace, err.msg);
	publish_status(r->status, err.code ? err.code : CX_EXIT_TEMPFAIL);
	free(next);
	free(user);
	cx_secret_free(tok);
	jv_free(posts);
	return jv_invalid();
}

static jv posts_of(recon *r, const char *workspace)
{
	timeline *t;

	for (t = r->timelines; t; t = t->next)
		if (strcmp(t->workspace, workspace) == 0)
			return jv_copy(t->posts);
	t = cx_xcalloc(1, sizeof *t);
	t->workspace = cx_xstrdup(workspace);
	t->posts = fetch_posts(r, workspace);
	t->next = r->timelines;
	r->timelines = t;
	return jv_copy(t->posts);
}

/* Whether post answers in_reply_to (when X told which post it answers). */
static int same_target(jv post, const char *in_reply_to)
{
	jv refs = jv_get_kind(post) == JV_KIND_OBJECT ?
	    jv_object_get(jv_copy(post), jv_string("referenced_tweets")) : jv_invalid();
	int ok = !in_reply_to;

	if (in_reply_to && jv_get_kind(refs) != JV_KIND_ARRAY)
		ok = 1;
	if (in_reply_to && jv_get_kind(refs) == JV_KIND_ARRAY) {
		jv_array_foreach(refs, i, ref) {
			const char *type = cx_json_str(ref, "type"), *id = cx_json_str(ref, "id");

			if (type && id && !strcmp(type, "replied_to") && !strcmp(id, in_reply_to))
				ok = 1;
			jv_free(ref);
		}
	}
	jv_free(refs);
	return ok;
}

/* Whether post was created too long before item was approved to be it
 * (an older post with the same text); ten minutes allow for clock skew. */
static int too_old(jv post, jv item)
{
	const char *created = cx_json_str(post, "created_at");
	const char *since = cx_json_str(item, "decided_at");
	int64_t a, b;

	if (!since)
		since = cx_json_str(item, "requested_at");
	return created && since && cx_clock_parse_rfc3339(created, &a) == 0 &&
	    cx_clock_parse_rfc3339(since, &b) == 0 && a < b - 600;
}

/* The id of the post that is item, or NULL; posts is consumed. */
static char *find_post(recon *r, jv posts, jv item)
{
	const char *text = cx_json_str(item, "text"), *reply = cx_json_str(item, "in_reply_to");
	char *found = NULL;

	jv_array_foreach(posts, i, post) {
		const char *id = cx_json_str(post, "id"), *ptext = cx_json_str(post, "text");
		int seen = jv_object_has(jv_copy(r->used), jv_string(id ? id : ""));

		if (!found && id && ptext && text && !seen && !too_old(post, item) &&
		    cx_publish_x_same_text(ptext, text) && same_target(post, reply)) {
			found = cx_xstrdup(id);
			r->used = jv_object_set(r->used, jv_string(id), jv_true());
		}
		jv_free(post);
	}
	jv_free(posts);
	return found;
}

static void reconcile_one(recon *r, const char *source, jv item)
{
	int command = strcmp(source, "command") == 0;
	int64_t id = (int64_t)jv_number_value(jv_object_get(jv_copy(item), jv_string("id")));
	int64_t since = 0;
	const char *channel = cx_json_str(item, "channel"), *at = cx_json_str(item, "updated_at");
	jv f = jv_object_set(jv_object(), jv_string(command ? "command_id" : "queue_id"),
	    jv_number((double)id)), posts, ev = jv_null();
	cx_queue_outcome o = { 0 };
	cx_err err = { 0, "" };
	char *ref = NULL;
	int rc;

	f = jv_object_set(f, jv_string("channel"), jv_string(channel));
	f = jv_object_set(f, jv_string("correlation_id"),
	    jv_string(cx_json_str(item, "correlation_id")));
	if (strcmp(channel, "x") != 0) {
		cx_log(r->explicit ? CX_LOG_ERROR : CX_LOG_WARN, f, "%s %lld on %s may or may "
		    "not have gone out, and %s cannot be asked: check, then `cx-publish retry "
		    "%s%lld` to send it again, or `cx-publish resolve --published %s%lld` if it "
		    "went out", source, (long long)id, channel, channel,
		    command ? "command:" : "", (long long)id, command ? "command:" : "",
		    (long long)id);
		if (r->explicit)
			publish_status(r->status, CX_EXIT_SOME_FAILED);
		jv_free(item);
		return;
	}
	posts = posts_of(r, cx_json_str(item, "workspace"));
	if (!jv_is_valid(posts)) {
		jv_free(f);
		jv_free(item);
		return;
	}
	ref = find_post(r, posts, item);
	if (ref) {
		o = (cx_queue_outcome){ .state = "published", .provider_ref = ref };
	} else if (at && cx_clock_parse_rfc3339(at, &since) == 0 && r->now - since < r->grace) {
		cx_log(CX_LOG_INFO, f, "not on the account's timeline yet; looking again after "
		    "%lld s", (long long)r->grace);
		jv_free(item);
		return;
	} else {
		o = (cx_queue_outcome){ .state = "approved", .error_code = "RECONCILED_NOT_FOUND",
		    .error_detail = "not among the account's recent posts: to be published again",
		    .next_attempt_at = r->now };
	}
	jv_free(item);
	rc = command ? cx_commands_settle(r->s, id, &o, &ev, &err) :
	    cx_queue_settle(r->s, id, &o, &ev, &err);
	if (rc < 0) {
		cx_log(CX_LOG_ERROR, f, "%s", err.msg);
		publish_status(r->status, err.code == CX_EXIT_SOME_FAILED ? CX_EXIT_SOME_FAILED :
		    CX_EXIT_TEMPFAIL);
	} else {
		cx_log(CX_LOG_INFO, f, "reconciled: %s", ref ? "published" : "not found, to be "
		    "sent again");
		if (jv_get_kind(ev) == JV_KIND_OBJECT) {
			cx_ndjson_write(ev);
			ev = jv_null();
		}
	}
	jv_free(ev);
	free(ref);
}

void publish_reconcile(cx_store *s, const char *channel, int explicit, int *status)
{
	recon r = { .s = s, .explicit = explicit, .now = cx_clock_now(),
		.items = jv_array(), .used = jv_object(), .status = status };
	cx_err err = { 0, "" };
	void *args[2] = { &r, "queue" };

	if (cx_config_int("CX_PUBLISH_RECONCILE_GRACE_SECONDS", 60, &r.grace, &err) < 0 ||
	    cx_config_int("CX_PUBLISH_RECONCILE_PAGES", 5, &r.pages, &err) < 0 ||
	    cx_queue_list(s, "unknown", channel, collect, args, &err) < 0 ||
	    (args[1] = "command", cx_commands_list(s, "unknown", channel, collect, args,
	    &err)) < 0) {
		cx_log(CX_LOG_ERROR, jv_null(), "%s", err.msg);
		publish_status(status, err.code ? err.code : CX_EXIT_TEMPFAIL);
		jv_free(r.items);
		jv_free(r.used);
		return;
	}
	jv_array_foreach(r.items, i, pair) {
		jv src = jv_array_get(jv_copy(pair), 0);

		reconcile_one(&r, jv_string_value(src), jv_array_get(pair, 1));
		jv_free(src);
	}
	cx_ndjson_flush();
	for (timeline *t = r.timelines, *n; t; t = n) {
		n = t->next;
		free(t->workspace);
		jv_free(t->posts);
		free(t);
	}
	jv_free(r.items);
	jv_free(r.used);
}
