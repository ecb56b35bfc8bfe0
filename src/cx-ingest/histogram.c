/* histogram.c: what cx-ingest serve counts in memory: the latency and
 * body-size histograms /metrics writes as Prometheus text, and counter
 * deltas waiting for the writer's next transaction. */
#include <stdlib.h>
#include <string.h>

#include "ingest.h"
#include "metrics.h"
#include "xalloc.h"

void deltas_add(delta **list, const char *name, const char *labels, int64_t n)
{
	delta *d;

	for (d = *list; d; d = d->next) {
		if (strcmp(d->name, name) == 0 && strcmp(d->labels, labels) == 0) {
			d->n += n;
			return;
		}
	}
	d = cx_xcalloc(1, sizeof *d);
	d->name = cx_xstrdup(name);
	d->labels = cx_xstrdup(labels);
	d->n = n;
	d->next = *list;
	*list = d;
}

int deltas_flush(cx_store *s, const delta *list, cx_err *err)
{
	for (const delta *d = list; d; d = d->next)
		if (cx_metrics_add(s, d->name, d->labels, d->n, err) < 0)
			return -1;
	return 0;
}

void deltas_free(delta *list)
{
	while (list) {
		delta *next = list->next;

		free(list->name);
		free(list->labels);
		free(list);
		list = next;
	}
}

void observe(histogram *h, const double *bounds, size_t n, double v)
{
	h->sum += v;
	h->count++;
	for (size_t i = 0; i < n; i++)
		if (v <= bounds[i])
			h->buckets[i]++;
}

void write_histogram(FILE *out, const char *name, const char *help,
    const histogram *h, const double *bounds, size_t n)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%s_bucket{le=\"%.10g\"} %llu\n", name, bounds[i],
		    (unsigned long long)h->buckets[i]);
	fprintf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %g\n%s_count %llu\n", name,
	    (unsigned long long)h->count, name, h->sum, name,
	    (unsigned long long)h->count);
}
