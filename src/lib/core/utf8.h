/* utf8.h: UTF-8 text. */
#ifndef CX_UTF8_H
#define CX_UTF8_H

#include <stddef.h>

/* Validates UTF-8 (no overlongs, no surrogates); 1 when valid. */
int cx_utf8_valid(const char *s, size_t len);
/* 1 when s holds a control character (C0 or DEL): one that would end or
 * break a header line or a cell. */
int cx_utf8_has_control(const char *s);

#endif
