/* latency.c: the latency histogram of cx-publish's send requests, kept
 * in the state file's counters (publish_tool.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channels.h"
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

/* h as the histogram <prefix>_seconds (buckets and count) with its sum as
 * <prefix>_milliseconds_total. */
static int histogram_add(cx_store *s, const char *prefix, const char *channel,
    const publish_latency *h, cx_err *err)
{
	char name[64];
	int64_t below = 0;

	for (size_t i = 0; i < PUBLISH_LATENCY_BUCKETS; i++) {
		below += h->bucket[i];
		snprintf(name, sizeof name, "%s_seconds_bucket", prefix);
		if (latency_counter(s, name, channel, latency_bounds[i].le, below, err) < 0)
			return -1;
	}
	snprintf(name, sizeof name, "%s_seconds_count", prefix);
	if (latency_counter(s, name, channel, NULL, h->count, err) < 0)
		return -1;
	snprintf(name, sizeof name, "%s_milliseconds_total", prefix);
	return latency_counter(s, name, channel, NULL, h->sum_ms, err);
}

int publish_latency_add(cx_store *s, const char *channel, publish_latency *h,
    cx_err *err)
{
	const cx_channel *ch = cx_channels_find(channel);
	int rc = 0;

	if (h->count > 0)
		rc = histogram_add(s, "cx_publish_latency", channel, h, err);
	if (rc == 0 && h->count > 0 && ch && ch->rollback)
		rc = histogram_add(s, "cx_delivery_latency", channel, h, err);
	memset(h, 0, sizeof *h);
	return rc;
}
