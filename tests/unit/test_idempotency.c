/* Unit tests of the store of automation actions: idempotency records (found
 * within the TTL, absent after it, replaced and pruned), the daily counts,
 * and the ",burst=B" of a rate, on a state file in a temporary directory.
 * Prints TAP lines; tests/run counts them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idempotency.h"
#include "ratelimit.h"
#include "store.h"

#include "tap.h"
#include "tmpstore.h"

static int records(cx_store *s)
{
	cx_stmt *st = cx_store_prepare(s, "SELECT count(*) FROM action_idempotency", NULL);
	int n = -1;

	if (st && cx_stmt_step(st, NULL) == 1)
		n = (int)cx_stmt_col_int(st, 0);
	cx_stmt_reset(st);
	return n;
}

static void test_records(cx_store *s)
{
	unsigned char a[CX_SHA256_LEN], b[CX_SHA256_LEN], got[CX_SHA256_LEN];
	cx_err err = { 0, "" };
	char *resp = NULL;
	int status = 0;

	memset(a, 1, sizeof a);
	memset(b, 2, sizeof b);
	check(cx_store_begin(s, &err) == 0 &&
	    cx_idempotency_record_in(s, "int_1", "k", a, 202, "{\"ok\":true}\n", "act_1", 7,
	    1000, 0, &err) == 0, "an answer is recorded");
	check(cx_idempotency_find_in(s, "int_1", "k", 1000, got, &status, &resp, &err) == 1 &&
	    status == 202 && memcmp(got, a, sizeof a) == 0, "and found with its request");
	check_str(resp, "{\"ok\":true}\n", "and its answer byte for byte");
	free(resp);
	resp = NULL;
	check(cx_idempotency_find_in(s, "int_2", "k", 0, got, &status, &resp, &err) == 0,
	    "another integration's key is not found");
	check(cx_idempotency_find_in(s, "int_1", "k", 1001, got, &status, &resp, &err) == 0,
	    "a record older than the TTL counts as absent");
	check(cx_idempotency_record_in(s, "int_1", "k", b, 202, "new", "act_2", 8, 5000, 0,
	    &err) == 0 && cx_idempotency_find_in(s, "int_1", "k", 4000, got, &status, &resp,
	    &err) == 1 && memcmp(got, b, sizeof b) == 0, "an expired record is replaced");
	free(resp);
	check(cx_idempotency_record_in(s, "int_1", "j", a, 202, "x", "act_3", 9, 9000, 6000,
	    &err) == 0 && records(s) == 1, "recording prunes records older than the TTL");
	cx_store_rollback(s);
}

static void test_daily(cx_store *s)
{
	cx_err err = { 0, "" };
	int64_t calls = -1;

	check(cx_store_begin(s, &err) == 0 &&
	    cx_idempotency_daily_calls_in(s, "acme", 20000, &calls, &err) == 0 && calls == 0,
	    "a tenant without calls today has 0");
	cx_idempotency_daily_count_in(s, "acme", 20000, &err);
	cx_idempotency_daily_count_in(s, "acme", 20000, &err);
	cx_idempotency_daily_count_in(s, "acme", 20001, &err);
	check(cx_idempotency_daily_calls_in(s, "acme", 20000, &calls, &err) == 0 && calls == 2,
	    "calls are counted per day");
	check(cx_idempotency_daily_calls_in(s, "globex", 20000, &calls, &err) == 0 && calls == 0,
	    "and per tenant");
	cx_store_rollback(s);
}

static void test_burst(void)
{
	cx_ratelimit r;
	cx_err err = { 0, "" };

	check(cx_ratelimit_parse("10", &r, &err) == 0 && r.rate == 10 && r.burst == 10,
	    "a rate without burst holds N tokens");
	check(cx_ratelimit_parse("10,burst=20", &r, &err) == 0 && r.rate == 10 &&
	    r.burst == 20, ",burst=B sets the bucket's size");
	check(cx_ratelimit_parse("1/3600,burst=8", &r, &err) == 0 && r.burst == 8,
	    "after N/S too");
	check(cx_ratelimit_parse("10,burst=0", &r, &err) < 0 &&
	    cx_ratelimit_parse("10,burst=", &r, &err) < 0 &&
	    cx_ratelimit_parse("10,bust=3", &r, &err) < 0 &&
	    cx_ratelimit_parse("10,burst=3x", &r, &err) < 0, "a malformed burst is refused");
}

int main(void)
{
	tmpstore t;
	cx_store *s = tmpstore_open(&t, "idempotency");

	if (s) {
		test_records(s);
		test_daily(s);
	}
	tmpstore_close(&t);
	test_burst();
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
