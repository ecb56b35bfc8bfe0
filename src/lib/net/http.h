/* http.h: outbound HTTP for every tool, over libcurl. One call sends one
 * request and tells a transport failure (no response: -1, err is
 * CX_EXIT_TEMPFAIL, resp->sent says whether the request may have reached the
 * server) from any HTTP status (0, the caller judges resp->status).
 * Messages name the method and the URL without its query, never headers or
 * bodies. The request's strings are the caller's; the response is filled in
 * and released with cx_http_response_free, which wipes the body (it may hold
 * tokens). Strings returned by the helpers are new; free them with free(),
 * or with cx_secret_free when they hold secrets. */
#ifndef CX_HTTP_H
#define CX_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jv.h>

#include "err.h"

#define CX_HTTP_FORM "application/x-www-form-urlencoded"
#define CX_HTTP_JSON "application/json"

/* One part of a multipart/form-data body: a text field (value), or a file
 * read as it is sent (path; filename, default its base name, and
 * content_type, default application/octet-stream, name it). */
typedef struct {
	const char *name;             /* NULL ends a list */
	const char *value;
	const char *path;
	const char *filename;
	const char *content_type;
} cx_http_part;

typedef struct {
	const char *method;           /* NULL: GET, or POST when there is a body */
	const char *url;
	const char *const *headers;   /* "Name: value" lines ending with NULL, or NULL */
	const char *body;             /* NULL for none */
	size_t body_len;
	const char *content_type;     /* of the body: CX_HTTP_FORM, CX_HTTP_JSON... */
	const char *basic_user;       /* HTTP Basic auth when set ... */
	const char *basic_password;   /* ... with this password */
	int any_auth;                 /* basic_user for any scheme the server asks
	                               * (Digest...), sent only after its 401 */
	const char *bearer;           /* Authorization: Bearer, when set */
	const char *aws_sigv4;        /* "aws:amz:REGION:SERVICE": AWS Signature V4
	                               * with basic_user and basic_password as the
	                               * access key and secret, instead of Basic */
	const char *mail_from;        /* with an smtp:// or smtps:// url: the
	                               * envelope sender, ... */
	const char *const *mail_rcpt; /* ... the recipients (NULL-terminated); the
	                               * body is the message, uploaded; basic_user
	                               * and basic_password AUTH after TLS */
	int mail_starttls;            /* smtp://: STARTTLS required */
	const cx_http_part *parts;    /* a multipart/form-data body instead of body
	                               * (libcurl's boundary), or NULL */
	int upload_fd;                /* with upload_len > 0: the body is upload_len
	                               * bytes of this file from upload_offset, read
	                               * as they are sent (pread; never whole) */
	int64_t upload_offset;
	int64_t upload_len;
	long timeout_ms;              /* whole request; 0: $CX_HTTP_TIMEOUT_SECONDS, 30 */
	size_t max_body;              /* largest response body; 0: 8 MiB */
} cx_http_request;

typedef struct {
	long status;                  /* the HTTP status (SMTP: the last reply code,
	                               * also after a failure); 0 when none arrived */
	char *body;                   /* NUL-terminated; "" when empty */
	size_t len;
	jv headers;                   /* lower-case name -> value (last one wins) */
	int sent;                     /* transport failure after the request went out
	                               * (SMTP: once the message began to go) */
	long auth_offered;            /* any_auth: the schemes (libcurl's CURLAUTH_
	                               * bits) of the server's 401, 0 for none */
	int64_t latency_ms;
} cx_http_response;

/* A response body being received, kept in one buffer that is wiped when it
 * grows (it may hold a token); for libcurl's CURLOPT_WRITEFUNCTION with
 * cx_http_sink_write and the sink as CURLOPT_WRITEDATA. buf is the
 * caller's once the transfer ends (wipe it, then free it). */
typedef struct {
	char *buf;
	size_t len, cap, max;   /* max: the largest body accepted */
	int too_big;            /* the body went over max; the transfer failed */
} cx_http_sink;

size_t cx_http_sink_write(char *data, size_t size, size_t n, void *sink);

int cx_http_do(const cx_http_request *req, cx_http_response *resp, cx_err *err);

/* What cx_http_do and httpmulti.c share in setting up one transfer: the
 * timeout of req (its own, else $CX_HTTP_TIMEOUT_SECONDS, 30), the options
 * every transfer has (URL, http/https only, no redirects, timeouts, user
 * agent, the body sink with req's size limit, the method), and the header
 * list (Content-Type, the caller's lines; free with curl_slist_free_all);
 * once it is done, the response headers into resp->headers. */
int cx_http_timeout_ms(const cx_http_request *req, long *ms, cx_err *err);
void cx_http_easy_prepare(CURL *h, const cx_http_request *req, const char *method,
    long timeout, cx_http_sink *body, char *errbuf);
/* The certificates a TLS transfer trusts: $CX_CA_FILE (a PEM bundle) instead
 * of the system's when it is set, as curl's --cacert; never no check. */
void cx_http_trust(CURL *h);
struct curl_slist *cx_http_header_list(const cx_http_request *req);
/* Basic or AWS SigV4 authentication of req, when it has a basic_user. */
void cx_http_easy_auth(CURL *h, const cx_http_request *req);
/* An SMTP transfer (req->mail_from set): the envelope, the upload of
 * up->data (up stays the caller's until the transfer ends) and TLS;
 * *rcpt gets the recipient list to free with curl_slist_free_all. */
typedef struct {
	const char *data;
	size_t len, off;
} cx_http_upload;
void cx_http_easy_mail(CURL *h, const cx_http_request *req, cx_http_upload *up,
    struct curl_slist **rcpt);
/* Whether a failed transfer may have reached the server. */
int cx_http_was_sent(CURL *h, CURLcode rc, const cx_http_request *req);
void cx_http_collect_headers(CURL *h, cx_http_response *resp);
void cx_http_response_free(cx_http_response *resp);
/* A response header by name (any case), or NULL; lives as long as resp. */
const char *cx_http_header(const cx_http_response *resp, const char *name);
/* The body parsed as JSON (jv_invalid() when it is not JSON). */
jv cx_http_json(const cx_http_response *resp);

/* application/x-www-form-urlencoded from key, value pairs ending with a NULL
 * key; a pair whose value is NULL is left out. */
char *cx_http_form(const char *key, ...) __attribute__((sentinel));
/* s percent-encoded (all but letters, digits and "-._~"); may hold a
 * secret: free with cx_secret_free. */
char *cx_http_escape(const char *s);
/* url with "?" or "&" and the encoded pairs appended (same rules). */
char *cx_http_url_with(const char *url, const char *key, ...) __attribute__((sentinel));
/* The decoded value of query parameter name in a URL or a bare query
 * string, or NULL when absent. */
char *cx_http_query_param(const char *url, const char *name);

#endif
