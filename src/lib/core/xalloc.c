/* xalloc.c: checked allocation; the only place that handles out of memory. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exit.h"
#include "xalloc.h"

static void *oom(void)
{
	static const char msg[] = "cx: out of memory\n";

	if (write(2, msg, sizeof msg - 1) < 0)
		_exit(CX_EXIT_TEMPFAIL);
	_exit(CX_EXIT_TEMPFAIL);
}

void *cx_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	return p ? p : oom();
}

void *cx_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	return p ? p : oom();
}

void *cx_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	return q ? q : oom();
}

char *cx_xstrdup(const char *s)
{
	return cx_xstrndup(s, strlen(s));
}

char *cx_xstrndup(const char *s, size_t n)
{
	char *p = cx_xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *cx_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return oom();
	p = cx_xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}
