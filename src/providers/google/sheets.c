/* sheets.c: the sheets channel: rows appended to a Google Sheet. Items of
 * one tenant and one (spreadsheet, range) go in one transfer of up to 500:
 * the rows whose row_key sheet_rows holds already are left out (published,
 * data.skipped), the rest go in one
 *   POST {CX_SHEETS_API_BASE}/v4/spreadsheets/{id}/values/{range}:append
 *        ?valueInputOption=RAW&insertDataOption=INSERT_ROWS
 * whose updates.updatedRange tells where each row landed; a published row
 * is recorded in sheet_rows in the transaction that settles it. An item
 * whose fate is unknown is looked for with values.get on its range: its
 * row_key in its key column (sheetsrecon.c). */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "exit.h"
#include "http.h"
#include "json.h"
#include "sheetrows.h"
#include "sheetschannel.h"
#include "unicode.h"
#include "url.h"
#include "utf8.h"
#include "xalloc.h"

#define BATCH_MAX 500
#define MAX_COLUMNS 18278           /* ZZZ, Sheets' last column */
#define MAX_CELL 50000              /* characters in a cell, as Sheets allows */
#define MAX_RANGE 512
#define MAX_ID 256
#define MAX_KEY 256                 /* an idempotency key, as commands take it */

static const cx_channel_kind kinds[] = {
	{ "row", 0, 0, 0, { "spreadsheet_id", "range", "row_key" }, NULL },
	{ NULL, 0, 0, 0, { NULL }, NULL },
};

/* --- an item's fields --------------------------------------------------------- */

jv cx_sheets_fields(jv p)
{
	jv meta = cx_channel_member(jv_copy(p), "meta");
	int stored = jv_get_kind(meta) == JV_KIND_OBJECT;

	jv_free(meta);
	return stored ? cx_channel_fields(p) : jv_copy(p);
}

long cx_sheets_key_column(jv f)
{
	jv k = jv_object_get(jv_copy(f), jv_string("key_column"));
	double d = jv_get_kind(k) == JV_KIND_NUMBER ? jv_number_value(k) : -1;
	long kc = jv_get_kind(k) == JV_KIND_INVALID || jv_get_kind(k) == JV_KIND_NULL ? 1 :
	    d >= 1 && d <= MAX_COLUMNS && d == (double)(long)d ? (long)d : 0;

	jv_free(k);
	return kc;
}

/* spreadsheet_id and range: Google's id characters; A1 notation whose
 * quoted sheet name is closed. */
static int check_target(jv f, const char **problem, cx_err *err)
{
	const char *id = cx_json_str(f, "spreadsheet_id"), *range = cx_json_str(f, "range");
	size_t n = id ? strlen(id) : 0;

	if (!id || !n || n > MAX_ID || id[strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_")])
		return cx_channel_invalid(problem, "invalid_field", err, "spreadsheet_id must be "
		    "a spreadsheet's id (letters, digits, - and _; at most %d)", MAX_ID);
	if (!range || !*range || strlen(range) > MAX_RANGE || cx_utf8_has_control(range))
		return cx_channel_invalid(problem, "invalid_field", err, "range must be A1 "
		    "notation such as Log!A:F (at most %d bytes)", MAX_RANGE);
	if (range[0] == '\'') {
		const char *p = range + 1;

		while (*p && !(p[0] == '\'' && p[1] != '\''))
			p += p[0] == '\'' ? 2 : 1;
		if (!*p || (p[1] && p[1] != '!'))
			return cx_channel_invalid(problem, "invalid_field", err, "range: a quoted "
			    "sheet name ends with a quote and then ! (a quote inside doubled: "
			    "'Bob''s Log'!A:F)");
	}
	return 0;
}

/* values: an array of 1 to MAX_COLUMNS scalars, strings of at most
 * MAX_CELL characters. */
static int check_values(jv values, const char **problem, cx_err *err)
{
	int n = jv_get_kind(values) == JV_KIND_ARRAY ? jv_array_length(jv_copy(values)) : 0;

	if (n < 1 || n > MAX_COLUMNS)
		return cx_channel_invalid(problem, "invalid_field", err, "values must be the "
		    "row's cells: an array of 1 to %d strings, numbers, booleans or nulls",
		    MAX_COLUMNS);
	for (int i = 0; i < n; i++) {
		jv v = jv_array_get(jv_copy(values), i);
		jv_kind k = jv_get_kind(v);
		int bad = k == JV_KIND_ARRAY || k == JV_KIND_OBJECT ||
		    (k == JV_KIND_STRING && cx_unicode_codepoints(jv_string_value(v),
		    (size_t)jv_string_length_bytes(jv_copy(v))) > MAX_CELL);

		jv_free(v);
		if (bad)
			return cx_channel_invalid(problem, "invalid_field", err, "values[%d] must be "
			    "a string of at most %d characters, a number, a boolean or null", i,
			    MAX_CELL);
	}
	return 0;
}

/* The fields of a row f: *key_column gets its key column. */
static int check_row(jv f, long *key_column, const char **problem, cx_err *err)
{
	const char *key = cx_json_str(f, "row_key");
	jv values = jv_object_get(jv_copy(f), jv_string("values"));
	char *cell;
	int rc = -1, n;

	if (check_target(f, problem, err) < 0 || check_values(values, problem, err) < 0)
		goto out;
	if (!key || !*key || strlen(key) > MAX_CELL || cx_utf8_has_control(key)) {
		cx_channel_invalid(problem, "invalid_field", err, "row_key must be a string of "
		    "1 to %d bytes without control characters", MAX_CELL);
		goto out;
	}
	n = jv_array_length(jv_copy(values));
	if ((*key_column = cx_sheets_key_column(f)) < 1 || *key_column > n) {
		cx_channel_invalid(problem, "invalid_field", err, "key_column must be the "
		    "number of a cell of values, from 1 to %d", n);
		goto out;
	}
	cell = cx_json_key_string(jv_array_get(jv_copy(values), (int)*key_column - 1));
	if (!cell || strcmp(cell, key) != 0)
		cx_channel_invalid(problem, "key_mismatch", err, "row_key must be the row's "
		    "cell in key_column %ld (values[%ld]), where it is looked for after a "
		    "timeout; they differ", *key_column, *key_column - 1);
	else
		rc = 0;
	free(cell);
out:
	jv_free(values);
	return rc;
}

static int sheets_check(jv p, const char **problem, cx_err *err)
{
	jv f = cx_sheets_fields(p);
	long kc;
	int rc = check_row(f, &kc, problem, err);

	jv_free(f);
	return rc;
}

/* --- requests ----------------------------------------------------------------- */

char *cx_sheets_values_url(const char *id, const char *range, const char *tail)
{
	char *base = cx_url_base(cx_config_get("CX_SHEETS_API_BASE",
	    "https://sheets.googleapis.com"));
	char *eid = cx_http_escape(id), *erange = cx_http_escape(range);
	char *url = cx_xasprintf("%s/v4/spreadsheets/%s/values/%s%s", base, eid, erange, tail);

	free(base);
	free(eid);
	free(erange);
	return url;
}

static const char append_tail[] =
    ":append?valueInputOption=RAW&insertDataOption=INSERT_ROWS";

static int sheets_build(jv item, cx_channel_call *call, const char **code, cx_err *err)
{
	jv f = cx_sheets_fields(item);
	long kc;
	int rc = check_row(f, &kc, NULL, err);

	*code = "VALIDATION_FAILED";
	if (rc == 0) {
		call->url = cx_sheets_values_url(cx_json_str(f, "spreadsheet_id"), cx_json_str(f, "range"),
		    append_tail);
		call->body = cx_xstrdup("");
	}
	jv_free(f);
	return rc;
}

/* Google's quota errors are RESOURCE_EXHAUSTED, whatever the status. */
static void sheets_judge(cx_channel_result *r, long status, jv body)
{
	jv e = cx_channel_member(jv_copy(body), "error");
	const char *st = cx_json_str(e, "status");
	char why[160];

	cx_channel_excerpt(cx_json_str(e, "message"), why, sizeof why);
	if (status == 429 || (st && strcmp(st, "RESOURCE_EXHAUSTED") == 0))
		cx_channel_set(r, CX_CHANNEL_RETRY, "RATE_LIMITED", "HTTP %ld%s%s", status,
		    *why ? ": " : "", why);
	else
		cx_channel_by_status(r, status, why);
	jv_free(e);
}

static char *sheets_batch_key(jv item)
{
	jv f = cx_sheets_fields(item);
	const char *id = cx_json_str(f, "spreadsheet_id"), *range = cx_json_str(f, "range");
	char *key = cx_xasprintf("%s\n%s", id ? id : "", range ? range : "");

	jv_free(f);
	return key;
}

/* s with '%' and bytes outside visible ASCII percent-encoded. */
static void key_part(cx_buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char hex[4];

		if (c > 0x20 && c < 0x7f && c != '%') {
			cx_buf_add(b, s, 1);
		} else {
			snprintf(hex, sizeof hex, "%%%02X", c);
			cx_buf_add(b, hex, 3);
		}
	}
}

/* "sheets:<spreadsheet_id>:<range>:<row_key>", each part with what an
 * idempotency key cannot hold percent-encoded; over MAX_KEY bytes,
 * "sheets:sha256:<hex of the three, newline-separated>". */
static char *sheets_default_key(jv line, cx_err *err)
{
	const char *id = cx_json_str(line, "spreadsheet_id"), *range = cx_json_str(line, "range");
	const char *key = cx_json_str(line, "row_key");
	char hex[2 * CX_SHA256_LEN + 1], *joined;
	cx_buf b = { 0 };

	if (!id || !range || !key) {
		cx_err_set(err, CX_EXIT_DATAERR, "a sheets line needs spreadsheet_id, range and "
		    "row_key (strings)");
		return NULL;
	}
	cx_buf_add(&b, "sheets:", 7);
	key_part(&b, id);
	cx_buf_add(&b, ":", 1);
	key_part(&b, range);
	cx_buf_add(&b, ":", 1);
	key_part(&b, key);
	cx_buf_add(&b, "", 1);
	if (b.len - 1 <= MAX_KEY)
		return b.s;
	free(b.s);
	joined = cx_xasprintf("%s\n%s\n%s", id, range, key);
	cx_crypto_sha256_hex(joined, strlen(joined), hex);
	free(joined);
	return cx_xasprintf("sheets:sha256:%s", hex);
}

/* --- what is kept ------------------------------------------------------------- */

static int sheets_settled(cx_store *s, jv item, const cx_channel_call *call,
    const char *state, const char *provider_ref, cx_err *err)
{
	jv f;
	const char *where = NULL, *tenant = cx_json_str(item, "tenant");
	int rc;

	if (strcmp(state, "published") != 0)
		return 0;
	if (jv_get_kind(call->data) == JV_KIND_OBJECT)
		where = cx_json_str(call->data, "updated_range");
	f = cx_sheets_fields(item);
	rc = !cx_json_str(f, "spreadsheet_id") || !cx_json_str(f, "range") ||
	    !cx_json_str(f, "row_key") ? 0 : cx_sheet_rows_record(s,
	    cx_json_str(f, "spreadsheet_id"), cx_json_str(f, "range"), cx_json_str(f, "row_key"),
	    tenant ? tenant : "default", where ? where : provider_ref, err);
	jv_free(f);
	return rc;
}

/* --- transfers ---------------------------------------------------------------- */

/* One transfer: which items go in the request, in row order. */
typedef struct {
	cx_channel_transfer *t;
	char *id, *range;           /* the batch's: its first sendable item's */
	jv fields;                  /* an array: each item's fields */
	jv rows;                    /* the values of the rows sent */
	jv firsts;                  /* row_key -> the item sent with it */
	size_t *sent, nsent;        /* items in the request, in row order */
	size_t *same;               /* the item sent with the same row_key, or n */
} batch;

/* data {spreadsheet_id, range, row_key, updated_range?, skipped?} of item i. */
static void set_data(batch *b, size_t i, const char *where, int skipped)
{
	static const char *const names[] = { "spreadsheet_id", "range", "row_key" };
	jv f = jv_array_get(jv_copy(b->fields), (int)i);
	jv d = jv_object();

	for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
		if (cx_json_str(f, names[k]))
			d = jv_object_set(d, jv_string(names[k]), jv_string(cx_json_str(f, names[k])));
	if (where)
		d = jv_object_set(d, jv_string("updated_range"), jv_string(where));
	if (skipped)
		d = jv_object_set(d, jv_string("skipped"), jv_true());
	jv_free(b->t->data[i]);
	b->t->data[i] = d;
	jv_free(f);
}

static void set_published(batch *b, size_t i, const char *where, int skipped)
{
	cx_channel_result *r = &b->t->results[i];

	cx_channel_set(r, CX_CHANNEL_PUBLISHED, NULL, "%s", skipped ?
	    "appended before: not sent again" : "appended");
	free(r->provider_ref);
	r->provider_ref = where ? cx_xstrdup(where) : NULL;
	set_data(b, i, where, skipped);
}

/* Item i (its fields f, checked) joins the request. */
static void add_row(batch *b, size_t i, jv f)
{
	if (!b->id) {
		b->id = cx_xstrdup(cx_json_str(f, "spreadsheet_id"));
		b->range = cx_xstrdup(cx_json_str(f, "range"));
	}
	b->rows = jv_array_append(b->rows, jv_object_get(jv_copy(f), jv_string("values")));
	b->firsts = jv_object_set(b->firsts, jv_string(cx_json_str(f, "row_key")),
	    jv_number((double)i));
	b->sent[b->nsent++] = i;
}

/* Sorts item i: refused, appended before, the same row_key as an item in
 * the request, or one more row of it. */
static void sort_item(batch *b, size_t i)
{
	cx_channel_transfer *t = b->t;
	jv it = jv_array_get(jv_copy(t->items), (int)i), f = cx_sheets_fields(it);
	const char *id = cx_json_str(f, "spreadsheet_id"), *range = cx_json_str(f, "range");
	const char *key = cx_json_str(f, "row_key");
	cx_err err = { 0, "" };
	char *where = NULL;
	long kc;
	int rc;

	b->fields = jv_array_set(b->fields, (int)i, jv_copy(f));
	if (check_row(f, &kc, NULL, &err) < 0) {
		cx_channel_set(&t->results[i], CX_CHANNEL_FAILED, "VALIDATION_FAILED", "%s", err.msg);
	} else if (b->id && (strcmp(b->id, id) != 0 || strcmp(b->range, range) != 0)) {
		cx_channel_set(&t->results[i], CX_CHANNEL_RETRY, "UPSTREAM_ERROR",
		    "not of this batch's range: to be sent with its own");
	} else if ((rc = cx_sheet_rows_find(t->s, id, range, key, &where, &err)) > 0) {
		set_published(b, i, where, 1);
	} else if (rc < 0) {
		cx_channel_set(&t->results[i], CX_CHANNEL_RETRY, "UPSTREAM_ERROR", "%s", err.msg);
	} else if (jv_object_has(jv_copy(b->firsts), jv_string(key))) {
		b->same[i] = (size_t)jv_number_value(jv_object_get(jv_copy(b->firsts),
		    jv_string(key)));
	} else {
		add_row(b, i, f);
	}
	free(where);
	jv_free(f);
	jv_free(it);
}

/* The answer to the request, for every row in it. */
static void settle_rows(batch *b, const cx_channel_result *r, const cx_http_response *resp)
{
	jv block = jv_invalid();

	if (r->verdict == CX_CHANNEL_PUBLISHED) {
		jv updates = cx_channel_member(cx_http_json(resp), "updates");

		block = cx_channel_member(updates, "updatedRange");
	}

	for (size_t k = 0; k < b->nsent; k++) {
		size_t i = b->sent[k];
		cx_channel_result *o = &b->t->results[i];

		if (r->verdict == CX_CHANNEL_PUBLISHED) {
			char *where = jv_get_kind(block) == JV_KIND_STRING ?
			    cx_sheets_row_range(jv_string_value(block), k) : NULL;

			set_published(b, i, where, 0);
			free(where);
			continue;
		}
		*o = *r;
		o->provider_ref = NULL;
		set_data(b, i, NULL, 0);
	}
	jv_free(block);
}

/* The values.append of the rows sorted in; every row gets its verdict. */
static void append(batch *b)
{
	jv body = jv_object_set(jv_object(), jv_string("range"), jv_string(b->range));
	char *url = cx_sheets_values_url(b->id, b->range, append_tail), *json;
	cx_http_request req = { .url = url, .bearer = b->t->token,
		.content_type = CX_HTTP_JSON };
	cx_http_response resp;
	cx_channel_result r;
	cx_err err = { 0, "" };
	int rc;

	body = jv_object_set(body, jv_string("majorDimension"), jv_string("ROWS"));
	body = jv_object_set(body, jv_string("values"), jv_copy(b->rows));
	json = cx_json_dump(body);
	req.body = json;
	req.body_len = strlen(json);
	rc = cx_http_do(&req, &resp, &err);
	cx_channel_judge_http(sheets_judge, rc, &resp, &err, cx_clock_now(), &r);
	settle_rows(b, &r, &resp);
	cx_channel_result_free(&r);
	cx_http_response_free(&resp);
	free(json);
	free(url);
}

/* An item with the same row_key as one in the request shares its fate,
 * as a row appended before. */
static void settle_repeats(batch *b)
{
	cx_channel_transfer *t = b->t;

	for (size_t i = 0; i < t->n; i++) {
		const cx_channel_result *first;
		jv d;

		if (b->same[i] == t->n)
			continue;
		first = &t->results[b->same[i]];
		if (first->verdict == CX_CHANNEL_PUBLISHED) {
			d = jv_copy(t->data[b->same[i]]);
			set_published(b, i, cx_json_str(d, "updated_range"), 1);
			jv_free(d);
			continue;
		}
		t->results[i] = *first;
		t->results[i].provider_ref = NULL;
		set_data(b, i, NULL, 0);
	}
}

static void sheets_transfer(cx_channel_transfer *t)
{
	batch b = { .t = t, .fields = jv_array(), .rows = jv_array(), .firsts = jv_object() };

	b.sent = cx_xcalloc(t->n ? t->n : 1, sizeof *b.sent);
	b.same = cx_xcalloc(t->n ? t->n : 1, sizeof *b.same);
	for (size_t i = 0; i < t->n; i++)
		b.same[i] = t->n;
	/* the engine hands a batch over in the order its items fell due */
	for (size_t i = 0; i < t->n; i++)
		sort_item(&b, i);
	if (b.nsent > 0 && *t->stop) {
		cx_channel_result r = { .verdict = CX_CHANNEL_RETRY, .code = "INTERRUPTED" };

		snprintf(r.detail, sizeof r.detail, "not sent: cx-publish was told to stop");
		settle_rows(&b, &r, NULL);
	} else if (b.nsent > 0) {
		append(&b);
	}
	settle_repeats(&b);
	free(b.sent);
	free(b.same);
	free(b.id);
	free(b.range);
	jv_free(b.fields);
	jv_free(b.rows);
	jv_free(b.firsts);
}

const cx_channel cx_sheets_channel = {
	.name = "sheets",
	.env = "SHEETS",
	.provider = "google",
	.rate = "1",
	.length_note = "",
	.kinds = kinds,
	.check = sheets_check,
	.build = sheets_build,
	.judge = sheets_judge,
	.reconcile = cx_sheets_reconcile,
	.reconcile_end = cx_sheets_reconcile_end,
	.settled = sheets_settled,
	.transfer = sheets_transfer,
	.batch_key = sheets_batch_key,
	.batch_max = BATCH_MAX,
	.approval_default = "none",
	.default_key = sheets_default_key,
	.rollback = 1,
	.package_field = NULL,
};
