/* http.c: one libcurl easy handle per request; headers read back with
 * curl_easy_nextheader, encoding with curl's own escaping. */
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "exit.h"
#include "http.h"
#include "url.h"
#include "xalloc.h"

#ifndef CX_VERSION
#define CX_VERSION "0.0.0"
#endif

#define DEFAULT_MAX_BODY (8 * 1024 * 1024)
#define CONNECT_TIMEOUT_MS 10000

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

size_t cx_http_sink_write(char *data, size_t size, size_t n, void *ctx)
{
	cx_http_sink *s = ctx;
	size_t add = size * n;

	if (s->len + add > s->max) {
		s->too_big = 1;
		return 0;
	}
	if (s->len + add + 1 > s->cap) {
		size_t cap = (s->len + add + 1) * 2;
		char *nb = cx_xmalloc(cap);

		/* grow by copy so no stale copy of a token stays behind */
		if (s->buf) {
			memcpy(nb, s->buf, s->len);
			cx_crypto_wipe(s->buf, s->cap);
			free(s->buf);
		}
		s->buf = nb;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, add);
	s->len += add;
	s->buf[s->len] = '\0';
	return add;
}

void cx_http_collect_headers(CURL *h, cx_http_response *resp)
{
	struct curl_header *prev = NULL, *hd;

	while ((hd = curl_easy_nextheader(h, CURLH_HEADER, -1, prev))) {
		char *name = cx_xstrdup(hd->name);

		for (char *p = name; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		resp->headers = jv_object_set(resp->headers, jv_string(name),
		    jv_string(hd->value ? hd->value : ""));
		free(name);
		prev = hd;
	}
}

int cx_http_timeout_ms(const cx_http_request *req, long *ms, cx_err *err)
{
	int64_t secs;

	*ms = req->timeout_ms;
	if (*ms > 0)
		return 0;
	if (cx_config_int("CX_HTTP_TIMEOUT_SECONDS", 30, &secs, err) < 0)
		return -1;
	*ms = (long)(secs > 0 ? secs * 1000 : 30000);
	return 0;
}

void cx_http_trust(CURL *h)
{
	const char *ca = cx_config_get("CX_CA_FILE", NULL);

	if (ca && *ca) {
		curl_easy_setopt(h, CURLOPT_CAINFO, ca);
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
	}
}

void cx_http_easy_prepare(CURL *h, const cx_http_request *req, const char *method,
    long timeout, cx_http_sink *body, char *errbuf)
{
	body->max = req->max_body ? req->max_body : DEFAULT_MAX_BODY;
	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, req->mail_from ? "smtp,smtps" : "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	    timeout < CONNECT_TIMEOUT_MS ? timeout : (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "cx/" CX_VERSION);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, cx_http_sink_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	cx_http_trust(h);
	if (strcmp(method, "GET") != 0 && !req->mail_from)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
}

void cx_http_easy_auth(CURL *h, const cx_http_request *req)
{
	if (!req->basic_user)
		return;
	if (req->aws_sigv4)
		curl_easy_setopt(h, CURLOPT_AWS_SIGV4, req->aws_sigv4);
	else if (!req->mail_from)
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, req->any_auth ? CURLAUTH_ANY : CURLAUTH_BASIC);
	curl_easy_setopt(h, CURLOPT_USERNAME, req->basic_user);
	curl_easy_setopt(h, CURLOPT_PASSWORD, req->basic_password ? req->basic_password : "");
}

static size_t upload_read(char *buf, size_t size, size_t n, void *arg)
{
	cx_http_upload *up = arg;
	size_t k = up->len - up->off;

	if (k > size * n)
		k = size * n;
	memcpy(buf, up->data + up->off, k);
	up->off += k;
	return k;
}

void cx_http_easy_mail(CURL *h, const cx_http_request *req, cx_http_upload *up,
    struct curl_slist **rcpt)
{
	*rcpt = NULL;
	for (const char *const *r = req->mail_rcpt; r && *r; r++)
		*rcpt = curl_slist_append(*rcpt, *r);
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, req->mail_from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, *rcpt);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, upload_read);
	curl_easy_setopt(h, CURLOPT_READDATA, up);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)up->len);
	curl_easy_setopt(h, CURLOPT_USE_SSL, req->mail_starttls ? (long)CURLUSESSL_ALL :
	    (long)CURLUSESSL_NONE);
}

/* A file range being uploaded (req->upload_len > 0). */
typedef struct {
	int fd;
	int64_t offset, len, off;
} file_upload;

static size_t file_read(char *buf, size_t size, size_t n, void *arg)
{
	file_upload *up = arg;
	int64_t k = up->len - up->off;
	ssize_t got;

	if (k > (int64_t)(size * n))
		k = (int64_t)(size * n);
	if (k == 0)
		return 0;
	got = pread(up->fd, buf, (size_t)k, (off_t)(up->offset + up->off));
	if (got <= 0)
		return CURL_READFUNC_ABORT;
	up->off += got;
	return (size_t)got;
}

/* libcurl rewinds a body it must send again. */
static int file_seek(void *arg, curl_off_t offset, int origin)
{
	file_upload *up = arg;

	if (origin != SEEK_SET || offset < 0 || offset > up->len)
		return CURL_SEEKFUNC_CANTSEEK;
	up->off = offset;
	return CURL_SEEKFUNC_OK;
}

static void easy_file_upload(CURL *h, const cx_http_request *req, file_upload *up)
{
	*up = (file_upload){ req->upload_fd, req->upload_offset, req->upload_len, 0 };
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, file_read);
	curl_easy_setopt(h, CURLOPT_READDATA, up);
	curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, file_seek);
	curl_easy_setopt(h, CURLOPT_SEEKDATA, up);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)up->len);
	/* a large body in 1 MiB writes, not 64 KiB ones */
	curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 1024L * 1024);
}

int cx_http_was_sent(CURL *h, CURLcode rc, const cx_http_request *req)
{
	long reqsize = 0;
	curl_off_t up = 0;

	if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
	    rc == CURLE_COULDNT_RESOLVE_PROXY)
		return 0;
	if (req->mail_from) {
		curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &up);
		return up > 0;
	}
	curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &reqsize);
	return reqsize > 0;
}

struct curl_slist *cx_http_header_list(const cx_http_request *req)
{
	struct curl_slist *hdrs = NULL;
	char *ctype;

	if (req->content_type) {
		ctype = cx_xasprintf("Content-Type: %s", req->content_type);
		hdrs = curl_slist_append(hdrs, ctype);
		free(ctype);
	}
	/* no "100-continue" round trip; but libcurl's SigV4 would sign the empty
	 * header it leaves out of the request */
	if (!req->aws_sigv4)
		hdrs = curl_slist_append(hdrs, "Expect:");
	for (const char *const *p = req->headers; p && *p; p++)
		hdrs = curl_slist_append(hdrs, *p);
	return hdrs;
}

/* The multipart/form-data body of parts (libcurl reads a file part as it
 * sends it); NULL with err when a part cannot be made (a file unreadable). */
static curl_mime *form_body(CURL *h, const cx_http_part *parts, cx_err *err)
{
	curl_mime *mime = curl_mime_init(h);

	for (const cx_http_part *p = parts; mime && p->name; p++) {
		curl_mimepart *part = curl_mime_addpart(mime);
		CURLcode rc = part ? curl_mime_name(part, p->name) : CURLE_OUT_OF_MEMORY;

		if (rc == CURLE_OK && p->path) {
			rc = curl_mime_filedata(part, p->path);
			if (rc == CURLE_OK && p->filename)
				rc = curl_mime_filename(part, p->filename);
			if (rc == CURLE_OK)
				rc = curl_mime_type(part, p->content_type ? p->content_type :
				    "application/octet-stream");
		} else if (rc == CURLE_OK) {
			rc = curl_mime_data(part, p->value ? p->value : "", CURL_ZERO_TERMINATED);
		}
		if (rc != CURLE_OK) {
			cx_err_set(err, CX_EXIT_DATAERR, "form part %s: %s", p->name,
			    curl_easy_strerror(rc));
			curl_mime_free(mime);
			return NULL;
		}
	}
	if (!mime)
		cx_err_set(err, CX_EXIT_TEMPFAIL, "cannot make a form body");
	return mime;
}

/* What a transfer that got no response tells: err, and whether the
 * request may have reached the server. */
static int transport_failure(CURL *h, CURLcode rc, const char *method,
    const cx_http_request *req, const cx_http_sink *body, const char *errbuf,
    cx_http_response *resp, cx_err *err)
{
	char *where = cx_url_for_log(req->url);

	resp->sent = cx_http_was_sent(h, rc, req);
	if (req->mail_from)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	if (body->too_big)
		cx_err_set(err, CX_EXIT_TEMPFAIL, "%s %s: response body over %zu bytes",
		    method, where, body->max);
	else
		cx_err_set(err, CX_EXIT_TEMPFAIL, "%s %s: %s", method, where,
		    errbuf[0] ? errbuf : curl_easy_strerror(rc));
	free(where);
	return -1;
}

int cx_http_do(const cx_http_request *req, cx_http_response *resp, cx_err *err)
{
	CURL *h;
	struct curl_slist *hdrs, *rcpt = NULL;
	curl_mime *form = NULL;
	cx_http_upload up;
	file_upload fup;
	cx_http_sink body = { 0 };
	char errbuf[CURL_ERROR_SIZE] = "";
	const char *method = req->method ? req->method : req->upload_len > 0 ? "PUT" :
	    req->body || req->parts ? "POST" : "GET";
	long timeout;
	int64_t start = cx_clock_mono_ms();
	CURLcode rc;

	memset(resp, 0, sizeof *resp);
	resp->headers = jv_object();
	resp->body = cx_xstrdup("");
	pthread_once(&init_once, global_init);
	if (cx_http_timeout_ms(req, &timeout, err) < 0)
		return -1;
	if (!(h = curl_easy_init()))
		return cx_err_set(err, CX_EXIT_TEMPFAIL, "cannot start an HTTP request");
	cx_http_easy_prepare(h, req, method, timeout, &body, errbuf);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	if (req->mail_from) {
		up = (cx_http_upload){ req->body ? req->body : "", req->body_len, 0 };
		cx_http_easy_mail(h, req, &up, &rcpt);
	} else if (req->parts) {
		if (!(form = form_body(h, req->parts, err))) {
			curl_easy_cleanup(h);
			return -1;
		}
		curl_easy_setopt(h, CURLOPT_MIMEPOST, form);
	} else if (req->upload_len > 0) {
		easy_file_upload(h, req, &fup);
	} else if (req->body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	}
	hdrs = req->mail_from ? NULL : cx_http_header_list(req);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	if (req->basic_user) {
		cx_http_easy_auth(h, req);
	} else if (req->bearer) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
		curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, req->bearer);
	}
	rc = curl_easy_perform(h);
	resp->latency_ms = cx_clock_mono_ms() - start;
	free(resp->body);
	resp->body = body.buf ? body.buf : cx_xstrdup("");
	resp->len = body.len;
	if (rc == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
		if (req->any_auth)
			curl_easy_getinfo(h, CURLINFO_HTTPAUTH_AVAIL, &resp->auth_offered);
		cx_http_collect_headers(h, resp);
	} else {
		transport_failure(h, rc, method, req, &body, errbuf, resp, err);
	}
	curl_slist_free_all(hdrs);
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(h);
	curl_mime_free(form);
	return rc == CURLE_OK ? 0 : -1;
}

void cx_http_response_free(cx_http_response *resp)
{
	if (resp->body) {
		cx_crypto_wipe(resp->body, resp->len);
		free(resp->body);
	}
	jv_free(resp->headers);
	memset(resp, 0, sizeof *resp);
	resp->headers = jv_invalid();
}

const char *cx_http_header(const cx_http_response *resp, const char *name)
{
	char *lower = cx_xstrdup(name);
	const char *v = NULL;
	jv val;

	for (char *p = lower; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (jv_get_kind(resp->headers) == JV_KIND_OBJECT) {
		val = jv_object_get(jv_copy(resp->headers), jv_string(lower));
		/* the object keeps its own reference, so the text stays valid */
		if (jv_get_kind(val) == JV_KIND_STRING)
			v = jv_string_value(val);
		jv_free(val);
	}
	free(lower);
	return v;
}

jv cx_http_json(const cx_http_response *resp)
{
	if (!resp->body || resp->len == 0 || resp->len > INT32_MAX)
		return jv_invalid();
	return jv_parse_sized(resp->body, (int)resp->len);
}

/* Appends k=v pairs from ap to out (a jv string), first with sep. */
static jv append_pairs(jv out, char sep, const char *key, va_list ap)
{
	for (const char *k = key; k; k = va_arg(ap, const char *)) {
		const char *v = va_arg(ap, const char *);
		char *ek, *ev;

		if (!v)
			continue;
		ek = curl_easy_escape(NULL, k, 0);
		ev = curl_easy_escape(NULL, v, 0);
		if (sep)
			out = jv_string_append_buf(out, &sep, 1);
		out = jv_string_append_str(out, ek);
		out = jv_string_append_str(out, "=");
		out = jv_string_append_str(out, ev);
		sep = '&';
		cx_crypto_wipe(ev, strlen(ev));
		curl_free(ek);
		curl_free(ev);
	}
	return out;
}

char *cx_http_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = cx_xmalloc(3 * strlen(s) + 1), *w = out;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			*w++ = (char)c;
		} else {
			*w++ = '%';
			*w++ = hex[c >> 4];
			*w++ = hex[c & 15];
		}
	}
	*w = '\0';
	return out;
}

/* A jv string's text as a new C string; the jv's copy is wiped (forms
 * carry secrets). */
static char *take_string(jv s)
{
	char *out = cx_xstrdup(jv_string_value(s));

	cx_crypto_wipe((char *)jv_string_value(s), strlen(out));
	jv_free(s);
	return out;
}

char *cx_http_form(const char *key, ...)
{
	va_list ap;
	jv out;

	pthread_once(&init_once, global_init);
	va_start(ap, key);
	out = append_pairs(jv_string(""), 0, key, ap);
	va_end(ap);
	return take_string(out);
}

char *cx_http_url_with(const char *url, const char *key, ...)
{
	va_list ap;
	jv out;

	pthread_once(&init_once, global_init);
	va_start(ap, key);
	out = append_pairs(jv_string(url), strchr(url, '?') ? '&' : '?', key, ap);
	va_end(ap);
	return take_string(out);
}

char *cx_http_query_param(const char *url, const char *name)
{
	const char *q = strchr(url, '?');
	size_t nlen = strlen(name);

	q = q ? q + 1 : url;
	pthread_once(&init_once, global_init);
	while (*q) {
		size_t len = strcspn(q, "&#");
		const char *eq = memchr(q, '=', len);
		size_t klen = eq ? (size_t)(eq - q) : len;

		if (klen == nlen && memcmp(q, name, nlen) == 0) {
			const char *v = eq ? eq + 1 : q + len;
			int vlen = (int)(q + len - v), outlen = 0;
			char *plus = cx_xstrndup(v, (size_t)vlen), *dec, *out;

			for (char *p = plus; *p; p++)
				if (*p == '+')
					*p = ' ';
			dec = curl_easy_unescape(NULL, plus, vlen, &outlen);
			free(plus);
			if (!dec)
				return NULL;
			out = cx_xstrndup(dec, (size_t)outlen);
			curl_free(dec);
			return out;
		}
		q += len;
		if (*q == '#')
			break;
		if (*q == '&')
			q++;
	}
	return NULL;
}
