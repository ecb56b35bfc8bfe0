/* clock.h: the time every tool uses. CX_NOW (epoch seconds) overrides the
 * clock so tests can move time; all output is RFC 3339 UTC with Z. */
#ifndef CX_CLOCK_H
#define CX_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Seconds since the epoch: CX_NOW when set, else the real clock. */
int64_t cx_clock_now(void);
/* Milliseconds, for latencies; follows CX_NOW too (as whole seconds). */
int64_t cx_clock_now_ms(void);
/* Monotonic milliseconds for measuring durations; ignores CX_NOW. */
int64_t cx_clock_mono_ms(void);

#define CX_RFC3339_LEN 32
/* Writes "2026-11-23T10:00:00Z" (or with ".123Z" when ms >= 0) into buf. */
void cx_clock_rfc3339(int64_t secs, int ms, char buf[CX_RFC3339_LEN]);
/* Parses RFC 3339 (Z or ±hh:mm offset, optional fraction) into epoch seconds.
 * Returns 0, or -1 when s is not RFC 3339. */
int cx_clock_parse_rfc3339(const char *s, int64_t *secs);

#endif
