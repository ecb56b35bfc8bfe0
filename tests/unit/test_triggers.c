/* Unit tests of the trigger store (triggers.h): the samples of a tenant and
 * type (newest first, the newest CX_TRIGGER_SAMPLES_KEPT kept, a dedupe key
 * recorded once), and the due deliveries, taken in turns across
 * subscriptions, on a state file in a temporary directory. Prints TAP
 * lines; tests/run counts them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "integrations.h"
#include "store.h"
#include "subscriptions.h"
#include "tokencrypt.h"
#include "triggers.h"

#include "tap.h"
#include "tmpstore.h"

#define TEST_TOKEN_KEY "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static void test_samples(cx_store *s)
{
	cx_err err = { 0, "" };
	int ok = 1;
	jv got, text;

	for (int i = 0; i < CX_TRIGGER_SAMPLES_KEPT + 20 && ok; i++) {
		char key[32], payload[64];

		snprintf(key, sizeof key, "k%d", i);
		snprintf(payload, sizeof payload, "{\"type\":\"message\",\"n\":%d}", i);
		ok = cx_store_begin(s, &err) == 0 &&
		    cx_trigger_samples_record_in(s, "acme", "message", key, payload, 1000 + i,
		    &err) == 0 && cx_store_commit(s, &err) == 0;
	}
	check(ok, "120 samples are recorded");
	check(cx_store_begin(s, &err) == 0 && cx_trigger_samples_record_in(s, "acme", "message",
	    "k119", "{\"n\":-1}", 5000, &err) == 0 && cx_store_commit(s, &err) == 0,
	    "a dedupe key recorded again is no error");
	check(cx_trigger_samples_latest(s, "acme", "message", 3, &got, &err) == 0,
	    "the latest samples are read");
	text = jv_dump_string(got, 0);
	check_str(jv_string_value(text),
	    "[{\"type\":\"message\",\"n\":119},{\"type\":\"message\",\"n\":118},"
	    "{\"type\":\"message\",\"n\":117}]", "newest first, the repeated key unchanged");
	jv_free(text);
	check(cx_trigger_samples_latest(s, "acme", "message", 1000, &got, &err) == 0 &&
	    jv_array_length(jv_copy(got)) == CX_TRIGGER_SAMPLES_KEPT,
	    "only the newest 100 are kept");
	jv_free(got);
	check(cx_trigger_samples_latest(s, "other", "message", 10, &got, &err) == 0 &&
	    jv_array_length(jv_copy(got)) == 0, "another tenant has none");
	jv_free(got);
}

typedef struct {
	char order[256];
} due_seen;

static void on_due(int64_t id, const char *sub, void *ctx)
{
	due_seen *d = ctx;
	size_t n = strlen(d->order);

	(void)sub;
	snprintf(d->order + n, sizeof d->order - n, "%s%lld", n ? " " : "", (long long)id);
}

static void collect(jv row, void *ctx)
{
	jv *rows = ctx;

	*rows = jv_array_append(*rows, row);
}

/* Three deliveries to subscription a, then two to b: due in turns. */
static void test_due(cx_store *s, const cx_tokenkeys *keys)
{
	cx_err err = { 0, "" };
	char *id = NULL, *key = NULL, *a = NULL, *b = NULL;
	jv subs = jv_array(), first;
	due_seen seen = { "" };
	int ok, added = 0;

	ok = cx_integrations_create(s, "acme", "make", "m", "trigger:message", "tester", &id,
	    &key, &err) == 0 &&
	    cx_subscriptions_create(s, keys, id, "message", "http://127.0.0.1:9/a", "cli",
	    "tester", &a, NULL, &err) == 0 &&
	    cx_subscriptions_create(s, keys, id, "message", "http://127.0.0.1:9/b", "cli",
	    "tester", &b, NULL, &err) == 0 &&
	    cx_subscriptions_matching(s, "acme", "message", collect, &subs, &err) == 0;
	check(ok && jv_array_length(jv_copy(subs)) == 2, "two subscriptions match");
	ok = ok && cx_store_begin(s, &err) == 0;
	for (int i = 0; ok && i < 5; i++) {
		jv sub = jv_array_get(jv_copy(subs), i < 3 ? 0 : 1);
		char dkey[16];

		snprintf(dkey, sizeof dkey, "e%d", i);
		ok = cx_trigger_deliveries_enqueue_in(s, sub, "message", dkey, "{}", "c-1", &added,
		    &err) == 0 && added;
		jv_free(sub);
	}
	first = jv_array_get(jv_copy(subs), 0);
	ok = ok && cx_trigger_deliveries_enqueue_in(s, first, "message", "e0", "{}", "c-1",
	    &added, &err) == 0 && !added;
	jv_free(first);
	ok = ok && cx_store_commit(s, &err) == 0;
	check(ok, "five deliveries are enqueued, the same dedupe key again is not");
	check(cx_trigger_deliveries_due(s, 4102444800, 10, 10, on_due, &seen, &err) == 0,
	    "the due deliveries are read");
	check_str(seen.order, "1 4 2 5 3", "the subscriptions take turns");
	seen.order[0] = '\0';
	check(cx_trigger_deliveries_due(s, 4102444800, 1, 10, on_due, &seen, &err) == 0,
	    "the due deliveries are read, one of each");
	check_str(seen.order, "1 4", "per_sub cuts each subscription's share");
	jv_free(subs);
	free(id);
	free(key);
	free(a);
	free(b);
}

int main(void)
{
	tmpstore t;
	cx_store *s;
	cx_tokenkeys *keys = NULL;
	cx_err err = { 0, "" };

	unsetenv("CX_NOW");
	s = tmpstore_open(&t, "triggers");
	check(cx_tokenkeys_from_base64(TEST_TOKEN_KEY, "the test key", &keys, &err) == 0,
	    "a token key loads");
	if (s && keys) {
		test_samples(s);
		test_due(s, keys);
	}
	cx_tokenkeys_free(keys);
	tmpstore_close(&t);
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
