/* httpmulti.h: many HTTP requests at once over one libcurl multi handle
 * (connections are kept and reused). Each transfer is judged as cx_http_do
 * judges one (http.h): a response of any status is 0; a transport failure
 * is -1 with err (CX_EXIT_TEMPFAIL) and resp->sent telling whether the
 * request may have reached the server. A request's strings are copied when
 * it is added, so the caller may free them at once; the response handed to
 * done() is the callback's to release with cx_http_response_free. */
#ifndef CX_HTTPMULTI_H
#define CX_HTTPMULTI_H

#include <stddef.h>

#include "err.h"
#include "http.h"

typedef struct cx_httpmulti cx_httpmulti;

/* Called once per finished transfer with the tag given to add. */
typedef void (*cx_httpmulti_done)(void *tag, int rc, cx_http_response *resp,
    const cx_err *err, void *ctx);

/* max_per_host: the most connections to one host (0: no limit). */
cx_httpmulti *cx_httpmulti_new(long max_per_host);
/* Aborts what is still running (done() is not called for it). */
void cx_httpmulti_free(cx_httpmulti *m);

/* Starts a request; -1 with err when it cannot be set up. */
int cx_httpmulti_add(cx_httpmulti *m, const cx_http_request *req, void *tag,
    cx_err *err);
/* Transfers added and not yet handed to done(). */
size_t cx_httpmulti_pending(const cx_httpmulti *m);

/* Moves the transfers on, waiting up to timeout_ms for network activity (or
 * for a wakeup, when none were added), and hands every finished one to
 * done(). Returns how many finished, or -1 with err when libcurl fails. */
int cx_httpmulti_run(cx_httpmulti *m, int timeout_ms, cx_httpmulti_done done,
    void *ctx, cx_err *err);
/* Makes a cx_httpmulti_run that waits, now or next, return at once; the one
 * call that is safe from another thread. */
void cx_httpmulti_wakeup(cx_httpmulti *m);

#endif
