/* s3.c: the S3 operations cx-publish's s3 channel needs (s3.h), each one
 * signed HTTP request through cx_http_do; answers read by s3xml.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "exit.h"
#include "http.h"
#include "json.h"
#include "s3.h"
#include "xalloc.h"

#define MAX_ANSWER (4 * 1024 * 1024)
#define MAX_PARTS 10000
#define MAX_PAGES 11

/* --- addresses ------------------------------------------------------------ */

char *cx_s3_escape_key(const char *key)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = cx_xmalloc(3 * strlen(key) + 1), *w = out;

	for (; *key; key++) {
		unsigned char ch = (unsigned char)*key;

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~/", ch)) {
			*w++ = (char)ch;
		} else {
			*w++ = '%';
			*w++ = hex[ch >> 4];
			*w++ = hex[ch & 15];
		}
	}
	*w = '\0';
	return out;
}

char *cx_s3_url(const cx_s3_client *c, const char *bucket, const char *key,
    const char *query)
{
	const char *sep = strstr(c->endpoint, "://");
	size_t elen = strlen(c->endpoint);
	char *k = cx_s3_escape_key(key ? key : ""), *url;
	const char *q = query && *query ? "?" : "";

	while (elen > 0 && c->endpoint[elen - 1] == '/')
		elen--;
	if (c->path_style || !sep)
		url = cx_xasprintf("%.*s/%s%s%s%s%s", (int)elen, c->endpoint, bucket,
		    key ? "/" : "", k, q, query ? query : "");
	else
		url = cx_xasprintf("%.*s%s.%.*s/%s%s%s", (int)(sep + 3 - c->endpoint),
		    c->endpoint, bucket, (int)(elen - (size_t)(sep + 3 - c->endpoint)), sep + 3,
		    k, q, query ? query : "");
	free(k);
	return url;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *cx_s3_query(const char *name, ...)
{
	char *pairs[8];
	size_t n = 0, len = 1;
	va_list ap;
	char *out;

	va_start(ap, name);
	for (const char *k = name; k && n < 8; k = va_arg(ap, const char *)) {
		const char *v = va_arg(ap, const char *);
		char *ek, *ev;

		if (!v)
			continue;
		ek = cx_http_escape(k);
		ev = cx_http_escape(v);
		pairs[n] = cx_xasprintf("%s=%s", ek, ev);
		len += strlen(pairs[n++]) + 1;
		free(ek);
		free(ev);
	}
	va_end(ap);
	qsort(pairs, n, sizeof pairs[0], by_name);
	out = cx_xmalloc(len);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(out, "&");
		strcat(out, pairs[i]);
		free(pairs[i]);
	}
	return out;
}

/* --- one request ---------------------------------------------------------- */

typedef struct {
	const char *method;
	const char *bucket, *key, *query;
	const cx_s3_body *file;     /* a body from a file, or NULL */
	const char *data;           /* a body in memory (NULL: none) */
	const char *content_type;
	const char *const *headers;
	int checksum_mode;
} s3_req;

static void copy_line(char *out, size_t cap, const char *s)
{
	size_t w = 0;

	for (; s && *s && w + 1 < cap; s++)
		if ((unsigned char)*s >= 0x20 && *s != 0x7f)
			out[w++] = *s;
	out[w] = '\0';
}

/* S3's <Error> in resp (when there is one) into e and err. */
static int s3_refusal(const s3_req *r, const cx_http_response *resp, cx_s3_error *e,
    cx_err *err)
{
	jv x = cx_s3_xml_parse(resp->body, resp->len);

	e->status = resp->status;
	if (jv_get_kind(x) == JV_KIND_OBJECT) {
		copy_line(e->code, sizeof e->code, cx_json_str(x, "Code"));
		copy_line(e->message, sizeof e->message, cx_json_str(x, "Message"));
	}
	jv_free(x);
	return cx_err_set(err, resp->status >= 500 || resp->status == 429 || resp->status == 200 ?
	    CX_EXIT_TEMPFAIL : CX_EXIT_UNAVAILABLE, "S3 %s %s/%s: %ld%s%s%s%s", r->method,
	    r->bucket, r->key ? r->key : "", resp->status, *e->code ? " " : "", e->code,
	    *e->message ? ": " : "", e->message);
}

/* The header lines of r into lines; returns how many of them, the first
 * in own, are ours to free. */
static size_t s3_headers(const s3_req *r, const char *payload, char **own, const char **lines,
    size_t cap)
{
	size_t n = 0, k = 0;

	own[n++] = cx_xasprintf("x-amz-content-sha256: %s", payload);
	if (r->file && r->file->checksum)
		own[n++] = cx_xasprintf("x-amz-checksum-sha256: %s", r->file->checksum);
	for (size_t i = 0; i < n; i++)
		lines[k++] = own[i];
	if (r->checksum_mode)
		lines[k++] = "x-amz-checksum-mode: ENABLED";
	for (const char *const *h = r->headers; h && *h && k + 1 < cap; h++)
		lines[k++] = *h;
	lines[k] = NULL;
	return n;
}

static int s3_do(const cx_s3_client *c, const s3_req *r, cx_http_response *resp,
    cx_s3_error *e, cx_err *err)
{
	char payload[2 * CX_SHA256_LEN + 1], sigv4[96], *own[2], *url;
	const char *lines[40];
	size_t nown;
	int rc;
	cx_http_request req = {
		.method = r->method, .content_type = r->content_type,
		.basic_user = c->access_key, .basic_password = c->secret_key,
		.aws_sigv4 = sigv4, .timeout_ms = c->timeout_ms, .max_body = MAX_ANSWER,
	};

	memset(e, 0, sizeof *e);
	memset(resp, 0, sizeof *resp);
	resp->headers = jv_invalid();
	snprintf(sigv4, sizeof sigv4, "aws:amz:%s:s3", c->region);
	if (r->data) {
		cx_crypto_sha256_hex(r->data, strlen(r->data), payload);
		req.body = r->data;
		req.body_len = strlen(r->data);
	} else if (r->file && r->file->len > 0) {
		snprintf(payload, sizeof payload, "%s", r->file->sha256_hex);
		req.upload_fd = r->file->fd;
		req.upload_offset = r->file->offset;
		req.upload_len = r->file->len;
		if (cx_http_timeout_ms(&req, &req.timeout_ms, err) < 0)
			return -1;
		/* a body is given a second more for each MiB, the rest as any request */
		req.timeout_ms += (long)(r->file->len / 1024);
	} else {
		snprintf(payload, sizeof payload, "%s", CX_S3_EMPTY_SHA256);
		if (r->file)
			req.body = "";
	}
	nown = s3_headers(r, payload, own, lines, sizeof lines / sizeof lines[0]);
	req.headers = lines;
	req.url = url = cx_s3_url(c, r->bucket, r->key, r->query);
	rc = cx_http_do(&req, resp, err);
	free(url);
	for (size_t i = 0; i < nown; i++)
		free(own[i]);
	if (rc < 0) {
		e->sent = resp->sent;
		return -1;
	}
	if (resp->status < 200 || resp->status > 299)
		return s3_refusal(r, resp, e, err);
	return 0;
}

/* The ETag header of resp as a new string ("" when none). */
static char *etag_of(const cx_http_response *resp)
{
	const char *v = cx_http_header(resp, "etag");

	return cx_xstrdup(v ? v : "");
}

/* --- operations ----------------------------------------------------------- */

int cx_s3_head_object(const cx_s3_client *c, const char *bucket, const char *key,
    cx_s3_head *out, cx_s3_error *e, cx_err *err)
{
	s3_req r = { .method = "HEAD", .bucket = bucket, .key = key, .checksum_mode = 1 };
	cx_http_response resp;
	const char *v;
	int rc;

	memset(out, 0, sizeof *out);
	rc = s3_do(c, &r, &resp, e, err);
	if (rc < 0 && e->status == 404) {
		cx_http_response_free(&resp);
		return 0;
	}
	if (rc == 0) {
		out->exists = 1;
		v = cx_http_header(&resp, "content-length");
		out->size = v ? strtoll(v, NULL, 10) : 0;
		copy_line(out->etag, sizeof out->etag, cx_http_header(&resp, "etag"));
		copy_line(out->checksum, sizeof out->checksum,
		    cx_http_header(&resp, "x-amz-checksum-sha256"));
		copy_line(out->meta_sha256, sizeof out->meta_sha256,
		    cx_http_header(&resp, "x-amz-meta-sha256"));
	}
	cx_http_response_free(&resp);
	return rc;
}

int cx_s3_put_object(const cx_s3_client *c, const char *bucket, const char *key,
    const cx_s3_body *body, const char *content_type, const char *const *headers,
    char **etag, cx_s3_error *e, cx_err *err)
{
	/* a type of our own: libcurl would call an empty body a form */
	s3_req r = { .method = "PUT", .bucket = bucket, .key = key, .file = body,
		.content_type = content_type ? content_type : "application/octet-stream",
		.headers = headers };
	cx_http_response resp;
	int rc = s3_do(c, &r, &resp, e, err);

	*etag = rc == 0 ? etag_of(&resp) : NULL;
	cx_http_response_free(&resp);
	return rc;
}

int cx_s3_create_upload(const cx_s3_client *c, const char *bucket, const char *key,
    const char *content_type, const char *const *headers, char **upload_id,
    cx_s3_error *e, cx_err *err)
{
	const char *lines[40] = { "x-amz-checksum-algorithm: SHA256" };
	s3_req r = { .method = "POST", .bucket = bucket, .key = key, .query = "uploads=",
		.data = "", .content_type = content_type ? content_type :
		"application/octet-stream", .headers = lines };
	cx_http_response resp;
	const char *id;
	jv x;
	int rc;

	for (size_t i = 0; headers && headers[i] && i + 2 < 40; i++)
		lines[i + 1] = headers[i];
	*upload_id = NULL;
	if ((rc = s3_do(c, &r, &resp, e, err)) == 0) {
		x = cx_s3_xml_parse(resp.body, resp.len);
		id = jv_get_kind(x) == JV_KIND_OBJECT ? cx_json_str(x, "UploadId") : NULL;
		if (id && *id)
			*upload_id = cx_xstrdup(id);
		else
			rc = cx_err_set(err, CX_EXIT_TEMPFAIL, "S3 POST %s/%s?uploads: no UploadId "
			    "in the answer", bucket, key);
		jv_free(x);
	}
	cx_http_response_free(&resp);
	return rc;
}

int cx_s3_upload_part(const cx_s3_client *c, const char *bucket, const char *key,
    const char *upload_id, int n, const cx_s3_body *body, char **etag, cx_s3_error *e,
    cx_err *err)
{
	char num[16], *q;
	s3_req r = { .method = "PUT", .bucket = bucket, .key = key, .file = body };
	cx_http_response resp;
	int rc;

	snprintf(num, sizeof num, "%d", n);
	r.query = q = cx_s3_query("partNumber", num, "uploadId", upload_id, NULL);
	rc = s3_do(c, &r, &resp, e, err);
	*etag = rc == 0 ? etag_of(&resp) : NULL;
	cx_http_response_free(&resp);
	free(q);
	return rc;
}

/* One page of ListParts after marker: its parts appended to *parts;
 * *next the next marker, 0 when it was the last page. */
static int list_page(const cx_s3_client *c, const char *bucket, const char *key,
    const char *upload_id, long marker, jv *parts, long *next, cx_s3_error *e, cx_err *err)
{
	char m[24], *q;
	s3_req r = { .method = "GET", .bucket = bucket, .key = key };
	cx_http_response resp;
	jv x, page;
	int rc;

	snprintf(m, sizeof m, "%ld", marker);
	r.query = q = cx_s3_query("part-number-marker", marker ? m : NULL, "uploadId",
	    upload_id, NULL);
	rc = s3_do(c, &r, &resp, e, err);
	free(q);
	*next = 0;
	if (rc < 0) {
		cx_http_response_free(&resp);
		return -1;
	}
	x = cx_s3_xml_parse(resp.body, resp.len);
	cx_http_response_free(&resp);
	page = jv_get_kind(x) == JV_KIND_OBJECT ? jv_object_get(jv_copy(x), jv_string("Part")) :
	    jv_invalid();
	if (jv_get_kind(page) != JV_KIND_ARRAY) {
		jv_free(page);
		page = jv_array();
	}
	jv_array_foreach(page, i, p) {
		const char *num = cx_json_str(p, "PartNumber"), *size = cx_json_str(p, "Size");
		const char *etag = cx_json_str(p, "ETag"), *sum = cx_json_str(p, "ChecksumSHA256");
		jv o = jv_object();

		o = jv_object_set(o, jv_string("n"), jv_number(num ? atol(num) : 0));
		o = jv_object_set(o, jv_string("etag"), jv_string(etag ? etag : ""));
		o = jv_object_set(o, jv_string("size"), jv_number(size ? (double)atoll(size) : -1));
		o = jv_object_set(o, jv_string("checksum"), jv_string(sum ? sum : ""));
		*parts = jv_array_append(*parts, o);
		jv_free(p);
	}
	jv_free(page);
	if (jv_get_kind(x) == JV_KIND_OBJECT && cx_json_str(x, "IsTruncated") &&
	    strcmp(cx_json_str(x, "IsTruncated"), "true") == 0 &&
	    cx_json_str(x, "NextPartNumberMarker"))
		*next = atol(cx_json_str(x, "NextPartNumberMarker"));
	jv_free(x);
	return 0;
}

int cx_s3_list_parts(const cx_s3_client *c, const char *bucket, const char *key,
    const char *upload_id, jv *parts, cx_s3_error *e, cx_err *err)
{
	long marker = 0, next;

	*parts = jv_array();
	for (int page = 0; page < MAX_PAGES; page++) {
		if (list_page(c, bucket, key, upload_id, marker, parts, &next, e, err) < 0) {
			jv_free(*parts);
			*parts = jv_invalid();
			return -1;
		}
		if (next == 0)
			return 0;
		/* a marker that does not move on, or too many parts: not S3 */
		if (next <= marker || jv_array_length(jv_copy(*parts)) > MAX_PARTS)
			break;
		marker = next;
	}
	jv_free(*parts);
	*parts = jv_invalid();
	memset(e, 0, sizeof *e);
	return cx_err_set(err, CX_EXIT_TEMPFAIL, "S3 GET %s/%s?uploadId: ListParts does not end",
	    bucket, key);
}

int cx_s3_complete_upload(const cx_s3_client *c, const char *bucket, const char *key,
    const char *upload_id, jv parts, char **etag, cx_s3_error *e, cx_err *err)
{
	char *q = cx_s3_query("uploadId", upload_id, NULL), *xml = cx_s3_complete_xml(parts);
	s3_req r = { .method = "POST", .bucket = bucket, .key = key, .query = q, .data = xml,
		.content_type = "application/xml" };
	cx_http_response resp;
	const char *v;
	jv x;
	int rc = s3_do(c, &r, &resp, e, err);

	*etag = NULL;
	if (rc == 0) {
		/* S3 may answer 200 and an <Error> once it has begun to assemble */
		x = cx_s3_xml_parse(resp.body, resp.len);
		v = jv_get_kind(x) == JV_KIND_OBJECT ? cx_json_str(x, "root") : NULL;
		if (v && strcmp(v, "Error") == 0)
			rc = s3_refusal(&r, &resp, e, err);
		else
			*etag = cx_xstrdup(jv_get_kind(x) == JV_KIND_OBJECT &&
			    cx_json_str(x, "ETag") ? cx_json_str(x, "ETag") : "");
		jv_free(x);
	}
	cx_http_response_free(&resp);
	free(q);
	free(xml);
	return rc;
}

int cx_s3_abort_upload(const cx_s3_client *c, const char *bucket, const char *key,
    const char *upload_id, cx_s3_error *e, cx_err *err)
{
	char *q = cx_s3_query("uploadId", upload_id, NULL);
	s3_req r = { .method = "DELETE", .bucket = bucket, .key = key, .query = q };
	cx_http_response resp;
	int rc = s3_do(c, &r, &resp, e, err);

	if (rc < 0 && e->status == 404 && strcmp(e->code, "NoSuchUpload") == 0)
		rc = 0;
	cx_http_response_free(&resp);
	free(q);
	return rc;
}
