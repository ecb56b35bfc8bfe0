/* sources.h: the registry of sync sources (source.h): the cx-sync
 * subcommands that pull a platform with a cursor. Everything returned is
 * static. */
#ifndef CX_SOURCES_H
#define CX_SOURCES_H

#include <stddef.h>

#include "source.h"

/* The i-th source, or NULL past the last. */
const cx_source *cx_sources_get(size_t i);
/* The source called name, or NULL. */
const cx_source *cx_sources_find(const char *name);

#endif
