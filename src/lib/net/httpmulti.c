/* httpmulti.c: one easy handle per transfer on a shared multi handle. The
 * easy handles are set up the way http.c sets up its own (same limits,
 * same timeouts, no redirects, http and https only), with the strings
 * copied into the transfer. A finished transfer's handle is reset and kept
 * for the next one: a new handle costs some 150 KiB of buffers, allocated
 * and given back to the system on every request otherwise. */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "clock.h"
#include "crypto.h"
#include "exit.h"
#include "httpmulti.h"
#include "url.h"
#include "xalloc.h"

#define IDLE_MAX 64

typedef struct transfer {
	CURL *h;
	struct curl_slist *headers, *rcpt;
	char *method, *url_for_log, *auth;
	cx_http_request req;        /* what finish needs of it: mail_from */
	cx_http_upload upload;      /* SMTP: the message, a copy */
	cx_http_sink body;          /* the response body so far */
	int64_t start;
	char errbuf[CURL_ERROR_SIZE];
	void *tag;
	struct transfer *prev, *next;
} transfer;

struct cx_httpmulti {
	CURLM *multi;
	transfer *head;
	size_t pending;
	CURL *idle[IDLE_MAX];       /* handles of finished transfers, reset */
	size_t nidle;
};

cx_httpmulti *cx_httpmulti_new(long max_per_host)
{
	cx_httpmulti *m = cx_xcalloc(1, sizeof *m);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	m->multi = curl_multi_init();
	if (!m->multi) {
		free(m);
		return NULL;
	}
	if (max_per_host > 0)
		curl_multi_setopt(m->multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_per_host);
	curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS, 512L);
	return m;
}

static void transfer_free(cx_httpmulti *m, transfer *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		m->head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	curl_multi_remove_handle(m->multi, t->h);
	if (m->nidle < IDLE_MAX) {
		curl_easy_reset(t->h);
		m->idle[m->nidle++] = t->h;
	} else {
		curl_easy_cleanup(t->h);
	}
	/* curl's copies of the headers hold the token too */
	for (struct curl_slist *h = t->headers; h; h = h->next)
		cx_crypto_wipe(h->data, strlen(h->data));
	curl_slist_free_all(t->headers);
	curl_slist_free_all(t->rcpt);
	free((char *)t->upload.data);
	if (t->auth) {
		cx_crypto_wipe(t->auth, strlen(t->auth));
		free(t->auth);
	}
	if (t->body.buf) {
		cx_crypto_wipe(t->body.buf, t->body.cap);
		free(t->body.buf);
	}
	free(t->method);
	free(t->url_for_log);
	free(t);
	m->pending--;
}

void cx_httpmulti_free(cx_httpmulti *m)
{
	if (!m)
		return;
	while (m->head)
		transfer_free(m, m->head);
	while (m->nidle > 0)
		curl_easy_cleanup(m->idle[--m->nidle]);
	curl_multi_cleanup(m->multi);
	free(m);
}

size_t cx_httpmulti_pending(const cx_httpmulti *m)
{
	return m->pending;
}

int cx_httpmulti_add(cx_httpmulti *m, const cx_http_request *req, void *tag,
    cx_err *err)
{
	const char *method = req->method ? req->method : req->body ? "POST" : "GET";
	long timeout;
	transfer *t;

	if (cx_http_timeout_ms(req, &timeout, err) < 0)
		return -1;
	t = cx_xcalloc(1, sizeof *t);
	if (!(t->h = m->nidle > 0 ? m->idle[--m->nidle] : curl_easy_init())) {
		free(t);
		return cx_err_set(err, CX_EXIT_TEMPFAIL, "cannot start an HTTP request");
	}
	t->tag = tag;
	t->method = cx_xstrdup(method);
	t->url_for_log = cx_url_for_log(req->url);
	t->start = cx_clock_mono_ms();
	cx_http_easy_prepare(t->h, req, method, timeout, &t->body, t->errbuf);
	curl_easy_setopt(t->h, CURLOPT_PRIVATE, t);
	t->req.mail_from = req->mail_from ? "" : NULL;
	if (req->mail_from) {
		char *copy = cx_xmalloc(req->body_len + 1);

		memcpy(copy, req->body ? req->body : "", req->body_len);
		t->upload = (cx_http_upload){ copy, req->body_len, 0 };
		cx_http_easy_mail(t->h, req, &t->upload, &t->rcpt);
	} else if (req->body) {
		curl_easy_setopt(t->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		curl_easy_setopt(t->h, CURLOPT_COPYPOSTFIELDS, req->body);
	}
	t->headers = req->mail_from ? NULL : cx_http_header_list(req);
	if (req->bearer) {
		/* a header of our own, so the token is in one buffer we wipe */
		t->auth = cx_xasprintf("Authorization: Bearer %s", req->bearer);
		t->headers = curl_slist_append(t->headers, t->auth);
	}
	curl_easy_setopt(t->h, CURLOPT_HTTPHEADER, t->headers);
	cx_http_easy_auth(t->h, req);
	if (curl_multi_add_handle(m->multi, t->h) != CURLM_OK) {
		curl_easy_cleanup(t->h);
		curl_slist_free_all(t->headers);
		curl_slist_free_all(t->rcpt);
		free((char *)t->upload.data);
		free(t->auth);
		free(t->method);
		free(t->url_for_log);
		free(t);
		return cx_err_set(err, CX_EXIT_TEMPFAIL, "cannot start an HTTP request");
	}
	t->next = m->head;
	if (m->head)
		m->head->prev = t;
	m->head = t;
	m->pending++;
	return 0;
}

/* Hands a finished transfer to done() and frees it. */
static void finish(cx_httpmulti *m, transfer *t, CURLcode rc, cx_httpmulti_done done,
    void *ctx)
{
	cx_http_response resp;
	cx_err err = { 0, "" };
	void *tag;

	memset(&resp, 0, sizeof resp);
	resp.headers = jv_object();
	resp.latency_ms = cx_clock_mono_ms() - t->start;
	resp.body = t->body.buf ? t->body.buf : cx_xstrdup("");
	resp.len = t->body.len;
	t->body.buf = NULL;
	if (rc == CURLE_OK) {
		curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &resp.status);
		cx_http_collect_headers(t->h, &resp);
	} else {
		resp.sent = cx_http_was_sent(t->h, rc, &t->req);
		if (t->req.mail_from)
			curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &resp.status);
		if (t->body.too_big)
			cx_err_set(&err, CX_EXIT_TEMPFAIL, "%s %s: response body over %zu bytes",
			    t->method, t->url_for_log, t->body.max);
		else
			cx_err_set(&err, CX_EXIT_TEMPFAIL, "%s %s: %s", t->method, t->url_for_log,
			    t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc));
	}
	tag = t->tag;
	transfer_free(m, t);
	done(tag, rc == CURLE_OK ? 0 : -1, &resp, &err, ctx);
}

int cx_httpmulti_run(cx_httpmulti *m, int timeout_ms, cx_httpmulti_done done,
    void *ctx, cx_err *err)
{
	int running = 0, left, finished = 0;
	CURLMsg *msg;
	CURLMcode mc;

	mc = curl_multi_perform(m->multi, &running);
	/* with none added, it waits for a wakeup (work done on other threads) */
	if (mc == CURLM_OK && timeout_ms > 0 && (running > 0 || cx_httpmulti_pending(m) == 0))
		mc = curl_multi_poll(m->multi, NULL, 0, timeout_ms, NULL);
	if (mc == CURLM_OK)
		mc = curl_multi_perform(m->multi, &running);
	if (mc != CURLM_OK)
		return cx_err_set(err, CX_EXIT_TEMPFAIL, "HTTP: %s", curl_multi_strerror(mc));
	while ((msg = curl_multi_info_read(m->multi, &left))) {
		transfer *t = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
		finish(m, t, msg->data.result, done, ctx);
		finished++;
	}
	return finished;
}

void cx_httpmulti_wakeup(cx_httpmulti *m)
{
	curl_multi_wakeup(m->multi);
}
