/* paths.c: locating share/cx and the binaries; creating parent dirs. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "paths.h"
#include "xalloc.h"

#ifndef CX_SHARE_DEFAULT
#define CX_SHARE_DEFAULT "/usr/local/share/cx"
#endif

const char *cx_paths_exe_dir(void)
{
	static char dir[PATH_MAX];
	ssize_t n;
	char *slash;

	if (dir[0])
		return dir;
	n = readlink("/proc/self/exe", dir, sizeof dir - 1);
	if (n <= 0) {
		strcpy(dir, ".");
		return dir;
	}
	dir[n] = '\0';
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	return dir;
}

char *cx_paths_share(const char *rel)
{
	const char *env = cx_config_get("CX_SHARE_DIR", NULL);
	char *p;
	struct stat st;

	if (env)
		return cx_xasprintf("%s/%s", env, rel);
	p = cx_xasprintf("%s/../share/cx", cx_paths_exe_dir());
	if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
		char *full = cx_xasprintf("%s/%s", p, rel);

		free(p);
		return full;
	}
	free(p);
	return cx_xasprintf("%s/%s", CX_SHARE_DEFAULT, rel);
}

int cx_paths_mkparents(const char *path, unsigned mode)
{
	char *p = cx_xstrdup(path);
	int rc = 0;

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			rc = -1;
			break;
		}
		*s = '/';
	}
	free(p);
	return rc;
}
