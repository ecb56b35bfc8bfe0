/* presets.c: the OAuth presets by name. Adding one: its object here. */
#include <string.h>

#include "exit.h"
#include "googleoauth.h"
#include "metaoauth.h"
#include "presets.h"
#include "xoauth.h"

static const cx_oauth_preset *const presets[] = {
	&cx_x_oauth,
	&cx_google_oauth,
	&cx_meta_oauth,
};

const cx_oauth_preset *cx_presets_at(size_t i)
{
	return i < sizeof presets / sizeof presets[0] ? presets[i] : NULL;
}

const cx_oauth_preset *cx_presets_find(const char *name)
{
	for (size_t i = 0; name && i < sizeof presets / sizeof presets[0]; i++)
		if (strcmp(presets[i]->name, name) == 0)
			return presets[i];
	return NULL;
}

int cx_presets_known(const char *name)
{
	return cx_presets_find(name) || cx_oauth_provider_configured(name);
}

int cx_presets_open(const char *name, cx_oauth_provider **p, cx_err *err)
{
	const cx_oauth_preset *pre = cx_presets_find(name);

	*p = NULL;
	if (!pre && !cx_oauth_provider_name_valid(name))
		return cx_err_set(err, CX_EXIT_USAGE, "unknown_provider: '%s' is not a "
		    "provider name (x, google, meta, or letters, digits, '.', '_', '-' "
		    "configured by CX_OAUTH_<NAME>_*)", name ? name : "");
	return cx_oauth_provider_open(pre, name, p, err);
}
