/* store.c: the SQLite state file: open, pragmas, migrations, transactions
 * and a cache of prepared statements. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "clock.h"
#include "config.h"
#include "exit.h"
#include "paths.h"
#include "store.h"
#include "xalloc.h"

struct cx_stmt {
	sqlite3_stmt *st;
	const char *sql;        /* the key: callers pass string literals */
	cx_stmt *next;
	cx_store *store;
};

struct cx_store {
	sqlite3 *db;
	char *path;
	cx_stmt *stmts;
	const char *sync;           /* CX_DB_SYNC: "full" or "normal" */
	int light;                  /* in a cx_store_begin_light transaction */
};

char *cx_store_resolve_path(const char *path)
{
	const char *env = cx_config_get("CX_DB", NULL);
	const char *state = cx_config_get("XDG_STATE_HOME", NULL);
	const char *home = cx_config_get("HOME", "/");

	if (path && *path)
		return cx_xstrdup(path);
	if (env)
		return cx_xstrdup(env);
	if (state)
		return cx_xasprintf("%s/cx/cx.db", state);
	return cx_xasprintf("%s/.local/state/cx/cx.db", home);
}

/* The message names only the scheme: the rest may hold a password. */
int cx_store_check_location(const char *path, cx_err *err)
{
	size_t n = 0;

	if (!((path[0] >= 'a' && path[0] <= 'z') || (path[0] >= 'A' && path[0] <= 'Z')))
		return 0;
	while (path[n] && (isalnum((unsigned char)path[n]) || strchr("+.-", path[n])))
		n++;
	if (strncmp(path + n, "://", 3) != 0)
		return 0;
	return cx_err_set(err, CX_EXIT_CONFIG,
	    "the state location is a %.*s:// URI; this cx accepts only a file path "
	    "(a SQLite state file, e.g. /var/lib/cx/cx.db)", (int)(n > 32 ? 32 : n), path);
}

static int db_error(cx_store *s, cx_err *err, const char *what)
{
	int rc = sqlite3_extended_errcode(s->db);
	int code = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED ||
	    (rc & 0xff) == SQLITE_FULL || (rc & 0xff) == SQLITE_IOERR ?
	    CX_EXIT_TEMPFAIL : CX_EXIT_CONFIG;

	return cx_err_set(err, code, "%s: %s: %s", s->path, what,
	    sqlite3_errmsg(s->db));
}

#define OPEN_RETRY_MS 20

static int busy_error(cx_store *s)
{
	int rc = sqlite3_extended_errcode(s->db) & 0xff;

	return rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

/* Creates the file 0600 (and its parents 0700) when it does not exist. */
static int create_file(const char *path, cx_err *err)
{
	int fd;

	if (cx_paths_mkparents(path, 0700) < 0)
		return cx_err_set(err, CX_EXIT_CONFIG,
		    "cannot create the directories of %s: %s", path, strerror(errno));
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0) {
		fchmod(fd, 0600);
		close(fd);
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	return cx_err_set(err, CX_EXIT_CONFIG, "cannot create %s: %s", path,
	    strerror(errno));
}

static int migration_number(const char *name)
{
	int n = 0, digits = 0;

	for (; name[digits] >= '0' && name[digits] <= '9'; digits++)
		n = n * 10 + (name[digits] - '0');
	if (digits == 0 || name[digits] != '_')
		return -1;
	if (strlen(name) < 4 || strcmp(name + strlen(name) - 4, ".sql") != 0)
		return -1;
	return n;
}

/* The migration files by number: files[n] is migration n (1-based). */
static int list_migrations(char ***files, int *count, cx_err *err)
{
	char *dir = cx_paths_share("migrations");
	DIR *d = opendir(dir);
	struct dirent *e;
	int max = 0;
	char **f = NULL;

	if (!d) {
		cx_err_set(err, CX_EXIT_CONFIG, "cannot open %s: %s (set CX_SHARE_DIR?)",
		    dir, strerror(errno));
		free(dir);
		return -1;
	}
	while ((e = readdir(d))) {
		int n = migration_number(e->d_name);

		if (n <= 0)
			continue;
		if (n > max) {
			f = cx_xrealloc(f, sizeof *f * (size_t)(n + 1));
			for (int i = max + 1; i <= n; i++)
				f[i] = NULL;
			max = n;
		}
		free(f[n]);
		f[n] = cx_xasprintf("%s/%s", dir, e->d_name);
	}
	closedir(d);
	free(dir);
	for (int i = 1; i <= max; i++) {
		if (!f[i]) {
			cx_err_set(err, CX_EXIT_CONFIG, "migration %03d is missing", i);
			for (int j = 1; j <= max; j++)
				free(f[j]);
			free(f);
			return -1;
		}
	}
	*files = f;
	*count = max;
	return 0;
}

static void free_migrations(char **files, int count)
{
	for (int i = 1; i <= count; i++)
		free(files[i]);
	free(files);
}

int cx_store_schema_latest(void)
{
	char **files;
	int count;
	cx_err err;

	if (list_migrations(&files, &count, &err) < 0)
		return -1;
	free_migrations(files, count);
	return count;
}

int cx_store_schema_version(cx_store *s)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int apply_file(cx_store *s, const char *file, int n, cx_err *err)
{
	FILE *f = fopen(file, "re");
	char *sql = NULL, *pragma;
	size_t cap = 0;
	ssize_t len;
	int rc;

	if (!f)
		return cx_err_set(err, CX_EXIT_CONFIG, "cannot read %s", file);
	len = getdelim(&sql, &cap, '\0', f);
	fclose(f);
	if (len < 0) {
		free(sql);
		return cx_err_set(err, CX_EXIT_CONFIG, "cannot read %s", file);
	}
	rc = cx_store_exec(s, sql, err);
	free(sql);
	if (rc < 0)
		return -1;
	pragma = cx_xasprintf("PRAGMA user_version = %d", n);
	rc = cx_store_exec(s, pragma, err);
	free(pragma);
	return rc;
}

static int migrate(cx_store *s, cx_err *err)
{
	char **files;
	int count, v;

	if (list_migrations(&files, &count, err) < 0)
		return -1;
	v = cx_store_schema_version(s);
	if (v > count) {
		free_migrations(files, count);
		return cx_err_set(err, CX_EXIT_CONFIG,
		    "%s has schema version %d, newer than this cx knows (%d); "
		    "use a newer cx", s->path, v, count);
	}
	if (v == count) {
		free_migrations(files, count);
		return 0;
	}
	if (cx_store_begin(s, err) < 0) {
		free_migrations(files, count);
		return -1;
	}
	/* Another process may have migrated while we waited for the lock. */
	for (v = cx_store_schema_version(s) + 1; v <= count; v++) {
		if (apply_file(s, files[v], v, err) < 0) {
			cx_store_rollback(s);
			free_migrations(files, count);
			return -1;
		}
	}
	free_migrations(files, count);
	return cx_store_commit(s, err);
}

/* Opens the state file. With create, a missing file is made (0600) and the
 * schema migrated; without, the file must exist and is left as it is. */
static int open_store(const char *path, int create, cx_store **out, cx_err *err)
{
	cx_store *s = cx_xcalloc(1, sizeof *s);
	int64_t busy;
	const char *sync = cx_config_get("CX_DB_SYNC", "full");
	char *pragmas;
	int rc;

	s->path = cx_store_resolve_path(path);
	if (cx_store_check_location(s->path, err) < 0 ||
	    cx_config_int("CX_BUSY_TIMEOUT_MS", 60000, &busy, err) < 0)
		goto fail;
	if (create ? create_file(s->path, err) < 0 : access(s->path, F_OK) < 0) {
		if (!create)
			cx_err_set(err, CX_EXIT_CONFIG, "no state file at %s (%s); "
			    "any cx tool creates it on first use", s->path, strerror(errno));
		goto fail;
	}
	if (strcmp(sync, "full") && strcmp(sync, "normal")) {
		cx_err_set(err, CX_EXIT_CONFIG, "CX_DB_SYNC must be full or normal");
		goto fail;
	}
	rc = sqlite3_open_v2(s->path, &s->db,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		cx_err_set(err, CX_EXIT_CONFIG, "cannot open %s: %s", s->path,
		    s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(s->db, (int)busy);
	s->sync = strcmp(sync, "full") == 0 ? "full" : "normal";
	pragmas = cx_xasprintf("PRAGMA journal_mode = WAL; PRAGMA synchronous = %s;"
	    " PRAGMA foreign_keys = ON;", sync);
	/* Processes opening a new file at once race to switch it to WAL and to
	 * migrate it; SQLite reports some of those lock conflicts at once
	 * instead of waiting, so the loser tries again. */
	for (int64_t waited = 0;; waited += OPEN_RETRY_MS) {
		rc = cx_store_exec(s, pragmas, err);
		if (rc == 0 && create)
			rc = migrate(s, err);
		if (rc == 0 || !busy_error(s) || waited >= busy)
			break;
		usleep(OPEN_RETRY_MS * 1000);
	}
	free(pragmas);
	if (rc < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	cx_store_close(s);
	return -1;
}

int cx_store_open(const char *path, cx_store **out, cx_err *err)
{
	return open_store(path, 1, out, err);
}

int cx_store_open_existing(const char *path, cx_store **out, cx_err *err)
{
	return open_store(path, 0, out, err);
}

void cx_store_close(cx_store *s)
{
	if (!s)
		return;
	for (cx_stmt *st = s->stmts, *next; st; st = next) {
		next = st->next;
		sqlite3_finalize(st->st);
		free(st);
	}
	sqlite3_close(s->db);
	free(s->path);
	free(s);
}

const char *cx_store_path(const cx_store *s)
{
	return s->path;
}

int cx_store_exec(cx_store *s, const char *sql, cx_err *err)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int rc = db_error(s, err, msg ? msg : "exec failed");

		sqlite3_free(msg);
		return rc;
	}
	return 0;
}

int cx_store_begin(cx_store *s, cx_err *err)
{
	return cx_store_exec(s, "BEGIN IMMEDIATE", err);
}

int cx_store_begin_light(cx_store *s, cx_err *err)
{
	if (strcmp(s->sync, "normal") != 0 &&
	    cx_store_exec(s, "PRAGMA synchronous = normal", err) < 0)
		return -1;
	s->light = 1;
	if (cx_store_begin(s, err) == 0)
		return 0;
	cx_store_rollback(s);
	return -1;
}

/* Back to CX_DB_SYNC after a light transaction. */
static void heavy_again(cx_store *s)
{
	char *pragma;

	if (!s->light)
		return;
	s->light = 0;
	pragma = cx_xasprintf("PRAGMA synchronous = %s", s->sync);
	sqlite3_exec(s->db, pragma, NULL, NULL, NULL);
	free(pragma);
}

int cx_store_commit(cx_store *s, cx_err *err)
{
	if (cx_store_exec(s, "COMMIT", err) < 0) {
		cx_store_rollback(s);
		return -1;
	}
	heavy_again(s);
	return 0;
}

void cx_store_rollback(cx_store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	heavy_again(s);
}

void cx_store_autocheckpoint(cx_store *s, int pages)
{
	sqlite3_wal_autocheckpoint(s->db, pages);
}

int cx_store_checkpoint(cx_store *s, cx_err *err)
{
	int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
	    NULL, NULL);

	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		return db_error(s, err, "checkpoint");
	return 0;
}

int64_t cx_store_last_id(cx_store *s)
{
	return sqlite3_last_insert_rowid(s->db);
}

int cx_store_changes(cx_store *s)
{
	return sqlite3_changes(s->db);
}

cx_stmt *cx_store_prepare(cx_store *s, const char *sql, cx_err *err)
{
	cx_stmt *st;

	for (st = s->stmts; st; st = st->next) {
		if (st->sql == sql) {
			sqlite3_reset(st->st);
			sqlite3_clear_bindings(st->st);
			return st;
		}
	}
	st = cx_xcalloc(1, sizeof *st);
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->st,
	    NULL) != SQLITE_OK) {
		db_error(s, err, "prepare");
		free(st);
		return NULL;
	}
	st->sql = sql;
	st->store = s;
	st->next = s->stmts;
	s->stmts = st;
	return st;
}

void cx_stmt_text(cx_stmt *st, int idx, const char *v)
{
	if (v)
		sqlite3_bind_text(st->st, idx, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st->st, idx);
}

void cx_stmt_textn(cx_stmt *st, int idx, const char *v, size_t len)
{
	sqlite3_bind_text64(st->st, idx, v, len, SQLITE_TRANSIENT, SQLITE_UTF8);
}

void cx_stmt_int(cx_stmt *st, int idx, int64_t v)
{
	sqlite3_bind_int64(st->st, idx, v);
}

void cx_stmt_null(cx_stmt *st, int idx)
{
	sqlite3_bind_null(st->st, idx);
}

void cx_stmt_blob(cx_stmt *st, int idx, const void *v, size_t len)
{
	sqlite3_bind_blob64(st->st, idx, v, len, SQLITE_TRANSIENT);
}

int cx_stmt_step(cx_stmt *st, cx_err *err)
{
	int rc = sqlite3_step(st->st);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	db_error(st->store, err, "step");
	sqlite3_reset(st->st);
	return -1;
}

int cx_stmt_run(cx_stmt *st, cx_err *err)
{
	int rc;

	while ((rc = cx_stmt_step(st, err)) == 1)
		;
	if (rc == 0)
		sqlite3_reset(st->st);
	return rc;
}

void cx_stmt_reset(cx_stmt *st)
{
	sqlite3_reset(st->st);
}

const char *cx_stmt_col_text(cx_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(st->st, col);
}

char *cx_stmt_col_dup(cx_stmt *st, int col)
{
	return cx_stmt_col_is_null(st, col) ? NULL : cx_xstrdup(cx_stmt_col_text(st, col));
}

jv cx_stmt_col_jv(cx_stmt *st, int col)
{
	return cx_stmt_col_is_null(st, col) ? jv_null() : jv_string(cx_stmt_col_text(st, col));
}

jv cx_stmt_col_time(cx_stmt *st, int col)
{
	char buf[CX_RFC3339_LEN];

	if (cx_stmt_col_is_null(st, col))
		return jv_null();
	cx_clock_rfc3339(cx_stmt_col_int(st, col), -1, buf);
	return jv_string(buf);
}

int64_t cx_stmt_col_int(cx_stmt *st, int col)
{
	return sqlite3_column_int64(st->st, col);
}

int cx_stmt_col_is_null(cx_stmt *st, int col)
{
	return sqlite3_column_type(st->st, col) == SQLITE_NULL;
}

const void *cx_stmt_col_blob(cx_stmt *st, int col, size_t *len)
{
	*len = (size_t)sqlite3_column_bytes(st->st, col);
	return sqlite3_column_blob(st->st, col);
}
