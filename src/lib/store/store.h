/* store.h: the one SQLite state file (SPEC §4 State). Opening resolves the
 * path (--db > $CX_DB > $XDG_STATE_HOME/cx/cx.db), creates it 0600 with its
 * parent dirs, sets WAL, busy timeout and foreign keys, and applies
 * share/cx/migrations under PRAGMA user_version. A location that is a URI
 * (postgresql://, mysql://...) is refused with CX_EXIT_CONFIG. Only libcx modules use the
 * statement API below; tools call those modules, never SQL.
 * Statements are prepared once per store and owned by it; text returned by
 * cx_stmt_text lives until the next step/reset of that statement. */
#ifndef CX_STORE_H
#define CX_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jv.h>

#include "err.h"

typedef struct cx_store cx_store;
typedef struct cx_stmt cx_stmt;

/* The path that would be used for --db value path (NULL: env/default). */
char *cx_store_resolve_path(const char *path);
/* A location like postgresql://... names a server, not a file: refused
 * (CX_EXIT_CONFIG) until a backend for its scheme exists. */
int cx_store_check_location(const char *path, cx_err *err);
int cx_store_open(const char *path, cx_store **out, cx_err *err);
/* Opens a state file that exists, as it is: nothing created, nothing
 * migrated (a missing file is a CX_EXIT_CONFIG error). */
int cx_store_open_existing(const char *path, cx_store **out, cx_err *err);
void cx_store_close(cx_store *s);
const char *cx_store_path(const cx_store *s);
/* PRAGMA user_version of the open file, and the highest this build knows. */
int cx_store_schema_version(cx_store *s);
int cx_store_schema_latest(void);

/* BEGIN IMMEDIATE (waits for the write lock up to the busy timeout). */
int cx_store_begin(cx_store *s, cx_err *err);
/* As cx_store_begin, for a transaction whose loss in a power failure costs
 * nothing that matters (rate-limit tokens, an admission a retry makes
 * again): its commit is not fsynced whatever CX_DB_SYNC says (WAL keeps it
 * safe from crashes); the commit or rollback restores CX_DB_SYNC. */
int cx_store_begin_light(cx_store *s, cx_err *err);
int cx_store_commit(cx_store *s, cx_err *err);
void cx_store_rollback(cx_store *s);
/* WAL checkpoints: how many pages a commit may leave in the WAL before it
 * checkpoints itself (0: never), and a passive checkpoint run on demand (a
 * process can take checkpoints off its commit path with the two). */
void cx_store_autocheckpoint(cx_store *s, int pages);
int cx_store_checkpoint(cx_store *s, cx_err *err);
/* The rowid of the last INSERT on this store. */
int64_t cx_store_last_id(cx_store *s);
/* Rows changed by the last statement. */
int cx_store_changes(cx_store *s);
/* Runs SQL text with no results (may hold several statements). */
int cx_store_exec(cx_store *s, const char *sql, cx_err *err);

/* A prepared statement cached by its SQL text; reset before it is returned.
 * NULL with err when the SQL does not prepare (a programming error). */
cx_stmt *cx_store_prepare(cx_store *s, const char *sql, cx_err *err);
void cx_stmt_text(cx_stmt *st, int idx, const char *v);
void cx_stmt_textn(cx_stmt *st, int idx, const char *v, size_t len);
void cx_stmt_int(cx_stmt *st, int idx, int64_t v);
void cx_stmt_null(cx_stmt *st, int idx);
void cx_stmt_blob(cx_stmt *st, int idx, const void *v, size_t len);
/* 1 for a row, 0 when done, -1 with err. */
int cx_stmt_step(cx_stmt *st, cx_err *err);
/* Steps a statement without results to completion and resets it. */
int cx_stmt_run(cx_stmt *st, cx_err *err);
void cx_stmt_reset(cx_stmt *st);
const char *cx_stmt_col_text(cx_stmt *st, int col);
int64_t cx_stmt_col_int(cx_stmt *st, int col);
int cx_stmt_col_is_null(cx_stmt *st, int col);
const void *cx_stmt_col_blob(cx_stmt *st, int col, size_t *len);
/* A column as a new string (NULL when NULL), as a jv string or null, and
 * epoch seconds as an RFC 3339 jv string or null. */
char *cx_stmt_col_dup(cx_stmt *st, int col);
jv cx_stmt_col_jv(cx_stmt *st, int col);
jv cx_stmt_col_time(cx_stmt *st, int col);

#endif
