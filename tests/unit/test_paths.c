/* test_paths.c: moving a file aside (cx_paths_move: rename, or copy, fsync
 * and unlink across file systems) and writing a new file
 * (cx_paths_write_new), as cx-publish's rejected folder uses them. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"
#include "tap.h"

/* The content of path (at most 63 bytes), or "" when it cannot be read. */
static const char *content(const char *path)
{
	static char buf[64];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? 0 : read(fd, buf, sizeof buf - 1);

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void make(const char *path, const char *text)
{
	cx_err err = { 0, "" };

	check(cx_paths_write_new(path, text, strlen(text), &err) == 0, "a new file is written");
}

/* Moves within dir a, and from a to b (which may be another file system). */
static void moves(const char *a, const char *b)
{
	char from[512], to[512], other[512];
	cx_err err = { 0, "" };
	struct stat st;

	snprintf(from, sizeof from, "%s/pkg.zip", a);
	snprintf(to, sizeof to, "%s/moved.zip", a);
	snprintf(other, sizeof other, "%s/pkg.zip", b);
	make(from, "package bytes");
	check(cx_paths_write_new(from, "x", 1, &err) < 0 && strstr(err.msg, "pkg.zip"),
	    "an existing file is not overwritten");
	check(cx_paths_move(from, to, &err) == 0, "a move within one folder");
	check_str(content(to), "package bytes", "the moved file keeps its bytes");
	check(stat(from, &st) < 0, "nothing is left behind");
	check(cx_paths_move(to, other, &err) == 0, "a move to another folder (or file system)");
	check_str(content(other), "package bytes", "the bytes arrive whole");
	check(stat(to, &st) < 0, "the source is gone once the copy is safe");
	make(to, "second");
	check(cx_paths_move(to, other, &err) < 0 && strstr(err.msg, "exists"),
	    "a move never replaces a file");
	check_str(content(to), "second", "the refused source stays where it was");
	check_str(content(other), "package bytes", "the target is untouched");
	check(cx_paths_move("/nonexistent/cx-test", to, &err) < 0, "a missing source fails");
	unlink(to);
	unlink(other);
}

int main(void)
{
	char a[] = "/tmp/cx-paths-a-XXXXXX", b[] = "/dev/shm/cx-paths-b-XXXXXX";
	char c[] = "/tmp/cx-paths-c-XXXXXX";

	if (!mkdtemp(a) || !mkdtemp(c))
		return 1;
	moves(a, c);
	/* /dev/shm is another file system on most machines: rename fails with
	 * EXDEV there and the copy path runs */
	if (mkdtemp(b)) {
		moves(a, b);
		rmdir(b);
	}
	rmdir(a);
	rmdir(c);
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
