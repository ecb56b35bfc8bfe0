/* presets.h: the registry of OAuth presets (the interface is
 * cx_oauth_preset in oauthprovider.h; each provider exports its object).
 * Tools that hold a provider name open it here; provider code opens its
 * own preset directly and never comes here. Presets are static data;
 * handles opened are the caller's (cx_oauth_provider_free). */
#ifndef CX_PRESETS_H
#define CX_PRESETS_H

#include <stddef.h>

#include "err.h"
#include "oauthprovider.h"

/* The i-th preset, or NULL past the last. */
const cx_oauth_preset *cx_presets_at(size_t i);
/* The preset called name, or NULL. */
const cx_oauth_preset *cx_presets_find(const char *name);

/* Whether name is a preset, or a generic name with settings (_ISSUER,
 * _AUTHORIZE_URL or _TOKEN_URL). */
int cx_presets_known(const char *name);

/* The handle for name: a preset, or a generic provider when name is a
 * valid one (letters, digits, ".", "_", "-"; 64 usage otherwise). Reads
 * _AUTH_METHOD (78 when it is not one of the three). No network. Fits
 * cx_oauth_open_fn (oauth.h). */
int cx_presets_open(const char *name, cx_oauth_provider **p, cx_err *err);

#endif
