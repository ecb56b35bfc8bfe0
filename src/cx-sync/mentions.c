/* mentions.c: `cx-sync x-mentions`: GET /2/users/:id/mentions since the last
 * post id seen, every page, emitted oldest first as x.mention events; a 429
 * holds the next run back until X's x-rate-limit-reset. */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "exit.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "oauth.h"
#include "sync.h"
#include "sync_tool.h"
#include "xalloc.h"

#define SOURCE "x-mentions"
#define MAX_PAGES 100
#define RETRY_AFTER_DEFAULT 900   /* X's rate limit window, when reset is missing */

/* The X account id of the workspace's credential. */
static void take_account(jv row, void *ctx)
{
	char **id = ctx;
	const char *a = cx_json_str(row, "account_id");

	if (a && !*id)
		*id = cx_xstrdup(a);
	jv_free(row);
}

/* Post ids are decimal strings; compare them as numbers. */
static int id_cmp(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la != lb)
		return la < lb ? -1 : 1;
	return strcmp(a, b);
}

static int by_id(const void *x, const void *y)
{
	const jv *a = x, *b = y;

	return id_cmp(cx_json_str(*a, "id"), cx_json_str(*b, "id"));
}

static int valid_id(const char *s)
{
	return s && *s && strlen(s) < 32 && strspn(s, "0123456789") == strlen(s);
}

/* 429: hold the next runs until the reset X names. */
static int rate_limited(cx_store *s, const char *key, const cx_http_response *resp,
    cx_err *err)
{
	const char *reset = cx_http_header(resp, "x-rate-limit-reset");
	int64_t until = cx_clock_now() + RETRY_AFTER_DEFAULT;
	char when[CX_RFC3339_LEN];
	cx_err ignored;

	if (reset && valid_id(reset))
		until = strtoll(reset, NULL, 10);
	cx_sync_count_error(s, SOURCE, "429", &ignored);
	if (cx_sync_cursor_hold(s, SOURCE, key, until, err) < 0)
		return -1;
	cx_clock_rfc3339(until, -1, when);
	return cx_err_set(err, CX_EXIT_TEMPFAIL, "rate limited by X until %s (HTTP 429)",
	    when);
}

/* One page into *posts; *next gets the next page's token or NULL. */
static int fetch_page(cx_store *s, const char *workspace, const char *key,
    const char *user_id, const char *since_id, const char *page_token,
    long max_results, jv *posts, char **next, cx_err *err)
{
	char *base = sync_api_base("CX_X_API_BASE", "https://api.x.com");
	char *esc = sync_escape(user_id), *path, *url, *token = NULL, size[24];
	cx_http_request req = { 0 };
	cx_http_response resp;
	jv body, data, nt;
	int rc;

	*next = NULL;
	snprintf(size, sizeof size, "%ld", max_results);
	path = cx_xasprintf("%s/2/users/%s/mentions", base, esc);
	url = cx_http_url_with(path, "max_results", size, "since_id", since_id,
	    "pagination_token", page_token, "tweet.fields",
	    "author_id,conversation_id,created_at", NULL);
	free(base);
	free(esc);
	free(path);
	if (cx_oauth_token(s, "x", workspace, &token, err) < 0) {
		free(url);
		return -1;
	}
	req.url = url;
	req.bearer = token;
	rc = cx_http_do(&req, &resp, err);
	cx_secret_free(token);
	free(url);
	if (rc < 0) {
		cx_http_response_free(&resp);
		return sync_transport_error(s, SOURCE, err);
	}
	if (resp.status == 429) {
		rc = rate_limited(s, key, &resp, err);
		cx_http_response_free(&resp);
		return rc;
	}
	if (resp.status != 200) {
		sync_upstream_error(s, SOURCE, "mentions", &resp, NULL, err);
		cx_http_response_free(&resp);
		return -1;
	}
	body = cx_http_json(&resp);
	cx_http_response_free(&resp);
	if (jv_get_kind(body) != JV_KIND_OBJECT) {
		jv_free(body);
		return cx_err_set(err, CX_EXIT_UNAVAILABLE, "mentions: the answer is not a JSON object");
	}
	data = jv_object_get(jv_copy(body), jv_string("data"));
	if (jv_get_kind(data) == JV_KIND_ARRAY) {
		jv_array_foreach(data, i, p) {
			if (jv_get_kind(p) == JV_KIND_OBJECT && valid_id(cx_json_str(p, "id")))
				*posts = jv_array_append(*posts, p);
			else
				jv_free(p);
			(void)i;
		}
	}
	jv_free(data);
	nt = jv_getpath(body, JV_ARRAY(jv_string("meta"), jv_string("next_token")));
	if (jv_get_kind(nt) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(nt)) > 0)
		*next = cx_xstrdup(jv_string_value(nt));
	jv_free(nt);
	return 0;
}

static jv set_if_string(jv o, const char *key, jv v)
{
	if (jv_get_kind(v) == JV_KIND_STRING)
		return jv_object_set(o, jv_string(key), v);
	jv_free(v);
	return o;
}

/* A post (consumed) as an x.mention item. */
static jv mention(const char *user_id, jv post)
{
	const char *id = cx_json_str(post, "id");
	char *key = cx_xasprintf("x:%s:mention:%s", user_id, id);
	jv data = jv_object_set(jv_object(), jv_string("post_id"), jv_string(id));
	jv created = jv_object_get(jv_copy(post), jv_string("created_at"));
	jv it = jv_object_set(jv_object(), jv_string("type"), jv_string("x.mention"));
	char utc[CX_RFC3339_LEN];
	int64_t secs;

	data = set_if_string(data, "author_id", jv_object_get(jv_copy(post), jv_string("author_id")));
	data = set_if_string(data, "text", jv_object_get(jv_copy(post), jv_string("text")));
	data = set_if_string(data, "conversation_id", jv_object_get(jv_copy(post),
	    jv_string("conversation_id")));
	if (jv_get_kind(created) == JV_KIND_STRING &&
	    cx_clock_parse_rfc3339(jv_string_value(created), &secs) == 0) {
		cx_clock_rfc3339(secs, -1, utc);
		data = jv_object_set(data, jv_string("created_at"), jv_string(utc));
		it = jv_object_set(it, jv_string("ts"), jv_string(utc));
	} else {
		it = jv_object_set(it, jv_string("ts"), jv_null());
	}
	jv_free(created);
	it = jv_object_set(it, jv_string("dedupe_key"), jv_string(key));
	it = jv_object_set(it, jv_string("data"), data);
	free(key);
	jv_free(post);
	return it;
}

int mentions_sync(cx_store *s, const char *workspace, long max_results, cx_err *err)
{
	char *user_id = NULL, *key = NULL, *page_token = NULL, *newest = NULL;
	cx_sync_cursor cur = { 0 };
	cx_sync_lease *lease = NULL;
	int64_t ttl, started = cx_clock_mono_ms(), n = 0;
	jv posts = jv_array();
	sync_out out = { 0 };
	int rc, ok = 0, pages = 0, out_open = 0;

	if (cx_oauth_list(s, "x", workspace, take_account, &user_id, err) < 0)
		goto done;
	if (!user_id || !valid_id(user_id)) {
		cx_err_set(err, CX_EXIT_CONFIG, "no X account is connected for workspace %s "
		    "(see cx-oauth authorize --provider x)", workspace);
		goto done;
	}
	key = cx_xasprintf("%s/%s", workspace, user_id);
	if (sync_lease_ttl(&ttl, err) < 0)
		goto done;
	rc = cx_sync_lease_take(s, SOURCE, key, ttl, &lease, err);
	if (rc == 0)
		cx_err_set(err, CX_EXIT_TEMPFAIL, "a poll of the mentions of %s is already "
		    "running", workspace);
	if (rc <= 0 || cx_sync_cursor_get(s, SOURCE, key, &cur, err) < 0)
		goto done;
	if (cur.not_before > cx_clock_now()) {
		char when[CX_RFC3339_LEN];

		cx_clock_rfc3339(cur.not_before, -1, when);
		cx_err_set(err, CX_EXIT_TEMPFAIL, "rate limited by X until %s; not asking "
		    "before then", when);
		goto done;
	}
	do {
		char *next = NULL;

		if (++pages > MAX_PAGES) {
			cx_err_set(err, CX_EXIT_UNAVAILABLE, "mentions: more than %d pages", MAX_PAGES);
			goto done;
		}
		if (fetch_page(s, workspace, key, user_id, cur.cursor, page_token, max_results,
		    &posts, &next, err) < 0 ||
		    (next && cx_sync_lease_renew(lease, err) < 0)) {
			free(next);
			goto done;
		}
		free(page_token);
		page_token = next;
	} while (page_token);
	n = jv_array_length(jv_copy(posts));
	if (n > 0) {
		jv *all = cx_xcalloc((size_t)n, sizeof *all);

		for (int64_t i = 0; i < n; i++)
			all[i] = jv_array_get(jv_copy(posts), (int)i);
		qsort(all, (size_t)n, sizeof *all, by_id);
		if (sync_out_init(&out, s, SOURCE, "x", user_id, NULL, cur.cursor ? "incremental" : "full",
		    err) == 0)
			out_open = 1;
		for (int64_t i = 0; i < n; i++) {
			const char *id = cx_json_str(all[i], "id");

			/* a page boundary may repeat a post; ids only grow */
			if (out_open && (!newest || id_cmp(id, newest) > 0)) {
				free(newest);
				newest = cx_xstrdup(id);
				sync_out_item(mention(user_id, jv_copy(all[i])), &out);
			}
			jv_free(all[i]);
		}
		free(all);
		if (!out_open || sync_out_flush(err) < 0)
			goto done;
	}
	if (cx_store_begin(s, err) < 0)
		goto done;
	if (cx_sync_lease_check(lease, err) < 0 ||
	    cx_sync_cursor_put(s, SOURCE, key, newest ? newest : cur.cursor, NULL,
	    cur.cursor == NULL, err) < 0 ||
	    cx_sync_count_run(s, SOURCE, cur.cursor == NULL, out.lines, 0, 0,
	    cx_clock_mono_ms() - started, err) < 0) {
		cx_store_rollback(s);
		goto done;
	}
	if (cx_store_commit(s, err) == 0) {
		cx_log(CX_LOG_INFO, jv_object_set(jv_object_set(jv_object(), jv_string("created"),
		    jv_number((double)out.lines)), jv_string("pages"), jv_number(pages)),
		    "polled the mentions of %s", workspace);
		ok = 1;
	}
done:
	if (out_open)
		sync_out_free(&out);
	cx_sync_lease_release(lease);
	cx_sync_cursor_clear(&cur);
	jv_free(posts);
	free(page_token);
	free(newest);
	free(user_id);
	free(key);
	return ok ? 0 : -1;
}
