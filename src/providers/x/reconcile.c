/* reconcile.c: items whose fate is unknown (a timeout after the request
 * went out, a lease that ran out) are never resent blindly. For X, the
 * account's recent posts (GET /2/users/{id}/tweets, up to
 * CX_PUBLISH_RECONCILE_PAGES pages of 100) are matched by text (and reply
 * target), each post at most once a run: cx-publish (unknown.c) settles a
 * match as published with the post's id and sends what is not there, once
 * it has been unknown long enough (X may take a moment to list a new
 * post), back to approved to be published again. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "config.h"
#include "exit.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "oauth.h"
#include "xchannel.h"
#include "xoauth.h"
#include "xalloc.h"

/* The recent posts of one workspace's X account, fetched once a run. */
typedef struct timeline {
	char *workspace;
	jv posts;                  /* array of {id, text, referenced_tweets?}, or invalid */
	int code;                  /* invalid: the exit status it comes to */
	struct timeline *next;
} timeline;

/* What a run keeps (cx_channel_recon.own). */
typedef struct {
	jv used;                   /* post ids matched in this run */
	timeline *timelines;
} recon;

static void account_of(jv row, void *ctx)
{
	char **id = ctx;
	const char *a = cx_json_str(row, "account_id");

	if (a && !*id)
		*id = cx_xstrdup(a);
	jv_free(row);
}

/* The page of an X user's recent posts after next_token (NULL: the first),
 * up to 100, with created_at and referenced_tweets. A new string. */
static char *timeline_url(const char *user_id, const char *next_token)
{
	char *base = cx_x_api_base();
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

/* Whether a post's text as X returns it is the text cx sent: HTML entities
 * decoded, URLs (which X rewrites to t.co) and runs of white space compared
 * as one, and the @mentions X puts before a reply ignored. */
static int same_text(const char *posted, const char *sent)
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

/* Fetches the posts of workspace's X account; jv_invalid() when they
 * cannot be had (logged, *code set). */
static jv fetch_posts(cx_channel_recon *r, const char *workspace, int *code)
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
		char *url = timeline_url(user, next);
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
	*code = err.code ? err.code : CX_EXIT_TEMPFAIL;
	free(next);
	free(user);
	cx_secret_free(tok);
	jv_free(posts);
	return jv_invalid();
}

static timeline *timeline_of(cx_channel_recon *run, const char *workspace)
{
	recon *r = run->own;
	timeline *t;

	for (t = r->timelines; t; t = t->next)
		if (strcmp(t->workspace, workspace) == 0)
			return t;
	t = cx_xcalloc(1, sizeof *t);
	t->workspace = cx_xstrdup(workspace);
	t->posts = fetch_posts(run, workspace, &t->code);
	t->next = r->timelines;
	r->timelines = t;
	return t;
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
		    same_text(ptext, text) && same_target(post, reply)) {
			found = cx_xstrdup(id);
			r->used = jv_object_set(r->used, jv_string(id), jv_true());
		}
		jv_free(post);
	}
	jv_free(posts);
	return found;
}

int cx_x_reconcile(cx_channel_recon *run, jv item, char **ref, cx_err *err)
{
	timeline *t;

	if (!run->own) {
		recon *r = cx_xcalloc(1, sizeof *r);

		r->used = jv_object();
		run->own = r;
	}
	t = timeline_of(run, cx_json_str(item, "workspace"));
	if (!jv_is_valid(t->posts))
		return cx_err_set(err, t->code, "the posts of workspace %s cannot be had",
		    t->workspace);
	*ref = find_post(run->own, jv_copy(t->posts), item);
	return *ref ? 1 : 0;
}

void cx_x_reconcile_end(cx_channel_recon *run)
{
	recon *r = run->own;

	if (!r)
		return;
	for (timeline *t = r->timelines, *n; t; t = n) {
		n = t->next;
		free(t->workspace);
		jv_free(t->posts);
		free(t);
	}
	jv_free(r->used);
	free(r);
	run->own = NULL;
}
