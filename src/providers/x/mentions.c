/* mentions.c: the x-mentions sync source (`cx-sync x-mentions`): GET /2/users/:id/mentions since the last
 * post id seen, every page, emitted oldest first as x.mention events.
 * X pages newest first, so a poll that X's rate limit cuts short (a 429, or
 * a page with x-rate-limit-remaining: 0 and pages left, which are then not
 * asked for) keeps what it got and leaves a gap: the posts between the
 * poll's since_id and the oldest post it got. The cursor then holds the
 * newest id seen, its mode "gap:<since_id>:<until_id>" (since_id empty for
 * a first poll), and a hold until X's x-rate-limit-reset; the next run
 * fills the gap with until_id before it polls since the cursor. */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "exit.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "mentions.h"
#include "oauth.h"
#include "source.h"
#include "xoauth.h"
#include "sync.h"
#include "xalloc.h"

#define SOURCE "x-mentions"
#define MAX_PAGES 100
#define MAX_RESULTS_DEFAULT 100
#define RETRY_AFTER_DEFAULT 900   /* X's rate limit window, when reset is missing */
#define GAP "gap:"

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

/* One run: the posts its polls got and where X's rate limit left it. */
typedef struct {
	cx_store *s;
	const char *workspace, *user_id;
	cx_sync_lease *lease;
	long max_results;
	jv posts;                 /* every post of the run, in the order X gave them */
	int pages;
	int64_t hold;             /* X's reset once its limit is spent; 0: not spent */
} poll_run;

/* X's x-rate-limit-reset (epoch seconds), or a window from now. */
static int64_t reset_of(const cx_http_response *resp)
{
	const char *reset = cx_http_header(resp, "x-rate-limit-reset");

	if (valid_id(reset))
		return strtoll(reset, NULL, 10);
	return cx_clock_now() + RETRY_AFTER_DEFAULT;
}

/* The post (consumed) with "author_username" from the answer's
 * includes.users (borrowed), when X sent its author there. */
static jv with_username(jv post, jv users)
{
	const char *author = cx_json_str(post, "author_id");

	if (!author || jv_get_kind(users) != JV_KIND_ARRAY)
		return post;
	jv_array_foreach(users, i, user) {
		const char *id = jv_get_kind(user) == JV_KIND_OBJECT ? cx_json_str(user, "id") : NULL;
		const char *name = id ? cx_json_str(user, "username") : NULL;

		if (name && strcmp(id, author) == 0) {
			post = jv_object_set(post, jv_string("author_username"), jv_string(name));
			jv_free(user);
			break;
		}
		jv_free(user);
		(void)i;
	}
	return post;
}

/* One request for a page: 0 and *body (a JSON object), 1 for a 429, or -1
 * with err. */
static int request_page(poll_run *p, const char *since_id, const char *until_id,
    const char *page_token, jv *body, cx_err *err)
{
	char *base = cx_x_api_base();
	char *esc = sync_escape(p->user_id), *path, *url, *token = NULL, size[24];
	const char *remaining;
	cx_http_request req = { 0 };
	cx_http_response resp;
	int rc;

	*body = jv_invalid();
	snprintf(size, sizeof size, "%ld", p->max_results);
	path = cx_xasprintf("%s/2/users/%s/mentions", base, esc);
	url = cx_http_url_with(path, "max_results", size, "since_id", since_id,
	    "until_id", until_id, "pagination_token", page_token, "tweet.fields",
	    "author_id,conversation_id,created_at", "expansions", "author_id",
	    "user.fields", "username", NULL);
	free(base);
	free(esc);
	free(path);
	if (cx_oauth_preset_token(p->s, &cx_x_oauth, p->workspace, &token, err) < 0) {
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
		return sync_transport_error(p->s, SOURCE, err);
	}
	if (resp.status == 429) {
		cx_err ignored;

		p->hold = reset_of(&resp);
		cx_sync_count_error(p->s, SOURCE, "429", &ignored);
		cx_http_response_free(&resp);
		return 1;
	}
	if (resp.status != 200) {
		sync_upstream_error(p->s, SOURCE, "mentions", &resp, NULL, err);
		cx_http_response_free(&resp);
		return -1;
	}
	remaining = cx_http_header(&resp, "x-rate-limit-remaining");
	if (valid_id(remaining) && strtoll(remaining, NULL, 10) == 0)
		p->hold = reset_of(&resp);
	*body = cx_http_json(&resp);
	cx_http_response_free(&resp);
	if (jv_get_kind(*body) != JV_KIND_OBJECT) {
		jv_free(*body);
		*body = jv_invalid();
		return cx_err_set(err, CX_EXIT_UNAVAILABLE, "mentions: the answer is not a JSON object");
	}
	return 0;
}

/* An answer's posts (body, consumed) into p->posts, *oldest lowered to its
 * oldest post; *next gets the next page's token or NULL. */
static void take_posts(poll_run *p, jv body, char **oldest, char **next)
{
	jv data = jv_object_get(jv_copy(body), jv_string("data"));
	jv users = jv_getpath(jv_copy(body), JV_ARRAY(jv_string("includes"), jv_string("users")));
	jv nt;

	if (jv_get_kind(data) == JV_KIND_ARRAY) {
		jv_array_foreach(data, i, post) {
			const char *id = jv_get_kind(post) == JV_KIND_OBJECT ?
			    cx_json_str(post, "id") : NULL;

			if (valid_id(id)) {
				post = with_username(post, users);
				if (!*oldest || id_cmp(id, *oldest) < 0) {
					free(*oldest);
					*oldest = cx_xstrdup(id);
				}
				p->posts = jv_array_append(p->posts, post);
			} else {
				jv_free(post);
			}
			(void)i;
		}
	}
	jv_free(data);
	jv_free(users);
	nt = jv_getpath(body, JV_ARRAY(jv_string("meta"), jv_string("next_token")));
	if (jv_get_kind(nt) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(nt)) > 0)
		*next = cx_xstrdup(jv_string_value(nt));
	jv_free(nt);
}

/* One page into p->posts, *oldest lowered to its oldest post; *next gets
 * the next page's token or NULL. 0, 1 for a 429, or -1 with err. */
static int fetch_page(poll_run *p, const char *since_id, const char *until_id,
    const char *page_token, char **oldest, char **next, cx_err *err)
{
	jv body;
	int rc;

	*next = NULL;
	rc = request_page(p, since_id, until_id, page_token, &body, err);
	if (rc == 0)
		take_posts(p, body, oldest, next);
	return rc;
}

/* Every page of the posts after since_id and before until_id (either may
 * be NULL). 0 when the last page came, 1 when X's rate limit cut the poll
 * short (*oldest: the oldest post it got, or NULL), -1 with err. */
static int poll(poll_run *p, const char *since_id, const char *until_id, char **oldest,
    cx_err *err)
{
	char *page_token = NULL;
	int rc = 0;

	*oldest = NULL;
	do {
		char *next = NULL;

		if (++p->pages > MAX_PAGES) {
			rc = cx_err_set(err, CX_EXIT_UNAVAILABLE, "mentions: more than %d pages",
			    MAX_PAGES);
			break;
		}
		rc = fetch_page(p, since_id, until_id, page_token, oldest, &next, err);
		free(page_token);
		page_token = next;
		if (rc == 0 && page_token && p->hold)
			rc = 1;    /* the next page would be a 429 */
		else if (rc == 0 && page_token && cx_sync_lease_renew(p->lease, err) < 0)
			rc = -1;
	} while (rc == 0 && page_token);
	free(page_token);
	return rc;
}

/* "gap:<since>:<until>" of a stored mode: 1 with *since ("" for none) and
 * *until, or 0. */
static int gap_of(const char *mode, char **since, char **until)
{
	const char *colon;

	*since = *until = NULL;
	if (!mode || strncmp(mode, GAP, strlen(GAP)) != 0)
		return 0;
	mode += strlen(GAP);
	colon = strchr(mode, ':');
	if (!colon || !valid_id(colon + 1))
		return 0;
	*since = cx_xstrndup(mode, (size_t)(colon - mode));
	*until = cx_xstrdup(colon + 1);
	return 1;
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
	data = set_if_string(data, "author_username", jv_object_get(jv_copy(post),
	    jv_string("author_username")));
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

/* Emits the run's posts oldest first, each once; *newest becomes the
 * newest of them and the cursor. */
static int emit(poll_run *p, const char *cursor, char **newest, int64_t *lines,
    cx_err *err)
{
	int64_t n = jv_array_length(jv_copy(p->posts));
	jv *all;
	sync_out out;

	*newest = cursor ? cx_xstrdup(cursor) : NULL;
	*lines = 0;
	if (n == 0)
		return 0;
	if (sync_out_init(&out, p->s, SOURCE, "x", p->user_id, NULL,
	    cursor ? "incremental" : "full", err) < 0)
		return -1;
	all = cx_xcalloc((size_t)n, sizeof *all);
	for (int64_t i = 0; i < n; i++)
		all[i] = jv_array_get(jv_copy(p->posts), (int)i);
	qsort(all, (size_t)n, sizeof *all, by_id);
	for (int64_t i = 0; i < n; i++) {
		const char *id = cx_json_str(all[i], "id");

		/* a page boundary may repeat a post */
		if (i == 0 || id_cmp(id, cx_json_str(all[i - 1], "id")) != 0)
			sync_out_item(mention(p->user_id, jv_copy(all[i])), &out);
		if (!*newest || id_cmp(id, *newest) > 0) {
			free(*newest);
			*newest = cx_xstrdup(id);
		}
	}
	for (int64_t i = 0; i < n; i++)
		jv_free(all[i]);
	free(all);
	*lines = out.lines;
	sync_out_free(&out);
	return sync_out_flush(err);
}

/* The lease on key and its cursor, unless X's rate limit still holds: 0,
 * or -1 with err. */
static int start_poll(poll_run *p, const char *key, cx_sync_cursor *cur, cx_err *err)
{
	int64_t ttl;
	int rc;

	if (sync_lease_ttl(&ttl, err) < 0)
		return -1;
	rc = cx_sync_lease_take(p->s, SOURCE, key, ttl, &p->lease, err);
	if (rc == 0)
		cx_err_set(err, CX_EXIT_TEMPFAIL, "a poll of the mentions of %s is already "
		    "running", p->workspace);
	if (rc <= 0 || cx_sync_cursor_get(p->s, SOURCE, key, cur, err) < 0)
		return -1;
	if (cur->not_before > cx_clock_now()) {
		char when[CX_RFC3339_LEN];

		cx_clock_rfc3339(cur->not_before, -1, when);
		return cx_err_set(err, CX_EXIT_TEMPFAIL, "rate limited by X until %s; not "
		    "asking before then", when);
	}
	return 0;
}

/* The gap a poll cut short left, then the posts since the cursor: 0 with
 * *cut set when X's rate limit cut the run short (*gap: what it left), or
 * -1 with err. */
static int poll_all(poll_run *p, const cx_sync_cursor *cur, int *cut, char **gap,
    cx_err *err)
{
	char *since = NULL, *until = NULL, *oldest = NULL;
	int rc = 0;

	*cut = 0;
	*gap = NULL;
	if (gap_of(cur->mode, &since, &until)) {
		/* the gap a poll cut short left: filled first */
		if ((*cut = poll(p, *since ? since : NULL, until, &oldest, err)) < 0)
			rc = -1;
		else if (*cut)
			*gap = cx_xasprintf(GAP "%s:%s", since, oldest ? oldest : until);
		free(oldest);
		oldest = NULL;
	}
	if (rc == 0 && !*cut && p->hold) {
		*cut = 1;    /* the gap took the last request X allows */
	} else if (rc == 0 && !*cut) {
		if ((*cut = poll(p, cur->cursor, NULL, &oldest, err)) < 0)
			rc = -1;
		else if (*cut && oldest)
			*gap = cx_xasprintf(GAP "%s:%s", cur->cursor ? cur->cursor : "", oldest);
	}
	free(since);
	free(until);
	free(oldest);
	return rc;
}

/* Emits the run's posts, then records the cursor, the gap and the counts
 * in one transaction while the lease holds: 0, or -1 with err. */
static int record(poll_run *p, const char *key, const cx_sync_cursor *cur,
    const char *gap, int64_t started, cx_err *err)
{
	char *newest = NULL;
	int64_t lines = 0;
	int rc = -1;

	if (emit(p, cur->cursor, &newest, &lines, err) < 0 || cx_store_begin(p->s, err) < 0)
		goto done;
	if (cx_sync_lease_check(p->lease, err) < 0 ||
	    cx_sync_cursor_put(p->s, SOURCE, key, newest, gap, cur->cursor == NULL, p->hold,
	    err) < 0 ||
	    cx_sync_count_run(p->s, SOURCE, cur->cursor == NULL, lines, 0, 0,
	    cx_clock_mono_ms() - started, err) < 0) {
		cx_store_rollback(p->s);
		goto done;
	}
	if (cx_store_commit(p->s, err) < 0)
		goto done;
	cx_log(CX_LOG_INFO, jv_object_set(jv_object_set(jv_object(), jv_string("created"),
	    jv_number((double)lines)), jv_string("pages"), jv_number(p->pages)),
	    "polled the mentions of %s", p->workspace);
	rc = 0;
done:
	free(newest);
	return rc;
}

int mentions_sync(cx_store *s, const char *workspace, long max_results, cx_err *err)
{
	char *user_id = NULL, *key = NULL, *gap = NULL;
	cx_sync_cursor cur = { 0 };
	poll_run p = { s, workspace, NULL, NULL, max_results, jv_array(), 0, 0 };
	int64_t started = cx_clock_mono_ms();
	int ok = 0, cut = 0;

	if (cx_oauth_list(s, cx_x_oauth.name, workspace, take_account, &user_id, err) < 0)
		goto done;
	if (!user_id || !valid_id(user_id)) {
		cx_err_set(err, CX_EXIT_CONFIG, "no X account is connected for workspace %s "
		    "(see cx-oauth authorize --provider x)", workspace);
		goto done;
	}
	p.user_id = user_id;
	key = cx_xasprintf("%s/%s", workspace, user_id);
	if (start_poll(&p, key, &cur, err) < 0 || poll_all(&p, &cur, &cut, &gap, err) < 0 ||
	    record(&p, key, &cur, gap, started, err) < 0)
		goto done;
	if (cut) {
		char when[CX_RFC3339_LEN];

		cx_clock_rfc3339(p.hold, -1, when);
		cx_err_set(err, CX_EXIT_TEMPFAIL, "rate limited by X until %s; the rest of the "
		    "mentions come after that", when);
		goto done;
	}
	ok = 1;
done:
	cx_sync_lease_release(p.lease);
	cx_sync_cursor_clear(&cur);
	jv_free(p.posts);
	free(gap);
	free(user_id);
	free(key);
	return ok ? 0 : -1;
}

/* ---- the source -------------------------------------------------------- */

static const cx_opt mentions_opts[] = {
	CX_SOURCE_OPT_CONFIG,
	CX_SOURCE_OPT_DB,
	{ "max-results", 0, CX_SOURCE_O_MAX_RESULTS, "N", "posts per page, 5 to 100 (default 100)" },
	{ "workspace", 'w', CX_SOURCE_O_WORKSPACE, "W", "whose X credential to use (required)" },
	CX_SOURCE_OPT_END,
};

static const cx_cmd cmd_mentions = { "cx-sync x-mentions",
	"--workspace W [--max-results N] [--db PATH]",
	"Poll the X account's mentions since the last one seen.", mentions_opts };

static const char *mentions_check(const cx_source_conf *c)
{
	return !c->workspace || !*c->workspace ? "--workspace W" : NULL;
}

static int mentions_run(cx_store *s, const cx_source_conf *c, cx_err *err)
{
	return mentions_sync(s, c->workspace, c->max_results > 0 ? c->max_results :
	    MAX_RESULTS_DEFAULT, err);
}

const cx_source x_mentions_source = {
	SOURCE, &cmd_mentions, NULL, mentions_check, mentions_run,
};
