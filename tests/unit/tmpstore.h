/* tmpstore.h: a fresh state file in a new temporary directory, for the
 * unit tests that need a store: tmpstore_open checks (tap.h) that it
 * opens and gives NULL when it does not; tmpstore_close closes it and
 * removes the file, its WAL and the directory. */
#ifndef CX_TMPSTORE_H
#define CX_TMPSTORE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "store.h"
#include "tap.h"

typedef struct {
	char dir[64];
	cx_store *s;
} tmpstore;

static inline cx_store *tmpstore_open(tmpstore *t, const char *name)
{
	cx_err err = { 0, "" };
	char path[96];

	t->s = NULL;
	setenv("CX_SHARE_DIR", "share/cx", 0);
	snprintf(t->dir, sizeof t->dir, "/tmp/cx-unit-%s.XXXXXX", name);
	if (!mkdtemp(t->dir)) {
		t->dir[0] = '\0';
		check(0, "a temporary directory for the state file");
		return NULL;
	}
	snprintf(path, sizeof path, "%s/cx.db", t->dir);
	check(cx_store_open(path, &t->s, &err) == 0, "a new state file opens");
	return t->s;
}

static inline void tmpstore_close(tmpstore *t)
{
	static const char *const files[] = { "cx.db", "cx.db-wal", "cx.db-shm" };
	char path[96];

	cx_store_close(t->s);
	t->s = NULL;
	if (!t->dir[0])
		return;
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		snprintf(path, sizeof path, "%s/%s", t->dir, files[i]);
		unlink(path);
	}
	rmdir(t->dir);
}

#endif
