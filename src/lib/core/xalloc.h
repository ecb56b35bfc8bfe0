/* xalloc.h: checked allocation. Out of memory is handled here, in one place:
 * the process logs and exits 75 (temporary failure). Callers free what these
 * return with free(). */
#ifndef CX_XALLOC_H
#define CX_XALLOC_H

#include <stddef.h>

void *cx_xmalloc(size_t n);
void *cx_xcalloc(size_t n, size_t size);
void *cx_xrealloc(void *p, size_t n);
char *cx_xstrdup(const char *s);
char *cx_xstrndup(const char *s, size_t n);
/* printf into a new string. */
char *cx_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
