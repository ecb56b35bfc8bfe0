/* Unit tests of the upload channel's pieces: a target's settings and its
 * status answers (uploadtarget.h), the checks of an upload line (through
 * the channel registry) and the deliveries it keeps (deliveries.h). Prints
 * TAP lines; tests/run counts them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channels.h"
#include "deliveries.h"
#include "exit.h"
#include "json.h"
#include "uploadtarget.h"

#include "tap.h"
#include "tmpstore.h"

static void test_names(void)
{
	check(upload_target_name_ok("gotranscript") && upload_target_name_ok("go.t-1_x"),
	    "letters, digits, '.', '-' and '_' make a target name");
	check(!upload_target_name_ok("") && !upload_target_name_ok("a b") &&
	    !upload_target_name_ok("a/b") && !upload_target_name_ok(NULL) &&
	    !upload_target_name_ok("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
	    "an empty name, a space, a slash or 65 characters do not");
}

static void test_settings(void)
{
	upload_target t;
	cx_err err = { 0, "" };

	check(upload_target_load("bare", &t, &err) == 0 && !t.url && !t.status_url &&
	    !t.api_key && t.final[0] && strcmp(t.final[0], "delivered") == 0 && t.final[1] &&
	    strcmp(t.final[1], "rejected") == 0 && !t.final[2],
	    "a target without settings has no URL, no key and ends at delivered or rejected");
	upload_target_free(&t);
	setenv("CX_UPLOAD_URL_MY_T_2", "http://127.0.0.1:9/p", 1);
	setenv("CX_UPLOAD_API_KEY_MY_T_2", "k-2", 1);
	setenv("CX_UPLOAD_FINAL_MY_T_2", " Done , FAILED,,", 1);
	check(upload_target_load("my-t.2", &t, &err) == 0 && strcmp(t.env, "MY_T_2") == 0 &&
	    strcmp(t.url, "http://127.0.0.1:9/p") == 0 && strcmp(t.api_key, "k-2") == 0,
	    "settings are named by the target upper-cased, other characters '_'");
	check(t.final[0] && strcmp(t.final[0], "done") == 0 && t.final[1] &&
	    strcmp(t.final[1], "failed") == 0 && !t.final[2] && upload_target_final(&t, "done") &&
	    !upload_target_final(&t, "delivered"),
	    "the final statuses are a comma list, trimmed and lower-cased");
	upload_target_free(&t);
}

static void test_paths(void)
{
	static const char *const good[] = { ".", ".id", ".data.id", ".items[0][\"protocol-id\"]",
		".[\"a b\"]", ".a_1[12].b", NULL };
	static const char *const bad[] = { "repeat(.)", ".a|.b", "..", ".a.", "id", ".[x]",
		".a[\"x]", ".[]", ".a[-1]", ".a + 1", NULL };
	upload_target t;
	cx_err err = { 0, "" };
	int ok = 1;

	for (int i = 0; good[i]; i++) {
		setenv("CX_UPLOAD_ID_PATH_P", good[i], 1);
		if (upload_target_load("p", &t, &err) < 0) {
			printf("# %s: %s\n", good[i], err.msg);
			ok = 0;
		} else {
			upload_target_free(&t);
		}
	}
	check(ok, "an id path of fields and indexes compiles");
	ok = 1;
	for (int i = 0; bad[i]; i++) {
		setenv("CX_UPLOAD_ID_PATH_P", bad[i], 1);
		err.code = 0;
		if (upload_target_load("p", &t, &err) == 0 || err.code != CX_EXIT_CONFIG) {
			printf("# %s was taken\n", bad[i]);
			ok = 0;
		}
	}
	unsetenv("CX_UPLOAD_ID_PATH_P");
	check(ok, "anything else (a filter, a pipe, recursion, an iterator) is a configuration "
	    "error");
}

/* The status t finds in JSON text, as "status|raw", or "none". */
static const char *status_in(const upload_target *t, const char *text)
{
	static char out[300];
	char *status, *raw;
	jv body = jv_parse(text);

	if (upload_status_of(t, body, &status, &raw)) {
		snprintf(out, sizeof out, "%s|%s", status, raw);
		free(status);
		free(raw);
	} else {
		snprintf(out, sizeof out, "none");
	}
	jv_free(body);
	return out;
}

static void test_status(void)
{
	upload_target t;
	cx_err err = { 0, "" };
	char long_status[200];

	upload_target_load("s", &t, &err);
	check_str(status_in(&t, "{\"status\":\"In Review\"}"), "in review|In Review",
	    "a status is kept lower-cased and as the target said it");
	check_str(status_in(&t, "{\"status\":3}"), "3|3", "a number is a status too");
	check_str(status_in(&t, "{\"status\":null}"), "none", "null is no status");
	check_str(status_in(&t, "[1]"), "none", "an answer that is no object has no status");
	memset(long_status, 'a', 129);
	snprintf(long_status + 129, sizeof long_status - 129, "\"}");
	{
		char text[256];

		snprintf(text, sizeof text, "{\"status\":\"%s", long_status);
		check_str(status_in(&t, text), "none", "a status over 128 bytes is none");
	}
	upload_target_free(&t);
	setenv("CX_UPLOAD_STATUS_PATH_S", ".data.state", 1);
	upload_target_load("s", &t, &err);
	check_str(status_in(&t, "{\"data\":{\"state\":\"DONE\"},\"status\":\"x\"}"), "done|DONE",
	    "CX_UPLOAD_STATUS_PATH_<TARGET> says where the status is");
	upload_target_free(&t);
	unsetenv("CX_UPLOAD_STATUS_PATH_S");
}

/* The problem cx_channels_check finds in JSON text, or "ok". */
static const char *problem_of(const char *text)
{
	static char out[64];
	jv p = jv_parse(text);
	cx_queue_checked c;
	const char *problem = NULL;
	cx_err err = { 0, "" };

	snprintf(out, sizeof out, "%s", cx_channels_check(p, &c, &problem, &err) == 0 ? c.kind :
	    problem ? problem : "?");
	jv_free(p);
	return out;
}

static void test_checks(void)
{
	check_str(problem_of("{\"channel\":\"upload\",\"workspace\":\"w\",\"target\":\"t\","
	    "\"file\":\"/p.zip\",\"fields\":{\"job\":\"J-1\"}}"), "package",
	    "an upload line is of kind package");
	check_str(problem_of("{\"channel\":\"upload\",\"workspace\":\"w\",\"file\":\"/p.zip\"}"),
	    "missing_field", "a line without a target is refused");
	check_str(problem_of("{\"channel\":\"upload\",\"workspace\":\"w\",\"target\":\"a b\","
	    "\"file\":\"/p.zip\"}"), "missing_field", "a target that cannot be a name is refused");
	check_str(problem_of("{\"channel\":\"upload\",\"workspace\":\"w\",\"target\":\"t\","
	    "\"file\":\"p.zip\"}"), "missing_field", "a relative file is refused");
	check_str(problem_of("{\"channel\":\"upload\",\"workspace\":\"w\",\"target\":\"t\","
	    "\"file\":\"/p.zip\",\"fields\":[\"a\"]}"), "invalid_field",
	    "fields that are not an object are refused");
	check_str(problem_of("{\"channel\":\"upload\",\"workspace\":\"w\",\"target\":\"t\","
	    "\"file\":\"/p.zip\",\"fields\":{\"n\":1}}"), "invalid_field",
	    "a field that is not a string is refused");
	check_str(problem_of("{\"channel\":\"upload\",\"workspace\":\"w\",\"target\":\"t\","
	    "\"file\":\"/p.zip\",\"fields\":{\"file\":\"x\"}}"), "invalid_field",
	    "a field named file (the package's part) is refused");
	check_str(problem_of("{\"channel\":\"upload\",\"workspace\":\"w\",\"target\":\"t\","
	    "\"file\":\"/p.zip\",\"content_type\":\"a\\r\\nX: y\"}"), "invalid_field",
	    "a content_type of two lines is refused");
	check_str(problem_of("{\"channel\":\"upload\",\"workspace\":\"w\",\"target\":\"t\","
	    "\"file\":\"/p.zip\",\"correlation_id\":\"c\\r\\nX-A: b\"}"), "invalid_field",
	    "a correlation_id that would end its header line is refused");
}

/* A delivery to target with protocol id pid. */
static int add(cx_store *s, const char *target, const char *pid, const char *status)
{
	cx_delivery_new d = { target, "acme", "/p.zip", "ab12", pid, 10, status, status, 0,
		"c-1", "command:1" };
	cx_err err = { 0, "" };

	return cx_deliveries_add(s, &d, &err);
}

/* "seq:delivery_id:status ..." of target's status rows after seq after. */
static const char *statuses(cx_store *s, const char *target, int64_t after)
{
	static char out[256];
	cx_err err = { 0, "" };
	jv rows;

	out[0] = '\0';
	if (cx_deliveries_statuses(s, target, after, 100, &rows, &err) < 0) {
		snprintf(out, sizeof out, "%s", err.msg);
		return out;
	}
	jv_array_foreach(rows, i, r) {
		snprintf(out + strlen(out), sizeof out - strlen(out), "%s%d:%d:%s", i ? " " : "",
		    (int)jv_number_value(jv_object_get(jv_copy(r), jv_string("seq"))),
		    (int)jv_number_value(jv_object_get(jv_copy(r), jv_string("delivery_id"))),
		    cx_json_str(r, "status"));
		jv_free(r);
	}
	jv_free(rows);
	return out;
}

static void test_store(void)
{
	tmpstore ts;
	cx_store *s = tmpstore_open(&ts, "upload");
	cx_err err = { 0, "" };
	jv rows;

	if (!s)
		return;
	check(add(s, "t2", "pkg-1", "accepted") == 0 && add(s, "t1", "pkg-1", "queued") == 0 &&
	    add(s, "t2", "pkg-1", "other") == 0, "deliveries are added; a protocol id again is one");
	check_str(statuses(s, "t2", 0), "1:1:accepted", "a delivery starts with its first status");
	check(cx_deliveries_change(s, 1, "processing", "Processing", 0, &err) == 0 &&
	    cx_deliveries_change(s, 1, "delivered", "Delivered", 1, &err) == 0,
	    "changes are recorded");
	check_str(statuses(s, "t2", 0), "1:1:accepted 3:1:processing 4:1:delivered",
	    "the status history of a target, in order");
	check_str(statuses(s, "t2", 3), "4:1:delivered", "and what came after a sequence number");
	check(cx_deliveries_open(s, "t2", 0, 10, &rows, &err) == 0 &&
	    jv_array_length(jv_copy(rows)) == 0, "a final delivery is no longer open");
	jv_free(rows);
	check(cx_deliveries_open(s, "t1", 0, 10, &rows, &err) == 0 &&
	    jv_array_length(jv_copy(rows)) == 1, "another target's open delivery is");
	jv_free(rows);
	check(cx_deliveries_targets(s, NULL, &rows, &err) == 0 &&
	    jv_equal(rows, jv_parse("[\"t1\",\"t2\"]")), "the targets, sorted");
	check(cx_deliveries_targets(s, "t2", &rows, &err) == 0 &&
	    jv_equal(rows, jv_parse("[\"t2\"]")), "or only the one asked for");
	check(cx_deliveries_targets(s, "t3", &rows, &err) == 0 && jv_equal(rows, jv_array()),
	    "and none when it has no deliveries");
	tmpstore_close(&ts);
}

int main(void)
{
	test_names();
	test_settings();
	test_paths();
	test_status();
	test_checks();
	test_store();
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
