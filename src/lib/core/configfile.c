/* configfile.c: KEY=value config files loaded into the environment. It sits
 * above config.c and log.c: the file may set the logging settings. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "configfile.h"
#include "crypto.h"
#include "exit.h"
#include "log.h"

/* Unquotes a value in place: 'x' verbatim, "x" with \" \\ \$ escapes. */
static int unquote(char *v)
{
	size_t n = strlen(v);
	char *w = v;

	if (n >= 2 && v[0] == '\'' && v[n - 1] == '\'') {
		memmove(v, v + 1, n - 2);
		v[n - 2] = '\0';
		return 0;
	}
	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		v[n - 1] = '\0';
		for (char *r = v + 1; *r; r++) {
			if (*r == '\\' && r[1])
				r++;
			*w++ = *r;
		}
		*w = '\0';
		return 0;
	}
	return (v[0] == '"' || v[0] == '\'') ? -1 : 0;
}

static int valid_name(const char *k)
{
	if (!isalpha((unsigned char)*k) && *k != '_')
		return 0;
	for (; *k; k++)
		if (!isalnum((unsigned char)*k) && *k != '_')
			return 0;
	return 1;
}

int cx_config_load(const char *path, cx_err *err)
{
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;
	int rc = 0;

	if (!path)
		path = cx_config_get("CX_CONFIG", NULL);
	if (!path)
		return 0;
	f = fopen(path, "re");
	if (!f)
		return cx_err_set(err, CX_EXIT_CONFIG, "cannot read config %s: %s",
		    path, strerror(errno));
	while ((len = getline(&line, &cap, f)) >= 0) {
		char *k = line, *eq, *v;

		lineno++;
		while (len > 0 && isspace((unsigned char)line[len - 1]))
			line[--len] = '\0';
		while (isspace((unsigned char)*k))
			k++;
		if (*k == '\0' || *k == '#')
			continue;
		if (strncmp(k, "export ", 7) == 0)
			k += 7;
		eq = strchr(k, '=');
		if (!eq) {
			rc = cx_err_set(err, CX_EXIT_CONFIG,
			    "%s:%ld: expected KEY=value", path, lineno);
			break;
		}
		*eq = '\0';
		v = eq + 1;
		if (!valid_name(k) || unquote(v) < 0) {
			rc = cx_err_set(err, CX_EXIT_CONFIG,
			    "%s:%ld: malformed KEY=value line", path, lineno);
			break;
		}
		if (!getenv(k))
			setenv(k, v, 0);
	}
	if (line) {
		cx_crypto_wipe(line, cap);
		free(line);
	}
	fclose(f);
	/* CX_LOG and CX_LOG_LEVEL may come from the file too. */
	cx_log_init(cx_log_tool());
	return rc;
}
