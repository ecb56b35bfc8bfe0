/* paths.c: locating share/cx and the binaries; creating parent dirs. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "exit.h"
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

/* Writes all of buf to fd. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int cx_paths_write_new(const char *path, const char *data, size_t len, cx_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0)
		return cx_err_set(err, CX_EXIT_TEMPFAIL, "cannot create %s: %s", path,
		    strerror(errno));
	if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		int e = errno;

		close(fd);
		unlink(path);
		return cx_err_set(err, CX_EXIT_TEMPFAIL, "cannot write %s: %s", path, strerror(e));
	}
	close(fd);
	return 0;
}

/* The copy of from at to (a new file), fsynced. */
static int copy_file(const char *from, const char *to, cx_err *err)
{
	char buf[1 << 16];
	int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
	ssize_t n;

	if (in < 0)
		return cx_err_set(err, CX_EXIT_DATAERR, "cannot open %s: %s", from,
		    strerror(errno));
	if ((out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		cx_err_set(err, CX_EXIT_TEMPFAIL, "cannot create %s: %s", to, strerror(errno));
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
		if (n > 0 && write_all(out, buf, (size_t)n) < 0)
			break;
	if (n == 0 && fsync(out) == 0)
		rc = 0;
	else
		cx_err_set(err, CX_EXIT_TEMPFAIL, "cannot copy %s to %s: %s", from, to,
		    strerror(errno));
	close(in);
	close(out);
	if (rc < 0)
		unlink(to);
	return rc;
}

int cx_paths_move(const char *from, const char *to, cx_err *err)
{
	struct stat st;

	if (lstat(to, &st) == 0)
		return cx_err_set(err, CX_EXIT_TEMPFAIL, "%s exists already", to);
	if (rename(from, to) == 0)
		return 0;
	if (errno != EXDEV)
		return cx_err_set(err, CX_EXIT_TEMPFAIL, "cannot move %s to %s: %s", from, to,
		    strerror(errno));
	if (copy_file(from, to, err) < 0)
		return -1;
	if (unlink(from) < 0)
		return cx_err_set(err, CX_EXIT_TEMPFAIL, "%s was copied to %s but cannot be removed: "
		    "%s", from, to, strerror(errno));
	return 0;
}
