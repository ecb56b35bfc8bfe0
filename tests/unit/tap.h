/* tap.h: the TAP lines of a unit test program ("ok N - ..." / "not ok N -
 * ..."), which tests/run counts; each program includes it once and ends
 * with printf("1..%d\n", n_tests) and its status, n_failed ? 1 : 0. */
#ifndef CX_TAP_H
#define CX_TAP_H

#include <stdio.h>
#include <string.h>

static int n_tests, n_failed;

static inline void check(int ok, const char *what)
{
	n_tests++;
	if (!ok)
		n_failed++;
	printf("%sok %d - %s\n", ok ? "" : "not ", n_tests, what);
}

static inline void check_str(const char *got, const char *want, const char *what)
{
	int ok = got && strcmp(got, want) == 0;

	check(ok, what);
	if (!ok)
		printf("#   got  '%s'\n#   want '%s'\n", got ? got : "(null)", want);
}

#endif
