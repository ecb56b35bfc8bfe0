/* mentions.h: X's mentions as a sync source (mentions.c): the x-mentions
 * subcommand of cx-sync. Strings passed in stay the caller's. */
#ifndef CX_MENTIONS_H
#define CX_MENTIONS_H

#include "err.h"
#include "source.h"
#include "store.h"

extern const cx_source x_mentions_source;

/* One poll of the mentions of workspace's X account since the last one
 * seen; max_results posts a page. */
int mentions_sync(cx_store *s, const char *workspace, long max_results,
    cx_err *err);

#endif
