/* configfile.h: a KEY=value config file (--config, $CX_CONFIG) loaded into
 * the environment, where config.h reads every setting. */
#ifndef CX_CONFIGFILE_H
#define CX_CONFIGFILE_H

#include "err.h"

/* Loads shell-style KEY=value lines (blank lines, # comments, `export`,
 * single or double quotes) into the environment, then re-reads the logging
 * settings (CX_LOG, CX_LOG_LEVEL). A variable that is already
 * set in the environment wins over the file. path NULL means $CX_CONFIG, and
 * nothing to do when that is unset too. */
int cx_config_load(const char *path, cx_err *err);

#endif
