/* histogram.c: the latency and body-size histograms of cx-ingest serve,
 * kept in memory and written as Prometheus text by /metrics. */
#include "ingest.h"

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
