/* listen.c: `cx-oauth listen`, a one-shot loopback listener for the OAuth
 * redirect over libmicrohttpd. The callback runs in MHD's single polling
 * thread, the only user of the store while the main thread waits; the
 * page is answered before the daemon stops. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "clock.h"
#include "exit.h"
#include "json.h"
#include "log.h"
#include "oauth.h"
#include "presets.h"
#include "oauth_tool.h"
#include "xalloc.h"

typedef struct {
	cx_store *store;
	const char *provider;
	volatile sig_atomic_t handled, answered;
	int rc;
	jv status;
	cx_err err;
} listener;

static const char page_head[] =
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>cx-oauth</title></head>"
    "<body style=\"font-family:sans-serif;margin:3em\">";

/* Text for HTML, escaped. */
static char *html(const char *s)
{
	jv out = jv_string("");
	char *r;

	for (; s && *s; s++) {
		switch (*s) {
		case '<': out = jv_string_append_str(out, "&lt;"); break;
		case '>': out = jv_string_append_str(out, "&gt;"); break;
		case '&': out = jv_string_append_str(out, "&amp;"); break;
		case '"': out = jv_string_append_str(out, "&quot;"); break;
		default: out = jv_string_append_buf(out, s, 1);
		}
	}
	r = cx_xstrdup(jv_string_value(out));
	jv_free(out);
	return r;
}

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status,
    const char *body)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body),
	    (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	rc = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static char *result_page(const listener *l)
{
	char *msg, *page;

	if (l->rc == 0) {
		const char *user = cx_json_str(l->status, "username");
		const char *prov = cx_json_str(l->status, "provider");
		char *u = html(user ? user : cx_json_str(l->status, "account_id"));
		char *p = html(prov);

		msg = cx_xasprintf("<h1>Connected</h1><p>The %s account <b>%s</b> is connected "
		    "to cx. You can close this tab.</p>", p, u);
		free(u);
		free(p);
	} else {
		char *e = html(l->err.msg);

		msg = cx_xasprintf("<h1>Not connected</h1><p>%s</p><p>You can close this tab "
		    "and start again with <code>cx-oauth authorize</code>.</p>", e);
		free(e);
	}
	page = cx_xasprintf("%s%s</body></html>\n", page_head, msg);
	free(msg);
	return page;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn,
    const char *url, const char *method, const char *version,
    const char *upload, size_t *upload_size, void **con_cls)
{
	listener *l = cls;
	static int marker;
	cx_oauth_redirect r = { 0 };
	enum MHD_Result res;
	char *page;

	(void)url;
	(void)version;
	(void)upload;
	if (!*con_cls) {
		*con_cls = &marker;
		return MHD_YES;
	}
	*upload_size = 0;
	if (strcmp(method, "GET") != 0)
		return answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "<p>GET only</p>\n");
	r.state = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "state");
	r.code = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "code");
	r.error = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "error");
	r.error_description = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
	    "error_description");
	r.iss = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "iss");
	r.provider = l->provider;
	if (!r.state && !r.error)
		/* a favicon, a probe: keep waiting for the redirect */
		return answer(conn, MHD_HTTP_NOT_FOUND,
		    "<p>cx-oauth is waiting for the authorization redirect.</p>\n");
	if (l->handled)
		return answer(conn, MHD_HTTP_GONE, "<p>This listener has already handled "
		    "its redirect.</p>\n");
	l->rc = cx_oauth_callback(l->store, cx_presets_open, &r, &l->status, &l->err);
	page = result_page(l);
	res = answer(conn, l->rc == 0 ? MHD_HTTP_OK : MHD_HTTP_FORBIDDEN, page);
	free(page);
	*con_cls = l;
	l->handled = 1;
	return res;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	listener *l = cls;

	(void)conn;
	(void)toe;
	if (*con_cls == l)
		l->answered = 1;
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof msg, fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	cx_log(CX_LOG_DEBUG, jv_null(), "http: %s", msg);
}

int oauth_listen(cx_store *s, const char *provider, long port, long timeout,
    jv *status, cx_err *err)
{
	listener l = { .store = s, .provider = provider, .status = jv_null() };
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *d;
	int64_t deadline, grace;

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
	    NULL, NULL, handle, &l,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, &l,
	    MHD_OPTION_CONNECTION_TIMEOUT, 10u,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_END);
	if (!d)
		return cx_err_set(err, CX_EXIT_UNAVAILABLE,
		    "cannot listen on 127.0.0.1:%ld (in use?)", port);
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	cx_log(CX_LOG_INFO, jv_object_set(jv_object(), jv_string("port"),
	    jv_number(info ? info->port : 0)), "waiting for the redirect on "
	    "http://127.0.0.1:%u/", info ? info->port : 0);
	deadline = cx_clock_mono_ms() + (int64_t)timeout * 1000;
	while (!l.handled && cx_clock_mono_ms() < deadline)
		usleep(20000);
	/* let the page reach the browser before the daemon goes */
	grace = cx_clock_mono_ms() + 2000;
	while (l.handled && !l.answered && cx_clock_mono_ms() < grace)
		usleep(5000);
	MHD_stop_daemon(d);
	if (!l.handled)
		return cx_err_set(err, CX_EXIT_TEMPFAIL,
		    "timeout: no redirect arrived within %ld seconds", timeout);
	if (l.rc < 0) {
		*err = l.err;
		jv_free(l.status);
		return -1;
	}
	*status = l.status;
	return 0;
}
