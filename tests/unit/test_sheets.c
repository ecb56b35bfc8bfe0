/* Unit tests of the sheets channel (sheetschannel.h): the A1 range of each
 * row of an append, the checks of a line (row_key in its key column),
 * default and batch keys, and transfers against tests/mock/google_sheets.py
 * (started here): one values.append for a batch, rows recorded before left
 * out, repeats in a batch sent once, Google's errors judged, and a timeout
 * after the append landed left unknown. Prints TAP lines; tests/run counts
 * them. */
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "channels.h"
#include "exit.h"
#include "http.h"
#include "json.h"
#include "sheetrows.h"
#include "sheetschannel.h"

#include "tap.h"
#include "tmpstore.h"

extern char **environ;

static void row_ranges(void)
{
	static const struct {
		const char *block;
		size_t index;
		const char *want;
	} cases[] = {
		{ "Log!A3:F5", 0, "Log!A3:F3" },
		{ "Log!A3:F5", 2, "Log!A5:F5" },
		{ "'My Log'!B7:C7", 0, "'My Log'!B7:C7" },
		{ "'a!b'!A1:B2", 1, "'a!b'!A2:B2" },
		{ "A1:F1000", 999, "A1000:F1000" },
		{ "Log!A9", 1, "Log!A10:A10" },
		{ "Log!AB499:ZZ998", 500, "Log!AB999:ZZ999" },
	};
	char what[96];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *got = cx_sheets_row_range(cases[i].block, cases[i].index);

		snprintf(what, sizeof what, "row %zu of %s is %s", cases[i].index, cases[i].block,
		    cases[i].want);
		check_str(got, cases[i].want, what);
		free(got);
	}
	check(cx_sheets_row_range("Log!A:F", 0) == NULL && cx_sheets_row_range("Log", 0) == NULL &&
	    cx_sheets_row_range("Log!A1:F2x", 0) == NULL, "a range without a start row, or "
	    "not A1 notation, gives no row");
}

/* The problem of line (JSON text) for the registry, "" when it passes;
 * *msg the message. */
static const char *problem_of(const char *line, char *msg, size_t cap)
{
	jv v = jv_parse(line);
	cx_queue_checked c;
	cx_err err = { 0, "" };
	const char *problem = NULL;
	int rc = cx_channels_check(v, &c, &problem, &err);

	jv_free(v);
	snprintf(msg, cap, "%s", rc == 0 ? "" : err.msg);
	return rc == 0 ? "" : problem ? problem : "?";
}

#define LINE(rest) "{\"channel\":\"sheets\",\"workspace\":\"acme\",\"spreadsheet_id\":" \
	"\"book1\",\"range\":\"Log!A:F\"," rest "}"

static void checks(void)
{
	char msg[512];

	check_str(problem_of(LINE("\"values\":[\"k1\",2,true,null],\"row_key\":\"k1\""), msg,
	    sizeof msg), "", "a row whose first cell is its row_key passes (kind row by default)");
	check_str(problem_of(LINE("\"values\":[\"a\",42],\"row_key\":\"42\",\"key_column\":2"),
	    msg, sizeof msg), "", "a number cell matches its row_key as text (key_column 2)");
	check_str(problem_of(LINE("\"values\":[\"a\",\"k1\"],\"row_key\":\"k1\""), msg,
	    sizeof msg), "key_mismatch", "a row_key not in the key column is refused");
	check_str(msg, "row_key must be the row's cell in key_column 1 (values[0]), where it is "
	    "looked for after a timeout; they differ", "... saying where it must be");
	check_str(problem_of(LINE("\"values\":[\"k1\"],\"row_key\":\"k1\",\"key_column\":2"),
	    msg, sizeof msg), "invalid_field", "a key_column past the row is refused");
	check_str(msg, "key_column must be the number of a cell of values, from 1 to 1",
	    "... naming the range");
	check_str(problem_of(LINE("\"values\":[\"k1\"],\"row_key\":\"k1\",\"key_column\":1.5"),
	    msg, sizeof msg), "invalid_field", "a key_column that is not a whole number is refused");
	check_str(problem_of(LINE("\"values\":[[\"k1\"]],\"row_key\":\"k1\""), msg, sizeof msg),
	    "invalid_field", "a cell that is an array is refused");
	check_str(problem_of(LINE("\"values\":[],\"row_key\":\"k1\""), msg, sizeof msg),
	    "invalid_field", "an empty row is refused");
	check_str(problem_of(LINE("\"values\":\"k1\",\"row_key\":\"k1\""), msg, sizeof msg),
	    "invalid_field", "values that are not an array are refused");
	check_str(problem_of(LINE("\"values\":[\"k1\"]"), msg, sizeof msg), "missing_field",
	    "a row without row_key is refused");
	check_str(problem_of("{\"channel\":\"sheets\",\"workspace\":\"acme\",\"spreadsheet_id\":"
	    "\"book/1\",\"range\":\"Log!A:F\",\"values\":[\"k\"],\"row_key\":\"k\"}", msg,
	    sizeof msg), "invalid_field", "a spreadsheet_id with a slash is refused");
	check_str(problem_of("{\"channel\":\"sheets\",\"workspace\":\"acme\",\"spreadsheet_id\":"
	    "\"book1\",\"range\":\"'My Log!A:F\",\"values\":[\"k\"],\"row_key\":\"k\"}", msg,
	    sizeof msg), "invalid_field", "a quoted sheet name not closed is refused");
	check_str(problem_of("{\"channel\":\"sheets\",\"workspace\":\"acme\",\"spreadsheet_id\":"
	    "\"book1\",\"range\":\"'Bob''s Log'!A:F\",\"values\":[\"k\"],\"row_key\":\"k\"}", msg,
	    sizeof msg), "", "a quoted sheet name with a doubled quote passes");
}

static char *default_key(const char *line)
{
	jv v = jv_parse(line);
	cx_err err = { 0, "" };
	char *key = cx_sheets_channel.default_key(v, &err);

	jv_free(v);
	return key ? key : strdup(err.msg);
}

static void keys(void)
{
	char *k, *b, longkey[301], line[512];
	jv item;

	k = default_key(LINE("\"values\":[\"k1\"],\"row_key\":\"k1\""));
	check_str(k, "sheets:book1:Log!A:F:k1", "the default key names spreadsheet, range and "
	    "row_key");
	free(k);
	k = default_key("{\"spreadsheet_id\":\"b\",\"range\":\"'My Log'!A:F\",\"row_key\":\"k 1%\"}");
	check_str(k, "sheets:b:'My%20Log'!A:F:k%201%25", "... with spaces and % encoded");
	free(k);
	memset(longkey, 'x', 300);
	longkey[300] = '\0';
	snprintf(line, sizeof line, "{\"spreadsheet_id\":\"b\",\"range\":\"A:B\",\"row_key\":"
	    "\"%s\"}", longkey);
	k = default_key(line);
	check(strncmp(k, "sheets:sha256:", 14) == 0 && strlen(k) == 14 + 64,
	    "a key over 256 bytes becomes a SHA-256");
	free(k);
	k = default_key("{\"spreadsheet_id\":\"b\",\"range\":\"A:B\"}");
	check_str(k, "a sheets line needs spreadsheet_id, range and row_key (strings)",
	    "a line without row_key has no default key");
	free(k);
	item = jv_parse("{\"channel\":\"sheets\",\"meta\":{\"spreadsheet_id\":\"book1\","
	    "\"range\":\"Log!A:F\"}}");
	b = cx_sheets_channel.batch_key(item);
	check_str(b, "book1\nLog!A:F", "items are batched by spreadsheet and range");
	free(b);
	jv_free(item);
	check(cx_sheets_channel.batch_max == 500 && cx_sheets_channel.rollback &&
	    strcmp(cx_sheets_channel.approval_default, "none") == 0 &&
	    strcmp(cx_sheets_channel.rate, "1") == 0 && strcmp(cx_sheets_channel.provider,
	    "google") == 0, "500 rows a batch, one append a second, no approval, rollback on, "
	    "Google's token");
}

/* --- transfers against the mock --------------------------------------------- */

typedef struct {
	pid_t pid;
	char url[64];
	char record[96];
} mock;

static int mock_start(mock *m, const char *dir)
{
	char *argv[] = { "/usr/bin/python3", "tests/mock/google_sheets.py", "0", "--sheet",
		"book1:Log", "--record", m->record, "--lifetime", "120", NULL };
	posix_spawn_file_actions_t fa;
	int fds[2], port = 0;
	FILE *out;

	snprintf(m->record, sizeof m->record, "%s/rec.jsonl", dir);
	if (pipe(fds) < 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	if (posix_spawn(&m->pid, argv[0], &fa, NULL, argv, environ) != 0)
		m->pid = 0;
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	out = fdopen(fds[0], "r");
	if (!m->pid || fscanf(out, "%d", &port) != 1)
		port = 0;
	fclose(out);
	snprintf(m->url, sizeof m->url, "http://127.0.0.1:%d", port);
	return port > 0 ? 0 : -1;
}

static void mock_stop(mock *m)
{
	if (m->pid > 0) {
		kill(m->pid, SIGTERM);
		waitpid(m->pid, NULL, 0);
	}
}

static void control(const mock *m, const char *json)
{
	char url[96];
	cx_http_request req = { .url = url, .body = json, .body_len = strlen(json),
		.content_type = CX_HTTP_JSON };
	cx_http_response resp;
	cx_err err = { 0, "" };

	snprintf(url, sizeof url, "%s/_control", m->url);
	cx_http_do(&req, &resp, &err);
	cx_http_response_free(&resp);
}

/* A number of a record line, -1 when it is null. */
static int num(jv r, const char *key)
{
	jv v = jv_object_get(jv_copy(r), jv_string(key));
	int n = jv_get_kind(v) == JV_KIND_NUMBER ? (int)jv_number_value(v) : -1;

	jv_free(v);
	return n;
}

/* The mock's appends so far: "rows,status rows,status ..." (static); -1
 * for no answer. */
static const char *appends(const mock *m)
{
	static char out[256];
	FILE *f = fopen(m->record, "r");
	char line[65536];

	out[0] = '\0';
	while (f && fgets(line, sizeof line, f)) {
		jv r = jv_parse(line);

		if (cx_json_str(r, "op") && strcmp(cx_json_str(r, "op"), "append") == 0)
			snprintf(out + strlen(out), sizeof out - strlen(out), "%s%d,%d", out[0] ? " " : "",
			    num(r, "rows"), num(r, "status"));
		jv_free(r);
	}
	if (f)
		fclose(f);
	return out;
}

/* An item as the engine claims it: row key k, cells k and more. */
static jv item(int id, const char *k)
{
	jv meta = jv_object_set(jv_object(), jv_string("spreadsheet_id"), jv_string("book1"));
	jv it = jv_object();

	meta = jv_object_set(meta, jv_string("range"), jv_string("Log!A:C"));
	meta = jv_object_set(meta, jv_string("values"), JV_ARRAY(jv_string(k),
	    jv_string("cell"), jv_number(id)));
	meta = jv_object_set(meta, jv_string("row_key"), jv_string(k));
	it = jv_object_set(it, jv_string("id"), jv_number(id));
	it = jv_object_set(it, jv_string("channel"), jv_string("sheets"));
	it = jv_object_set(it, jv_string("workspace"), jv_string("acme"));
	it = jv_object_set(it, jv_string("tenant"), jv_string("acme"));
	return jv_object_set(it, jv_string("meta"), meta);
}

/* One transfer of items; the verdicts as "V:CODE:REF" words, V one of
 * P F R U (static). */
static const char *transfer(cx_store *s, jv items, jv *data)
{
	static char out[1024];
	static const char letters[] = "PFRU";
	volatile sig_atomic_t stop = 0;
	size_t n = (size_t)jv_array_length(jv_copy(items));
	cx_channel_transfer t = { .s = s, .items = items, .n = n, .token = "ya29.unit",
		.tenant = "acme", .stop = &stop };

	t.results = calloc(n, sizeof *t.results);
	t.data = calloc(n, sizeof *t.data);
	for (size_t i = 0; i < n; i++)
		t.data[i] = jv_invalid();
	cx_sheets_channel.transfer(&t);
	out[0] = '\0';
	*data = jv_array();
	for (size_t i = 0; i < n; i++) {
		snprintf(out + strlen(out), sizeof out - strlen(out), "%s%c:%s:%s", i ? " " : "",
		    letters[t.results[i].verdict], t.results[i].code ? t.results[i].code : "",
		    t.results[i].provider_ref ? t.results[i].provider_ref : "");
		*data = jv_array_append(*data, t.data[i]);
		cx_channel_result_free(&t.results[i]);
	}
	free(t.results);
	free(t.data);
	jv_free(items);
	return out;
}

static void transfers(cx_store *s, const mock *m)
{
	cx_err err = { 0, "" };
	char *where = NULL, *d;
	jv data;

	check_str(transfer(s, JV_ARRAY(item(1, "k1"), item(2, "k2"), item(3, "k1")), &data),
	    "P::Log!A1:C1 P::Log!A2:C2 P::Log!A1:C1", "a batch goes in one append; a "
	    "repeated row_key shares the first's row");
	check_str(appends(m), "2,200", "... of two rows");
	d = cx_json_dump(data);
	check_str(d, "[{\"spreadsheet_id\":\"book1\",\"range\":\"Log!A:C\",\"row_key\":\"k1\","
	    "\"updated_range\":\"Log!A1:C1\"},{\"spreadsheet_id\":\"book1\",\"range\":\"Log!A:C\","
	    "\"row_key\":\"k2\",\"updated_range\":\"Log!A2:C2\"},{\"spreadsheet_id\":\"book1\","
	    "\"range\":\"Log!A:C\",\"row_key\":\"k1\",\"updated_range\":\"Log!A1:C1\","
	    "\"skipped\":true}]", "each row's data says where it went");
	free(d);
	check(cx_sheet_rows_record(s, "book1", "Log!A:C", "k2", "acme", "Log!A2:C2", &err) == 0 &&
	    cx_sheet_rows_find(s, "book1", "Log!A:C", "k2", &where, &err) == 1 &&
	    strcmp(where, "Log!A2:C2") == 0, "an appended row is recorded in sheet_rows");
	free(where);
	check_str(transfer(s, JV_ARRAY(item(4, "k2"), item(5, "k5")), &data),
	    "P::Log!A2:C2 P::Log!A3:C3", "a row recorded before is not sent again");
	check_str(appends(m), "2,200 1,200", "... only the new row went");
	jv_free(data);

	control(m, "{\"script\": {\"append\": [{\"sheets_error\": 429}]}}");
	check_str(transfer(s, JV_ARRAY(item(6, "k6"), item(7, "k7")), &data),
	    "R:RATE_LIMITED: R:RATE_LIMITED:", "429 RESOURCE_EXHAUSTED: every row of the "
	    "batch is retried");
	jv_free(data);
	control(m, "{\"script\": {\"append\": [{\"sheets_error\": 503}]}}");
	check_str(transfer(s, JV_ARRAY(item(6, "k6")), &data), "R:UPSTREAM_ERROR:",
	    "503: retried, an upstream failure");
	jv_free(data);
	control(m, "{\"tokens\": [\"another\"]}");
	check_str(transfer(s, JV_ARRAY(item(6, "k6")), &data), "F:AUTH_FAILED:",
	    "a token not accepted: AUTH_FAILED");
	jv_free(data);
	control(m, "{\"tokens\": null}");
	setenv("CX_HTTP_TIMEOUT_SECONDS", "1", 1);
	control(m, "{\"script\": {\"append\": [{\"apply\": true, \"hang_ms\": 3000}]}}");
	check_str(transfer(s, JV_ARRAY(item(8, "k8"), item(9, "k9")), &data),
	    "U:TIMEOUT: U:TIMEOUT:", "a timeout after the request went out: every row unknown");
	jv_free(data);
	unsetenv("CX_HTTP_TIMEOUT_SECONDS");
	check_str(appends(m), "2,200 1,200 2,429 1,503 1,401 2,-1", "... though the append "
	    "landed");
}

static void errors(cx_store *s, const mock *m)
{
	jv data, other = item(10, "k10");

	(void)m;
	other = jv_setpath(other, JV_ARRAY(jv_string("meta"), jv_string("spreadsheet_id")),
	    jv_string("nosuchbook"));
	check_str(transfer(s, JV_ARRAY(other), &data), "F:NOT_FOUND:", "an unknown "
	    "spreadsheet: NOT_FOUND");
	jv_free(data);
	other = jv_setpath(item(11, "k11"), JV_ARRAY(jv_string("meta"), jv_string("range")),
	    jv_string("Nope!A:C"));
	check_str(transfer(s, JV_ARRAY(other), &data), "F:VALIDATION_FAILED:", "an unknown "
	    "sheet: VALIDATION_FAILED");
	jv_free(data);
	other = jv_setpath(item(12, "k12"), JV_ARRAY(jv_string("meta"), jv_string("row_key")),
	    jv_string("other"));
	check_str(transfer(s, JV_ARRAY(other), &data), "F:VALIDATION_FAILED:", "a row whose "
	    "row_key is not in its key column fails without a request");
	jv_free(data);
}

int main(void)
{
	tmpstore ts;
	cx_store *s;
	mock m = { 0 };

	row_ranges();
	checks();
	keys();
	if ((s = tmpstore_open(&ts, "sheets"))) {
		check(mock_start(&m, ts.dir) == 0, "the Sheets mock starts");
		setenv("CX_SHEETS_API_BASE", m.url, 1);
		transfers(s, &m);
		errors(s, &m);
		mock_stop(&m);
		unlink(m.record);
		tmpstore_close(&ts);
	}
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
