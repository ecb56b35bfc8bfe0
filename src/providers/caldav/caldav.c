/* caldav.c: `cx-sync caldav`: a CalDAV collection into the mirror, with
 * the sync-collection REPORT (RFC 6578) from the stored sync token, in as
 * many rounds as the server truncates its answer into, or, for servers
 * without it (--listing; a collection whose DAV:supported-report-set lacks
 * it; a REPORT refused with 400, 405, 501 or a 403 precondition), a
 * calendar-query listing of ETags compared with the mirror. Changed
 * resources are fetched with calendar-multiget and their iCalendar parsed
 * by ics.c. Multistatus answers are read by multistatus.c. Also
 * `cx-sync ics`, the same parsing as a filter. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "caldav.h"
#include "calendar.h"
#include "clock.h"
#include "config.h"
#include "exit.h"
#include "http.h"
#include "ics.h"
#include "json.h"
#include "log.h"
#include "multistatus.h"
#include "ndjson.h"
#include "source.h"
#include "sync.h"
#include "url.h"
#include "xalloc.h"

#define SOURCE "caldav"
#define MULTIGET_BATCH 100
#define MAX_ROUNDS 1000
#define LISTING_MAX_BODY (64 * 1024 * 1024)
#define ICS_MAX (16 * 1024 * 1024)
#define MAX_REDIRECTS 5

/* ---- requests ---------------------------------------------------------- */

typedef struct {
	cx_store *s;
	char *url;           /* the collection, where a redirect moved it */
	const char *user;
	char *password;
	char *key;           /* the collection as given, without user info or query */
	char *origin;        /* scheme://host[:port] of url, for hrefs */
	char *path;          /* url's path */
	int refetch;         /* ETag listing: fetch every resource */
	int basic;           /* the server asked for Basic only: sent at once from then on */
	cx_sync_lease *lease;
	int64_t requests;
	cx_calendar_sync *cs;
	int64_t bad;         /* resources whose iCalendar did not parse */
} dav;

/* text with & < > escaped for XML. */
static char *xml_escape(const char *text)
{
	jv out = jv_string("");
	char *s;

	for (const char *p = text; *p; p++) {
		if (*p == '&')
			out = jv_string_append_str(out, "&amp;");
		else if (*p == '<')
			out = jv_string_append_str(out, "&lt;");
		else if (*p == '>')
			out = jv_string_append_str(out, "&gt;");
		else
			out = jv_string_append_buf(out, p, 1);
	}
	s = cx_xstrdup(jv_string_value(out));
	jv_free(out);
	return s;
}

/* scheme://host[:port] and the path of the collection URL. */
static void split_url(dav *d)
{
	char *plain = cx_url_for_log(d->url);
	const char *p = strstr(plain, "://");
	const char *slash = p ? strchr(p + 3, '/') : NULL;

	free(d->origin);
	free(d->path);
	if (!slash) {
		d->origin = cx_xstrdup(plain);
		d->path = cx_xstrdup("/");
	} else {
		d->origin = cx_xstrndup(plain, (size_t)(slash - plain));
		d->path = cx_xstrdup(slash);
	}
	free(plain);
}

/* A part of url (CURLUPART_...), "" when it has none; the port is the
 * scheme's when the URL names none. */
static char *url_part(const char *url, CURLUPart what)
{
	CURLU *u = curl_url();
	char *v = NULL, *out;

	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK)
		curl_url_get(u, what, &v, CURLU_DEFAULT_PORT);
	out = cx_xstrdup(v ? v : "");
	curl_free(v);
	curl_url_cleanup(u);
	return out;
}

/* Whether a and b have the same scheme, host and port. */
static int same_origin(const char *a, const char *b)
{
	static const CURLUPart parts[] = { CURLUPART_SCHEME, CURLUPART_HOST, CURLUPART_PORT };
	int same = 1;

	for (size_t i = 0; i < sizeof parts / sizeof *parts && same; i++) {
		char *x = url_part(a, parts[i]), *y = url_part(b, parts[i]);

		same = *x && strcasecmp(x, y) == 0;
		free(x);
		free(y);
	}
	return same;
}

/* A redirect (301, 302, 307, 308) of the collection: 1 when it is
 * followed (d->url is then its Location, on the same scheme, host and
 * port), 0 for another answer, -1 with err (69) for a Location on another
 * host: it is not asked, so the credentials never go there. */
static int redirected(dav *d, const cx_http_response *resp, cx_err *err)
{
	const char *loc = cx_http_header(resp, "location");
	CURLU *u;
	char *to = NULL, *where;
	int rc;

	if ((resp->status != 301 && resp->status != 302 && resp->status != 307 &&
	    resp->status != 308) || !loc)
		return 0;
	u = curl_url();
	/* a relative Location is resolved against the URL it answers */
	if (!u || curl_url_set(u, CURLUPART_URL, d->url, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_URL, loc, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &to, 0) != CURLUE_OK) {
		curl_url_cleanup(u);
		sync_upstream_error(d->s, SOURCE, "redirect", resp, NULL, err);
		return cx_err_set(err, CX_EXIT_UNAVAILABLE, "%s: HTTP %ld to a Location that "
		    "is not a URL", d->key, resp->status);
	}
	curl_url_cleanup(u);
	where = cx_url_for_log(to);
	if (!same_origin(d->key, to)) {
		sync_upstream_error(d->s, SOURCE, "redirect", resp, NULL, err);
		rc = cx_err_set(err, CX_EXIT_UNAVAILABLE, "%s redirects to %s, another host: "
		    "not followed", d->key, where);
	} else {
		cx_log(CX_LOG_INFO, jv_object_set(jv_object(), jv_string("status"),
		    jv_number((double)resp->status)), "%s redirects to %s", d->key, where);
		free(d->url);
		d->url = cx_xstrdup(to);
		split_url(d);
		rc = 1;
	}
	free(where);
	curl_free(to);
	return rc;
}

/* A WebDAV request on the collection, following its redirects on the same
 * host; -1 with err when no answer came. The credentials go with any
 * scheme the server asks for (Digest, Basic...), after its 401; when that
 * was Basic alone, later requests send them at once, saving the round
 * trip. */
static int dav_request(dav *d, const char *method, const char *depth, const char *xml,
    cx_http_response *resp, cx_err *err)
{
	char hdr[32];
	const char *headers[2] = { hdr, NULL };
	cx_http_request req = { 0 };
	int rc = 1;

	snprintf(hdr, sizeof hdr, "Depth: %s", depth);
	req.method = method;
	req.headers = headers;
	req.body = xml;
	req.body_len = strlen(xml);
	req.content_type = "application/xml; charset=utf-8";
	req.basic_user = d->user;
	req.basic_password = d->user ? d->password : NULL;
	req.max_body = LISTING_MAX_BODY;
	for (int hops = 0; rc == 1; hops++) {
		req.url = d->url;
		req.any_auth = !d->basic;
		d->requests++;
		if (cx_http_do(&req, resp, err) < 0) {
			cx_http_response_free(resp);
			return sync_transport_error(d->s, SOURCE, err);
		}
		d->basic |= resp->auth_offered == CURLAUTH_BASIC;
		rc = redirected(d, resp, err);
		if (rc == 1 && hops == MAX_REDIRECTS)
			rc = cx_err_set(err, CX_EXIT_UNAVAILABLE, "%s: more than %d redirects",
			    d->key, MAX_REDIRECTS);
		if (rc != 0)
			cx_http_response_free(resp);
	}
	return rc;
}

/* An answer that is no WebDAV multistatus: 69 when the URL is no CalDAV
 * collection at all (a plain web server: 2xx, 400, 405, 501), else what
 * the status says. */
static int dav_error(dav *d, const char *what, const cx_http_response *resp, cx_err *err)
{
	long st = resp->status;

	if (st / 100 == 2 || st == 400 || st == 405 || st == 501) {
		sync_upstream_error(d->s, SOURCE, what, resp, NULL, err);
		return cx_err_set(err, CX_EXIT_UNAVAILABLE, "%s is not a CalDAV collection "
		    "(%s: HTTP %ld)", d->key, what, st);
	}
	return sync_upstream_error(d->s, SOURCE, what, resp, NULL, err);
}

/* What a refused sync-collection REPORT means (with_token: it carried a
 * token). */
enum { SYNC_TOKEN_REFUSED = 1, SYNC_UNSUPPORTED };

/* SYNC_TOKEN_REFUSED for DAV:valid-sync-token on a token (RFC 6578 §3.2):
 * the token is too old, the report works; for a 500 to a token, too
 * (xandikos fails so on a token it does not know): the caller asks once
 * more without one. SYNC_UNSUPPORTED for a server
 * without the report: DAV:supported-report (RFC 3253 §3.6), or
 * DAV:valid-sync-token on the empty token every server must accept, or
 * 400, 405, 501. 0 for anything else: a real failure. */
static int sync_refusal(dav *d, const cx_http_response *resp, int with_token)
{
	long st = resp->status;
	int token_error = strstr(resp->body, "valid-sync-token") != NULL;
	cx_err ignored;

	if ((st == 403 || st == 409) && token_error && with_token) {
		char status[16];

		snprintf(status, sizeof status, "%ld", st);
		cx_sync_count_error(d->s, SOURCE, status, &ignored);
		cx_log(CX_LOG_WARN, jv_object_set(jv_object_set(jv_object(), jv_string("error_code"),
		    jv_string("sync_token_refused")), jv_string("upstream_status"), jv_number((double)st)),
		    "the server refused the sync token of %s: full resync", d->key);
		return SYNC_TOKEN_REFUSED;
	}
	if (st == 500 && with_token) {
		cx_sync_count_error(d->s, SOURCE, "500", &ignored);
		cx_log(CX_LOG_WARN, jv_object_set(jv_object_set(jv_object(), jv_string("error_code"),
		    jv_string("sync_token_failed")), jv_string("upstream_status"), jv_number(500)),
		    "the server failed on the sync token of %s (HTTP 500): full resync", d->key);
		return SYNC_TOKEN_REFUSED;
	}
	if ((st == 403 && (token_error || strstr(resp->body, "supported-report"))) ||
	    st == 400 || st == 405 || st == 501) {
		cx_log(CX_LOG_WARN, jv_object_set(jv_object_set(jv_object(), jv_string("error_code"),
		    jv_string("no_sync_collection")), jv_string("upstream_status"), jv_number((double)st)),
		    "%s does not answer sync-collection (HTTP %ld): listing ETags instead", d->key, st);
		return SYNC_UNSUPPORTED;
	}
	return 0;
}

/* A REPORT (what: its name) on the collection: 0 and *m for a 207, then
 * the lease is renewed; -1 with err for another answer. A sync-collection
 * REPORT passes the token it sent as from: its refusals give
 * SYNC_TOKEN_REFUSED or SYNC_UNSUPPORTED instead. */
static int report(dav *d, const char *what, const char *xml, const char *from,
    multistatus *m, cx_err *err)
{
	cx_http_response resp;
	int rc;

	if (dav_request(d, "REPORT", from ? "0" : "1", xml, &resp, err) < 0)
		return -1;
	if (resp.status == 207) {
		rc = multistatus_parse(resp.body, resp.len, m, err);
		if (rc == 0 && cx_sync_lease_renew(d->lease, err) < 0) {
			multistatus_free(m);
			rc = -1;
		}
	} else if (!from || (rc = sync_refusal(d, &resp, *from != '\0')) == 0) {
		rc = dav_error(d, what, &resp, err);
	}
	cx_http_response_free(&resp);
	return rc;
}

/* Adds one fetched resource to the session: its events, or, when its
 * iCalendar does not parse, a warning (the mirror keeps what it had). */
static int add_resource(dav *d, const char *href, const char *etag, const char *ics,
    cx_err *err)
{
	jv events;
	int skipped;
	cx_err perr = { 0, "" };

	cx_progress_step(&sync_progress);
	if (cx_ics_events(ics, strlen(ics), etag, &events, &skipped, &perr) < 0) {
		cx_log(CX_LOG_WARN, jv_object_set(jv_object(), jv_string("error_code"),
		    jv_string("invalid_ics")), "%s: %s; skipped", href, perr.msg);
		d->bad++;
		return cx_calendar_sync_keep(d->cs, href, err);
	}
	if (skipped) {
		cx_log(CX_LOG_WARN, jv_object_set(jv_object(), jv_string("error_code"),
		    jv_string("invalid_ics")), "%s: %d events without UID skipped", href, skipped);
		d->bad++;
	}
	return cx_calendar_sync_resource(d->cs, href, events, err);
}

/* The responses of a multistatus in href order, so that a run's events
 * come out in an order of their own, whatever order the server used. */
static jv by_href(jv responses)
{
	jv keys = jv_array();

	jv_array_foreach(responses, i, r) {
		keys = jv_array_append(keys, jv_object_get(r, jv_string("href")));
		(void)i;
	}
	return jv_sort(responses, keys);
}

/* Fetches resources (an array of hrefs) with calendar-multiget, in batches
 * and in href order, into the session: a 404 deletes the resource's events.
 * Those the server neither sends nor says are gone stay as the mirror has
 * them, and are appended to *unanswered when it is not NULL. */
static int multiget(dav *d, jv hrefs, jv *unanswered, cx_err *err)
{
	int n = jv_array_length(jv_copy(hrefs)), rc = 0;

	hrefs = jv_sort(hrefs, jv_copy(hrefs));

	for (int at = 0; at < n && rc == 0; at += MULTIGET_BATCH) {
		jv xml = jv_string("<?xml version=\"1.0\" encoding=\"utf-8\"?>"
		    "<c:calendar-multiget xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:caldav\">"
		    "<d:prop><d:getetag/><c:calendar-data/></d:prop>");
		jv asked = jv_object();
		multistatus m;

		for (int i = at; i < n && i < at + MULTIGET_BATCH; i++) {
			jv h = jv_array_get(jv_copy(hrefs), i);
			char *e = xml_escape(jv_string_value(h));

			xml = jv_string_append_str(xml, "<d:href>");
			xml = jv_string_append_str(xml, e);
			xml = jv_string_append_str(xml, "</d:href>");
			asked = jv_object_set(asked, h, jv_true());
			free(e);
		}
		xml = jv_string_append_str(xml, "</c:calendar-multiget>");
		rc = report(d, "calendar-multiget", jv_string_value(xml), NULL, &m, err);
		jv_free(xml);
		if (rc < 0) {
			jv_free(asked);
			break;
		}
		m.responses = by_href(m.responses);
		jv_array_foreach(m.responses, i, r) {
			const char *href = cx_json_str(r, "href");
			const char *data = cx_json_str(r, "data");
			jv st = jv_object_get(jv_copy(r), jv_string("status"));
			long code = jv_get_kind(st) == JV_KIND_NUMBER ? (long)jv_number_value(st) : 0;

			jv_free(st);
			if (rc == 0 && href && (code == 404 || (code == 200 && data)) &&
			    jv_object_has(jv_copy(asked), jv_string(href))) {
				asked = jv_object_delete(asked, jv_string(href));
				rc = code == 404 ? cx_calendar_sync_resource(d->cs, href, jv_array(), err) :
				    add_resource(d, href, cx_json_str(r, "etag"), data, err);
			}
			jv_free(r);
			(void)i;
		}
		/* what the server did not send stays as the mirror has it */
		jv_object_foreach(asked, href, v) {
			if (rc == 0)
				rc = cx_calendar_sync_keep(d->cs, jv_string_value(href), err);
			if (unanswered)
				*unanswered = jv_array_append(*unanswered, jv_copy(href));
			jv_free(href);
			jv_free(v);
		}
		jv_free(asked);
		multistatus_free(&m);
	}
	jv_free(hrefs);
	return rc;
}

/* Whether a response names the collection itself (not a resource in it). */
static int is_collection(dav *d, const char *href)
{
	size_t n = strlen(d->path);

	while (n > 0 && d->path[n - 1] == '/')
		n--;
	if (strncmp(href, d->origin, strlen(d->origin)) == 0)
		href += strlen(d->origin);
	return strncmp(href, d->path, n) == 0 && (href[n] == '\0' ||
	    (href[n] == '/' && href[n + 1] == '\0'));
}

/* sync-collection from token ("" for everything) into the session, in as
 * many rounds as the server needs: an answer whose response for the
 * collection itself is 507 is truncated (RFC 6578 §3.6), and the next
 * round asks again from the token it gave. *next gets the last token. 0,
 * SYNC_TOKEN_REFUSED, SYNC_UNSUPPORTED, or -1 with err. */
static int sync_collection(dav *d, const char *token, char **next, cx_err *err)
{
	char *cur = cx_xstrdup(token);
	int rc = 0, more = 1;

	*next = NULL;
	for (int round = 0; rc == 0 && more; round++) {
		char *tok, *xml;
		multistatus m;
		jv fetch;

		if (round >= MAX_ROUNDS) {
			rc = cx_err_set(err, CX_EXIT_UNAVAILABLE, "sync-collection: more than %d "
			    "rounds", MAX_ROUNDS);
			break;
		}
		tok = xml_escape(cur);
		xml = cx_xasprintf("<?xml version=\"1.0\" encoding=\"utf-8\"?>"
		    "<d:sync-collection xmlns:d=\"DAV:\"><d:sync-token>%s</d:sync-token>"
		    "<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop>"
		    "</d:sync-collection>", tok);
		free(tok);
		rc = report(d, "sync-collection", xml, cur, &m, err);
		free(xml);
		if (rc != 0)
			break;
		more = 0;
		fetch = jv_array();
		m.responses = by_href(m.responses);
		jv_array_foreach(m.responses, i, r) {
			const char *href = cx_json_str(r, "href");
			jv st = jv_object_get(jv_copy(r), jv_string("status"));
			long code = jv_get_kind(st) == JV_KIND_NUMBER ? (long)jv_number_value(st) : 0;

			jv_free(st);
			if (rc == 0 && is_collection(d, href)) {
				more = code == 507;    /* truncated: ask again from the new token */
			} else if (rc == 0 && code == 404) {
				rc = cx_calendar_sync_resource(d->cs, href, jv_array(), err);
			} else if (rc == 0 && code == 200) {
				fetch = jv_array_append(fetch, jv_string(href));
			}
			jv_free(r);
			(void)i;
		}
		if (rc == 0)
			rc = multiget(d, fetch, NULL, err);
		else
			jv_free(fetch);
		if (rc == 0 && !m.sync_token)
			rc = cx_err_set(err, CX_EXIT_UNAVAILABLE, "sync-collection: no sync-token "
			    "in the answer");
		else if (rc == 0 && more && strcmp(m.sync_token, cur) == 0)
			rc = cx_err_set(err, CX_EXIT_UNAVAILABLE, "sync-collection: a truncated "
			    "answer gave back the sync-token it was asked with");
		if (rc == 0) {
			free(cur);
			cur = cx_xstrdup(m.sync_token);
		}
		multistatus_free(&m);
	}
	if (rc == 0)
		*next = cur;
	else
		free(cur);
	return rc;
}

/* Whether the collection lists sync-collection in its
 * DAV:supported-report-set, as RFC 6578 §3 asks of servers that have it:
 * 0 when it lists WebDAV or CalDAV reports without it, 1 when it lists it
 * or does not say (no such set, or none of those reports in it: the
 * REPORT tells then), -1 with err when no answer came. */
static int advertises_sync(dav *d, cx_err *err)
{
	static const char propfind[] = "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
	    "<d:propfind xmlns:d=\"DAV:\"><d:prop><d:supported-report-set/></d:prop>"
	    "</d:propfind>";
	cx_http_response resp;
	cx_err ignored;
	multistatus m;
	int rc = 1;

	if (dav_request(d, "PROPFIND", "0", propfind, &resp, err) < 0)
		return -1;
	if (resp.status == 207 && multistatus_parse(resp.body, resp.len, &m, &ignored) == 0) {
		jv_array_foreach(m.responses, i, r) {
			jv reports = jv_object_get(jv_copy(r), jv_string("reports"));

			if (jv_get_kind(reports) == JV_KIND_ARRAY && is_collection(d,
			    cx_json_str(r, "href"))) {
				int known = 0, sync = 0;

				jv_array_foreach(reports, j, name) {
					const char *n = jv_string_value(name);

					known += strncmp(n, NS_DAV, strlen(NS_DAV)) == 0 ||
					    strncmp(n, NS_CALDAV, strlen(NS_CALDAV)) == 0;
					sync |= strcmp(n, NS_DAV "sync-collection") == 0;
					jv_free(name);
					(void)j;
				}
				rc = sync || !known;
			}
			jv_free(reports);
			jv_free(r);
			(void)i;
		}
		multistatus_free(&m);
	}
	cx_http_response_free(&resp);
	if (rc == 0)
		cx_log(CX_LOG_WARN, jv_object_set(jv_object(), jv_string("error_code"),
		    jv_string("no_sync_collection")), "%s does not list sync-collection among "
		    "its reports: listing ETags instead", d->key);
	return rc;
}

typedef struct {
	jv listed;           /* href -> etag, from the server */
	jv fetch;            /* hrefs to fetch */
	int all;             /* fetch every listed resource */
} etag_diff;

/* A mirrored resource the listing lacks is fetched too: a calendar-query
 * leaves out what the server cannot filter (its own parser's failures),
 * so only the server's word that it is gone deletes it. */
static void compare_mirrored(const char *href, const char *etag, void *ctx)
{
	etag_diff *x = ctx;
	jv now = jv_object_get(jv_copy(x->listed), jv_string(href));

	if (jv_get_kind(now) != JV_KIND_STRING || x->all || !etag ||
	    strcmp(etag, jv_string_value(now)) != 0)
		x->fetch = jv_array_append(x->fetch, jv_string(href));
	x->listed = jv_object_delete(x->listed, jv_string(href));
	jv_free(now);
}

/* href without the collection's origin, as a key to compare hrefs by. */
static const char *href_path(dav *d, const char *href)
{
	size_t n = strlen(d->origin);

	return strncmp(href, d->origin, n) == 0 ? href + n : href;
}

/* Resources (hrefs) a multiget neither sent nor called gone: the members
 * of the collection (a Depth: 1 PROPFIND) keep their events, the others
 * are deleted. */
static int confirm_members(dav *d, jv hrefs, cx_err *err)
{
	static const char propfind[] = "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
	    "<d:propfind xmlns:d=\"DAV:\"><d:prop><d:getetag/></d:prop></d:propfind>";
	cx_http_response resp;
	multistatus m;
	jv members = jv_object();
	int rc = 0;

	if (jv_array_length(jv_copy(hrefs)) == 0 ||
	    (rc = dav_request(d, "PROPFIND", "1", propfind, &resp, err)) < 0) {
		jv_free(hrefs);
		jv_free(members);
		return rc;
	}
	if (resp.status != 207)
		rc = dav_error(d, "PROPFIND", &resp, err);
	else if ((rc = multistatus_parse(resp.body, resp.len, &m, err)) == 0) {
		jv_array_foreach(m.responses, i, r) {
			members = jv_object_set(members, jv_string(href_path(d,
			    cx_json_str(r, "href"))), jv_true());
			jv_free(r);
			(void)i;
		}
		multistatus_free(&m);
	}
	cx_http_response_free(&resp);
	jv_array_foreach(hrefs, i, h) {
		const char *href = jv_string_value(h);

		if (rc == 0 && !jv_object_has(jv_copy(members), jv_string(href_path(d, href))))
			rc = cx_calendar_sync_resource(d->cs, href, jv_array(), err);
		jv_free(h);
		(void)i;
	}
	jv_free(hrefs);
	jv_free(members);
	return rc;
}

/* The ETag listing: calendar-query for every VEVENT resource's ETag,
 * compared with the mirror; changed, new and unlisted mirrored resources
 * are fetched. A resource is deleted on the server's word only: a 404 to
 * the multiget, or no longer a member of the collection. */
static int etag_listing(dav *d, cx_err *err)
{
	static const char query[] = "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
	    "<c:calendar-query xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:caldav\">"
	    "<d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name=\"VCALENDAR\">"
	    "<c:comp-filter name=\"VEVENT\"/></c:comp-filter></c:filter></c:calendar-query>";
	etag_diff x = { jv_object(), jv_array(), d->refetch };
	jv unanswered = jv_array();
	multistatus m;
	int rc = report(d, "calendar-query", query, NULL, &m, err);

	if (rc == 0) {
		jv_array_foreach(m.responses, i, r) {
			const char *href = cx_json_str(r, "href");
			const char *etag = cx_json_str(r, "etag");

			if (href && etag && !is_collection(d, href))
				x.listed = jv_object_set(x.listed, jv_string(href), jv_string(etag));
			jv_free(r);
			(void)i;
		}
		multistatus_free(&m);
		rc = cx_calendar_mirror_hrefs(d->s, SOURCE, d->key,
		    compare_mirrored, &x, err);
	}
	if (rc == 0) {
		/* what is left is new */
		jv_object_foreach(x.listed, href, etag) {
			x.fetch = jv_array_append(x.fetch, href);
			jv_free(etag);
		}
		rc = multiget(d, x.fetch, &unanswered, err);
		x.fetch = jv_array();
	}
	if (rc == 0) {
		rc = confirm_members(d, unanswered, err);
		unanswered = jv_array();
	}
	jv_free(x.listed);
	jv_free(x.fetch);
	jv_free(unanswered);
	return rc;
}

static void dav_free(dav *d)
{
	cx_secret_free(d->password);
	free(d->url);
	free(d->key);
	free(d->origin);
	free(d->path);
	cx_calendar_sync_free(d->cs);
	cx_sync_lease_release(d->lease);
}

/* sync-collection from the stored token (from: "" for everything) into
 * a new session; a refused token starts over from "". 0 and *token,
 * SYNC_UNSUPPORTED when the server lacks the report, -1 with err. */
static int collection_run(dav *d, const char *from, char **token, cx_err *err)
{
	int rc;

	if (*from == '\0' && (rc = advertises_sync(d, err)) <= 0)
		return rc < 0 ? -1 : SYNC_UNSUPPORTED;
	if (cx_calendar_sync_begin(d->s, SOURCE, d->key, d->key, *from == '\0', &d->cs,
	    err) < 0)
		return -1;
	rc = sync_collection(d, from, token, err);
	if (rc == SYNC_TOKEN_REFUSED) {
		if (cx_calendar_sync_restart(d->cs, err) < 0)
			return -1;
		rc = sync_collection(d, "", token, err);
	}
	return rc;
}

/* The run itself, once the lease is held: *mode gets how the collection
 * was listed, *token the new sync token (sync-collection). */
static int listing_run(dav *d, const cx_sync_cursor *cur, int full, int listing,
    const char **mode, char **token, cx_err *err)
{
	*token = NULL;
	if (!listing && (full || !cur->mode || strcmp(cur->mode, "etag") != 0)) {
		int rc = collection_run(d, full || !cur->cursor ? "" : cur->cursor, token, err);

		*mode = "sync-collection";
		if (rc != SYNC_UNSUPPORTED)
			return rc;
		cx_calendar_sync_free(d->cs);
		d->cs = NULL;
	}
	*mode = "etag";
	/* a first listing, or --full, fetches everything: a complete listing */
	d->refetch = full || !cur->mode;
	if (cx_calendar_sync_begin(d->s, SOURCE, d->key, d->key, d->refetch, &d->cs,
	    err) < 0)
		return -1;
	return etag_listing(d, err);
}

int caldav_sync(cx_store *s, const char *url, const char *user, int full,
    int listing, cx_err *err)
{
	dav d = { .s = s, .url = cx_xstrdup(url), .user = user, .key = cx_url_for_log(url) };
	cx_sync_cursor cur = { 0 };
	const char *mode = NULL;
	char *token = NULL;
	int64_t ttl, started = cx_clock_mono_ms();
	int rc = 0;

	split_url(&d);
	if (user && (rc = cx_secret_get("CX_CALDAV_PASSWORD", &d.password, err)) == 0)
		rc = cx_err_set(err, CX_EXIT_CONFIG,
		    "CX_CALDAV_PASSWORD (or CX_CALDAV_PASSWORD_FILE) is not set");
	if (rc >= 0 && sync_lease_ttl(&ttl, err) < 0)
		rc = -1;
	if (rc >= 0) {
		rc = cx_sync_lease_take(s, SOURCE, d.key, ttl, &d.lease, err);
		if (rc == 0)
			rc = cx_err_set(err, CX_EXIT_TEMPFAIL, "a sync of %s is already running",
			    d.key);
	}
	if (rc >= 0)
		rc = cx_sync_cursor_get(s, SOURCE, d.key, &cur, err);
	if (rc >= 0)
		rc = listing_run(&d, &cur, full, listing, &mode, &token, err);
	if (rc >= 0)
		rc = sync_calendar_finish(s, SOURCE, d.lease, d.cs, d.key, d.key, token, mode,
		    NULL, started, d.requests, err);
	if (rc >= 0 && d.bad)
		rc = cx_err_set(err, CX_EXIT_SOME_FAILED, "%lld resources of %s could not be "
		    "read", (long long)d.bad, d.key);
	cx_sync_cursor_clear(&cur);
	free(token);
	dav_free(&d);
	return rc < 0 ? -1 : 0;
}

/* ---- ics --------------------------------------------------------------- */

/* A whole file (or stdin for "-"), at most ICS_MAX bytes. */
static char *slurp(const char *path, size_t *len, cx_err *err)
{
	int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = 65536;
	char *buf;
	ssize_t n;

	*len = 0;
	if (fd < 0) {
		cx_err_set(err, CX_EXIT_DATAERR, "%s: %s", path, strerror(errno));
		return NULL;
	}
	buf = cx_xmalloc(cap + 1);
	while ((n = read(fd, buf + *len, cap - *len)) > 0) {
		*len += (size_t)n;
		if (*len == cap) {
			if (cap >= ICS_MAX) {
				cx_err_set(err, CX_EXIT_DATAERR, "%s: larger than %d bytes", path,
				    ICS_MAX);
				n = -2;
				break;
			}
			cap *= 2;
			buf = cx_xrealloc(buf, cap + 1);
		}
	}
	if (n == -1)
		cx_err_set(err, CX_EXIT_DATAERR, "%s: %s", path, strerror(errno));
	if (fd != 0)
		close(fd);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	buf[*len] = '\0';
	return buf;
}

int caldav_ics(const char *path, int64_t *events, cx_err *err)
{
	size_t len;
	char *text = slurp(path, &len, err);
	jv list;
	int skipped, rc;

	if (!text)
		return -1;
	rc = cx_ics_events(text, len, NULL, &list, &skipped, err);
	free(text);
	if (rc < 0) {
		/* name the file, not the content */
		char msg[sizeof err->msg];

		memcpy(msg, err->msg, sizeof msg);
		return cx_err_set(err, CX_EXIT_DATAERR, "%.200s: %.300s", path, msg);
	}
	jv_array_foreach(list, i, e) {
		cx_ndjson_write(e);
		(*events)++;
		(void)i;
	}
	jv_free(list);
	if (skipped)
		return cx_err_set(err, CX_EXIT_DATAERR, "%s: %d events without UID skipped",
		    path, skipped);
	return 0;
}

/* ---- the source -------------------------------------------------------- */

static const cx_opt caldav_opts[] = {
	CX_SOURCE_OPT_CONFIG,
	CX_SOURCE_OPT_DB,
	{ "full", 0, CX_SOURCE_O_FULL, NULL, "fetch every resource again instead of the changes since the last run" },
	{ "listing", 0, CX_SOURCE_O_LISTING, NULL, "compare ETags of a calendar-query listing instead of sync-collection" },
	CX_SOURCE_OPT_NO_PROGRESS,
	{ "url", 0, CX_SOURCE_O_URL, "URL", "the calendar collection (required)" },
	{ "user", 'u', CX_SOURCE_O_USER, "U", "HTTP user (Basic, Digest...); the password is CX_CALDAV_PASSWORD" },
	CX_SOURCE_OPT_END,
};

static const cx_cmd cmd_caldav = { "cx-sync caldav",
	"--url URL [--user U] [--full] [--listing] [--no-progress] [--db PATH]",
	"Mirror a CalDAV calendar collection (sync-collection, or an ETag listing).",
	caldav_opts };

/* Whether an http(s) URL carries user information (user:password@host): a
 * password in argv, where every process can read it. */
static int has_userinfo(const char *url)
{
	const char *authority = strstr(url, "://") + 3;

	return memchr(authority, '@', strcspn(authority, "/?#")) != NULL;
}

static const char *caldav_check(const cx_source_conf *c)
{
	if (!c->url || (strncmp(c->url, "http://", 7) != 0 &&
	    strncmp(c->url, "https://", 8) != 0))
		return "--url with an http(s) URL";
	if (has_userinfo(c->url))
		return "--url without user information (--user U, and the password in "
		    "CX_CALDAV_PASSWORD)";
	return NULL;
}

static int caldav_run(cx_store *s, const cx_source_conf *c, cx_err *err)
{
	return caldav_sync(s, c->url, c->user, c->full, c->listing, err);
}

const cx_source caldav_source = {
	SOURCE, &cmd_caldav, "resources", caldav_check, caldav_run,
};
