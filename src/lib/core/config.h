/* config.h: configuration from the environment (configfile.h loads a
 * KEY=value file into it), and secrets that may come from NAME or NAME_FILE.
 * Strings returned by cx_secret_get are the caller's: release them with
 * cx_secret_free, which wipes them. */
#ifndef CX_CONFIG_H
#define CX_CONFIG_H

#include <stdint.h>

#include "err.h"

/* getenv, but "" counts as unset; returns def then. */
const char *cx_config_get(const char *name, const char *def);
/* Integer setting with a default; a malformed value is a config error. */
int cx_config_int(const char *name, int64_t def, int64_t *out, cx_err *err);

/* A secret from NAME, else from the file named by NAME_FILE (one trailing
 * newline removed). Returns 1 and *out when found, 0 when neither is set,
 * -1 with err when the file cannot be read or both are set. */
int cx_secret_get(const char *name, char **out, cx_err *err);
/* NAME_<TENANT> (tenant upper-cased, other characters "_"), else NAME, each
 * also as _FILE, as cx_secret_get; *out NULL when neither is set. */
int cx_secret_for_tenant(const char *name, const char *tenant, char **out, cx_err *err);
/* Whether the secret is configured (NAME or NAME_FILE), without reading it. */
int cx_secret_is_set(const char *name);
void cx_secret_free(char *secret);

#endif
