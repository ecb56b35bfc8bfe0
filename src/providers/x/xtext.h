/* xtext.h: text the way X counts it, and Unicode NFC without ICU.
 * cx_xtext_parse follows twitter-text's parseTweet with the v3
 * configuration: the text is NFC-normalized, every URL counts 23, every
 * emoji sequence 2, code points in 0-4351, 8192-8205, 8208-8223 and
 * 8242-8247 count 1 and all others 2; at most 280. Inputs are the caller's
 * (UTF-8; invalid bytes count as U+FFFD); cx_xtext_nfc returns a new string
 * the caller frees. */
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

/* The canonical composition (NFC) of s as a new NUL-terminated string;
 * *outlen (may be NULL) gets its length. Covers every canonical
 * decomposition and combining class of Unicode 14 except the CJK
 * compatibility ideographs, which stay as they are. */
char *cx_xtext_nfc(const char *s, size_t len, size_t *outlen);

/* Code points in s (for the plain character limits of other channels). */
size_t cx_xtext_codepoints(const char *s, size_t len);

#endif
