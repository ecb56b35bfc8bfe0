/* latency.c: the latency histogram of cx-publish's send requests, kept
 * in the state file's counters (publish_tool.h). */
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "publish_tool.h"

/* Upper bounds of the latency buckets, in milliseconds and as labels. */
static const struct {
	int64_t ms;
	const char *le;
} latency_bounds[PUBLISH_LATENCY_BUCKETS] = {
	{ 5, "0.005" }, { 10, "0.01" }, { 25, "0.025" }, { 50, "0.05" }, { 100, "0.1" },
	{ 250, "0.25" }, { 500, "0.5" }, { 1000, "1" }, { 2500, "2.5" }, { 5000, "5" },
	{ 10000, "10" }, { 30000, "30" }, { 60000, "60" }, { -1, "+Inf" },
};

void publish_latency_observe(publish_latency *h, int64_t ms)
{
	size_t i = 0;

	if (ms < 0)
		ms = 0;
	while (latency_bounds[i].ms >= 0 && ms > latency_bounds[i].ms)
		i++;
	h->bucket[i]++;
	h->count++;
	h->sum_ms += ms;
}

static int latency_counter(cx_store *s, const char *name, const char *channel,
    const char *le, int64_t delta, cx_err *err)
{
	char *labels = le ? cx_metrics_labels("channel", channel, "le", le, NULL) :
	    cx_metrics_labels("channel", channel, NULL);
	int rc = cx_metrics_add(s, name, labels, delta, err);

	free(labels);
	return rc;
}

int publish_latency_add(cx_store *s, const char *channel, publish_latency *h,
    cx_err *err)
{
	int64_t below = 0;
	int rc = 0;

	for (size_t i = 0; i < PUBLISH_LATENCY_BUCKETS && h->count > 0 && rc == 0; i++) {
		below += h->bucket[i];
		rc = latency_counter(s, "cx_publish_latency_seconds_bucket", channel,
		    latency_bounds[i].le, below, err);
	}
	if (rc == 0 && h->count > 0 && (latency_counter(s, "cx_publish_latency_seconds_count",
	    channel, NULL, h->count, err) < 0 || latency_counter(s,
	    "cx_publish_latency_milliseconds_total", channel, NULL, h->sum_ms, err) < 0))
		rc = -1;
	memset(h, 0, sizeof *h);
	return rc;
}
