/* oauth_tool.h: what the parts of cx-oauth share: the loopback listener
 * (listen.c) and the way a credential's status is printed (main.c). */
#ifndef CX_OAUTH_TOOL_H
#define CX_OAUTH_TOOL_H

#include <jv.h>

#include "err.h"
#include "store.h"

/* Serves 127.0.0.1:port (0 picks a port, logged) until one redirect with a
 * state arrives, runs the callback on it, answers the browser with a small
 * page and returns the callback's result (*status, or -1 with err).
 * provider may be NULL; after timeout seconds without a redirect: 75. */
int oauth_listen(cx_store *s, const char *provider, long port, long timeout,
    jv *status, cx_err *err);

#endif
