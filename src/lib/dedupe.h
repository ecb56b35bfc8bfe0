/* dedupe.h: the dedupe key table behind cx-dedupe. A batch is one
 * transaction: cx_dedupe_begin, one cx_dedupe_check per key, then
 * cx_dedupe_end, which also counts the batch in the metrics and purges a
 * slice of expired keys. Keys are the caller's strings. */
#ifndef CX_DEDUPE_H
#define CX_DEDUPE_H

#include <stdint.h>

#include "err.h"
#include "store.h"

typedef enum {
	CX_DEDUPE_SIMPLE,  /* forward unseen keys and record them as done */
	CX_DEDUPE_CLAIM,   /* forward unseen keys and lease them */
	CX_DEDUPE_COMMIT,  /* mark keys done and forward everything */
} cx_dedupe_mode;

typedef struct cx_dedupe cx_dedupe;

typedef struct {
	int64_t forwarded, dropped, unkeyed;
} cx_dedupe_counts;

cx_dedupe *cx_dedupe_new(cx_store *s, cx_dedupe_mode mode, int64_t ttl,
    int64_t lease);
void cx_dedupe_free(cx_dedupe *d);
int cx_dedupe_begin(cx_dedupe *d, cx_err *err);
/* 1 when the line with this key is to be forwarded, 0 when it is a
 * duplicate (or under another run's live lease), -1 with err. */
int cx_dedupe_check(cx_dedupe *d, const char *key, cx_err *err);
/* Commits the batch; counts are added to cx_dedupe_lines_total (result
 * forwarded, dropped, unkeyed; a --commit run counts committed instead of
 * forwarded). */
int cx_dedupe_end(cx_dedupe *d, const cx_dedupe_counts *batch, cx_err *err);

#endif
