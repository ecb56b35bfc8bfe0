/* webhooks.c: the webhook sources cx-ingest serves, in the order of their
 * routes. A new platform's source is one line here. */
#include <string.h>

#include "emailhooks.h"
#include "gcal.h"
#include "metahub.h"
#include "webhooks.h"

static const cx_webhook_source *const sources[] = {
	&meta_webhook,
	&gcal_webhook,
	&ses_webhook,
	&sendgrid_webhook,
	&mailgun_webhook,
	&sendgrid_inbound_webhook,
	&mailgun_inbound_webhook,
	NULL,
};

const cx_webhook_source *cx_webhooks_source(size_t i)
{
	return i < sizeof sources / sizeof *sources ? sources[i] : NULL;
}

const char *cx_webhooks_route(size_t i, const cx_webhook_source **src,
    size_t *source_index)
{
	for (size_t k = 0; sources[k]; k++) {
		for (const char *const *r = sources[k]->routes; *r; r++) {
			if (i-- > 0)
				continue;
			if (src)
				*src = sources[k];
			if (source_index)
				*source_index = k;
			return *r;
		}
	}
	return NULL;
}

int cx_webhooks_find(const char *name, const cx_webhook_source **src,
    size_t *source_index)
{
	const char *route;

	for (size_t i = 0; (route = cx_webhooks_route(i, src, source_index)); i++)
		if (strcmp(route, name) == 0)
			return (int)i;
	return -1;
}
