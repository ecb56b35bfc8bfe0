/* unicode.h: UTF-8 text as code points, and Unicode canonical composition
 * (NFC) without ICU. Inputs are the caller's (UTF-8; invalid bytes decode
 * as U+FFFD, one byte each); cx_unicode_nfc returns a new string and
 * cx_codepoints arrays own their cp, both freed by the caller (free). */
#ifndef CX_UNICODE_H
#define CX_UNICODE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	uint32_t *cp;
	size_t n, cap;
} cx_codepoints;

/* Appends the code points of s to *out. */
void cx_unicode_decode(const char *s, size_t len, cx_codepoints *out);
/* Puts *a in NFC, in place. */
void cx_unicode_compose(cx_codepoints *a);
/* The UTF-8 of a's code points as a new NUL-terminated string; *outlen
 * (may be NULL) gets its length. */
char *cx_unicode_encode(const cx_codepoints *a, size_t *outlen);

/* The canonical composition (NFC) of s as a new NUL-terminated string;
 * *outlen (may be NULL) gets its length. Covers every canonical
 * decomposition and combining class of Unicode 14 except the CJK
 * compatibility ideographs, which stay as they are. */
char *cx_unicode_nfc(const char *s, size_t len, size_t *outlen);

/* Code points in s. */
size_t cx_unicode_codepoints(const char *s, size_t len);

#endif
