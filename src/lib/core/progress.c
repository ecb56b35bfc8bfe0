/* progress.c: the terminal progress line of long runs (see progress.h). */
#include <stdio.h>
#include <unistd.h>

#include "clock.h"
#include "progress.h"

#define REDRAW_MS 250

static void draw(cx_progress *p)
{
	if (p->total > 0)
		fprintf(stderr, "\r\033[K%s: %lld/%lld %s (%lld%%)", p->tool, (long long)p->done,
		    (long long)p->total, p->unit, (long long)(p->done * 100 / p->total));
	else
		fprintf(stderr, "\r\033[K%s: %lld %s", p->tool, (long long)p->done, p->unit);
	fflush(stderr);
	p->drawn_ms = cx_clock_mono_ms();
}

void cx_progress_start(cx_progress *p, const char *tool, const char *unit,
    int64_t total, int no_progress)
{
	p->tool = tool;
	p->unit = unit;
	p->on = !no_progress && isatty(STDERR_FILENO);
	p->done = 0;
	p->total = total;
	p->drawn_ms = -1;
}

void cx_progress_update(cx_progress *p, int64_t done, int64_t total)
{
	if (!p->on)
		return;
	p->done = done;
	if (total >= 0)
		p->total = total;
	if (p->drawn_ms < 0 || cx_clock_mono_ms() - p->drawn_ms >= REDRAW_MS)
		draw(p);
}

void cx_progress_step(cx_progress *p)
{
	cx_progress_update(p, p->done + 1, -1);
}

void cx_progress_end(cx_progress *p)
{
	if (!p->on || p->drawn_ms < 0)
		return;
	draw(p);
	fputc('\n', stderr);
	p->on = 0;
}
