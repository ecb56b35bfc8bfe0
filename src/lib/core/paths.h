/* paths.h: where cx finds its own files. share/cx is $CX_SHARE_DIR, else
 * ../share/cx beside the running binary (the build tree and any PREFIX), else
 * the compiled-in CX_SHARE_DEFAULT. Returned strings are the caller's. */
#ifndef CX_PATHS_H
#define CX_PATHS_H

#include <stddef.h>

#include "err.h"

/* The directory holding the running executable (static storage). */
const char *cx_paths_exe_dir(void);
/* share/cx/<rel> as a new string. */
char *cx_paths_share(const char *rel);
/* mkdir -p with the given mode for the parent directories of path. */
int cx_paths_mkparents(const char *path, unsigned mode);

/* Moves the file from to the path to (which must not exist): rename, or
 * on another file system copy, fsync and unlink; -1 with err, and from
 * left where it was, when it cannot. */
int cx_paths_move(const char *from, const char *to, cx_err *err);
/* Writes data to path (which must not exist) and fsyncs it. */
int cx_paths_write_new(const char *path, const char *data, size_t len, cx_err *err);

#endif
