/* utf8.c: UTF-8 validation, shared by the NDJSON reader and the JSON check,
 * and the control characters text must not hold. */
#include <stdint.h>
#include <string.h>

#include "utf8.h"

int cx_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str, *e = s + len;

	while (s < e) {
		unsigned c = *s;
		size_t n;
		unsigned cp;

		if (c < 0x80) {
			uint64_t w;

			/* then whole words of ASCII at once */
			for (s++; e - s >= 8; s += 8) {
				memcpy(&w, s, 8);
				if (w & 0x8080808080808080u)
					break;
			}
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if ((size_t)(e - s) <= n)
			return 0;
		for (size_t i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		s += n + 1;
	}
	return 1;
}

int cx_utf8_has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}
