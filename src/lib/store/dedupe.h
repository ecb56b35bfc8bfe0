/* dedupe.h: the dedupe key table behind cx-dedupe. The caller turns each
 * line's key into its stored form (cx_dedupe_key) and hands a batch of
 * lines to cx_dedupe_decide, which decides them in one transaction, counts
 * them in the metrics and purges a slice of expired keys. The batch is the
 * caller's; the library only fills in each line's decision. */
#ifndef CX_DEDUPE_H
#define CX_DEDUPE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

/* Keys are stored as the first 16 bytes of the SHA-256 of their text. */
#define CX_DEDUPE_KEY_LEN 16

typedef enum {
	CX_DEDUPE_SIMPLE,  /* forward unseen keys and record them as done */
	CX_DEDUPE_CLAIM,   /* forward unseen keys and lease them */
	CX_DEDUPE_COMMIT,  /* mark keys done and forward everything */
} cx_dedupe_mode;

typedef struct cx_dedupe cx_dedupe;

typedef struct {
	int64_t forwarded, dropped, unkeyed;
} cx_dedupe_counts;

/* One line of a batch. */
typedef struct {
	unsigned char key[CX_DEDUPE_KEY_LEN];
	int keyed;    /* 0: the line has no key (it is forwarded, as unkeyed) */
	int forward;  /* the decision, set by cx_dedupe_decide */
} cx_dedupe_line;

cx_dedupe *cx_dedupe_new(cx_store *s, cx_dedupe_mode mode, int64_t ttl,
    int64_t lease);
void cx_dedupe_free(cx_dedupe *d);
/* The stored form of the key text s[0..len). */
void cx_dedupe_key(const char *s, size_t len, unsigned char out[CX_DEDUPE_KEY_LEN]);
/* Decides the n lines in one transaction: forward is 1 for a line to
 * forward, 0 for a repeat (a key recorded before, or earlier in the batch,
 * or under another run's live lease; a --commit run forwards all). Adds
 * the batch's counts to *total and to cx_dedupe_lines_total (result
 * forwarded, dropped, unkeyed; a --commit run counts committed instead of
 * forwarded). 0, or -1 with err and nothing recorded. */
int cx_dedupe_decide(cx_dedupe *d, cx_dedupe_line *lines, int n,
    cx_dedupe_counts *total, cx_err *err);

#endif
