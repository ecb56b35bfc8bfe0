/* config.c: settings from the environment and NAME / NAME_FILE secrets. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "crypto.h"
#include "exit.h"
#include "xalloc.h"

const char *cx_config_get(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

int cx_config_int(const char *name, int64_t def, int64_t *out, cx_err *err)
{
	const char *v = cx_config_get(name, NULL);
	char *end;
	long long n;

	if (!v) {
		*out = def;
		return 0;
	}
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno || *end != '\0')
		return cx_err_set(err, CX_EXIT_CONFIG, "%s must be an integer", name);
	*out = n;
	return 0;
}

static int read_secret_file(const char *name, const char *path, char **out,
    cx_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	size_t len = 0;
	ssize_t n;

	if (fd < 0)
		return cx_err_set(err, CX_EXIT_CONFIG, "%s_FILE: cannot read %s: %s",
		    name, path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > 65536) {
		close(fd);
		return cx_err_set(err, CX_EXIT_CONFIG,
		    "%s_FILE: %s is not a regular file of at most 64 KiB", name, path);
	}
	buf = cx_xmalloc((size_t)st.st_size + 1);
	while ((n = read(fd, buf + len, (size_t)st.st_size - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (n < 0) {
		cx_secret_free(buf);
		return cx_err_set(err, CX_EXIT_CONFIG, "%s_FILE: read error", name);
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	*out = buf;
	return 1;
}

int cx_secret_get(const char *name, char **out, cx_err *err)
{
	const char *v = cx_config_get(name, NULL);
	char *fname = cx_xasprintf("%s_FILE", name);
	const char *path = cx_config_get(fname, NULL);

	free(fname);
	if (v && path)
		return cx_err_set(err, CX_EXIT_CONFIG,
		    "both %s and %s_FILE are set; keep one", name, name);
	if (v) {
		*out = cx_xstrdup(v);
		return 1;
	}
	if (path)
		return read_secret_file(name, path, out, err);
	return 0;
}

int cx_secret_is_set(const char *name)
{
	char *fname = cx_xasprintf("%s_FILE", name);
	int set = cx_config_get(name, NULL) || cx_config_get(fname, NULL);

	free(fname);
	return set;
}

void cx_secret_free(char *secret)
{
	if (!secret)
		return;
	cx_crypto_wipe(secret, strlen(secret));
	free(secret);
}

int cx_secret_for_tenant(const char *name, const char *tenant, char **out, cx_err *err)
{
	char own[160];
	size_t n;
	int rc;

	n = (size_t)snprintf(own, sizeof own, "%s_", name);
	for (const char *c = tenant; *c && n + 1 < sizeof own; c++)
		own[n++] = isalnum((unsigned char)*c) ? (char)toupper((unsigned char)*c) : '_';
	own[n] = '\0';
	*out = NULL;
	if ((rc = cx_secret_get(own, out, err)) != 0)
		return rc < 0 ? -1 : 0;
	return cx_secret_get(name, out, err) < 0 ? -1 : 0;
}
