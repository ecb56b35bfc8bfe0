/* Unit tests of the store calls no command reaches by itself (the feedback
 * stage and cx-publish use them): pausing a channel for a tenant, reading
 * the pause, and the suppression list's put and check, on a state file in
 * a temporary directory. Prints TAP lines; tests/run counts them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "suppressions.h"
#include "tenants.h"

#include "tap.h"
#include "tmpstore.h"

static void test_pauses(cx_store *s)
{
	cx_err err = { 0, "" };
	char *code = NULL, *reason = NULL;
	int paused = -1, was = -1;

	check(cx_tenants_paused(s, "acme", "email", &code, &reason, &err) == 0 && !code,
	    "a channel never paused is not paused");
	check(cx_tenants_pause(s, "acme", "email", "EMAIL_REPUTATION", "bounce rate 6%",
	    &paused, &err) == 0 && paused == 1, "the first pause pauses");
	check(cx_tenants_pause(s, "acme", "email", "EMAIL_REPUTATION", "again", &paused,
	    &err) == 0 && paused == 0, "a second pause of the same channel changes nothing");
	check(cx_tenants_paused(s, "acme", "email", &code, &reason, &err) == 1,
	    "the paused channel reads as paused");
	check_str(code, "EMAIL_REPUTATION", "with the error code of the first pause");
	check_str(reason, "bounce rate 6%", "and its reason");
	free(code);
	free(reason);
	check(cx_tenants_paused(s, "acme", "x", &code, &reason, &err) == 0,
	    "another channel of the tenant is not paused");
	check(cx_tenants_resume(s, "acme", "email", "nobody-here", &was, &err) == -1 &&
	    err.code == 77, "resume by a user who is not an operator is refused");
	check(cx_tenants_paused(s, "acme", "email", &code, &reason, &err) == 1,
	    "and the channel stays paused");
	free(code);
	free(reason);
}

static void test_suppressions(cx_store *s)
{
	cx_err err = { 0, "" };
	char *reason = NULL;
	int added = -1;

	check(cx_suppressions_put(s, "acme", "Jane@Example.com", "hard bounce",
	    "feedback:email.bounced", &added, &err) == 0 && added == 1,
	    "put adds an address");
	check(cx_suppressions_put(s, "acme", "jane@example.com", "again",
	    "feedback:email.bounced", &added, &err) == 0 && added == 0,
	    "put of the same address in other case adds nothing");
	check(cx_suppressions_check(s, "acme", 0, "JANE@example.COM", &reason, &err) == 1,
	    "check finds it whatever the case");
	check_str(reason, "hard bounce", "with the first reason");
	free(reason);
	check(cx_suppressions_check(s, "beta", 1, "jane@example.com", &reason, &err) == 0 &&
	    !reason, "another tenant's suppression does not apply");
	check(cx_suppressions_put(s, CX_SUPPRESS_DEFAULT_PLAN, "bob@example.net", "complaint",
	    "feedback:email.complained", &added, &err) == 0 && added == 1,
	    "put adds to the shared default-plan scope");
	check(cx_suppressions_check(s, "beta", 1, "bob@example.net", &reason, &err) == 1,
	    "a default-plan tenant sees the shared scope");
	free(reason);
	check(cx_suppressions_check(s, "beta", 0, "bob@example.net", &reason, &err) == 0,
	    "a tenant on another plan does not");
}

int main(void)
{
	tmpstore t;
	cx_store *s = tmpstore_open(&t, "tenants");

	if (s) {
		test_pauses(s);
		test_suppressions(s);
	}
	tmpstore_close(&t);
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
