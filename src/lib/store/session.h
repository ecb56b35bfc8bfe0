/* session.h: a tool's session with the state file, for the commands that
 * only read options, open the store, do one thing and end: the settings
 * file loaded, the store opened and NDJSON output set up; at the end the
 * output flushed, the store closed and the exit status said. */
#ifndef CX_SESSION_H
#define CX_SESSION_H

#include "err.h"
#include "store.h"

/* Loads config (may be NULL) and opens the store at db (NULL: the default
 * path): -1 to go on with *s, else the exit status (the error logged). */
int cx_session_start(const char *config, const char *db, cx_store **s);
/* Flushes stdout and closes s: CX_EXIT_OK when rc is 0 or more, else
 * err logged and its exit status. */
int cx_session_end(cx_store *s, int rc, const cx_err *err);

#endif
