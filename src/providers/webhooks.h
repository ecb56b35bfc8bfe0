/* webhooks.h: the registry of webhook sources (webhook.h): which sources
 * cx-ingest knows, and their routes in order (every route of the first
 * source, then the second's...). Everything returned is static. */
#ifndef CX_WEBHOOKS_H
#define CX_WEBHOOKS_H

#include <stddef.h>

#include "webhook.h"

/* The i-th source, or NULL past the last. */
const cx_webhook_source *cx_webhooks_source(size_t i);
/* The i-th route, or NULL past the last; *src (unless NULL) gets its source
 * and *source_index (unless NULL) that source's index. */
const char *cx_webhooks_route(size_t i, const cx_webhook_source **src,
    size_t *source_index);
/* The index of the route called name (with *src and *source_index as
 * above), or -1. */
int cx_webhooks_find(const char *name, const cx_webhook_source **src,
    size_t *source_index);

#endif
