/* sources.c: the sync sources of cx-sync, in the order its help lists
 * them. A new platform's source is one line here. */
#include <string.h>

#include "caldav.h"
#include "gcal.h"
#include "mentions.h"
#include "sources.h"

static const cx_source *const sources[] = {
	&gcal_source,
	&caldav_source,
	&x_mentions_source,
	NULL,
};

const cx_source *cx_sources_get(size_t i)
{
	return i < sizeof sources / sizeof *sources ? sources[i] : NULL;
}

const cx_source *cx_sources_find(const char *name)
{
	for (size_t i = 0; sources[i]; i++)
		if (strcmp(sources[i]->name, name) == 0)
			return sources[i];
	return NULL;
}
