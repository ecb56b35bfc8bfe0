/* xtext.h: text the way X counts it.
 * cx_xtext_parse follows twitter-text's parseTweet with the v3
 * configuration: the text is NFC-normalized, every URL counts 23, every
 * emoji sequence 2, code points in 0-4351, 8192-8205, 8208-8223 and
 * 8242-8247 count 1 and all others 2; at most 280. Inputs are the caller's
 * (UTF-8; invalid bytes count as U+FFFD). */
#ifndef CX_XTEXT_H
#define CX_XTEXT_H

#include <stddef.h>

#define CX_XTEXT_MAX 280          /* weighted characters in a post */
#define CX_XTEXT_URL_LENGTH 23    /* what every URL counts */

typedef struct {
	long weighted;       /* the weighted length, in characters */
	int valid;           /* 0 < weighted <= CX_XTEXT_MAX, no invalid characters */
	int invalid_chars;   /* U+FFFE, U+FEFF and U+FFFF found (X refuses them) */
	int urls;            /* URLs counted as CX_XTEXT_URL_LENGTH */
	int emoji;           /* emoji sequences counted as 2 */
} cx_xtext_info;

void cx_xtext_parse(const char *s, size_t len, cx_xtext_info *out);

#endif
