/* progress.h: a one-line progress report on stderr for long runs (a full
 * sync, a replay, a large cx-dedupe input, a publish run with many items).
 * Drawn only when stderr is a terminal and --no-progress was not given;
 * never otherwise, so pipelines, cron and logs see nothing of it. The first
 * update draws, later ones at most every 250 ms; the end draws the final
 * count and a newline. The struct is the caller's; nothing is allocated. */
#ifndef CX_PROGRESS_H
#define CX_PROGRESS_H

#include <stdint.h>

typedef struct {
	const char *tool, *unit;    /* "cx-dedupe", "lines" (borrowed) */
	int on;
	int64_t done, total;        /* total < 0: unknown */
	int64_t drawn_ms;           /* when it last drew; -1: never */
} cx_progress;

/* Starts a report of unit counted for tool; off when no_progress is set or
 * stderr is not a terminal. total < 0 when it is not known. */
void cx_progress_start(cx_progress *p, const char *tool, const char *unit,
    int64_t total, int no_progress);
/* Sets the count done so far (and the total, when now known: >= 0). */
void cx_progress_update(cx_progress *p, int64_t done, int64_t total);
/* Counts one more done. */
void cx_progress_step(cx_progress *p);
/* Draws the final count and ends the line (when it drew anything). */
void cx_progress_end(cx_progress *p);

#endif
