/* sheetsrecon.c: where a row landed, and finding a row whose fate is
 * unknown. A range's key column is read once a run (values.get, the
 * answer at most CX_SHEETS_MAX_READ bytes) into an index row_key -> row,
 * kept in the run (cx_channel_recon.own) until reconcile_end; a row found
 * is published with its A1 range and recorded in sheet_rows. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "exit.h"
#include "googleoauth.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "oauth.h"
#include "sheetrows.h"
#include "sheetschannel.h"
#include "xalloc.h"

/* --- A1 arithmetic ------------------------------------------------------------ */

/* Column letters then a row number at *p: the letters in col, the row in
 * *row (0 when there is none); the end of them. */
static const char *cell_ref(const char *p, char col[8], long long *row)
{
	size_t n = 0;

	while (isupper((unsigned char)*p) && n < 7)
		col[n++] = *p++;
	col[n] = '\0';
	*row = 0;
	while (isdigit((unsigned char)*p) && *row < 100000000)
		*row = *row * 10 + (*p++ - '0');
	return p;
}

char *cx_sheets_row_range(const char *block, size_t index)
{
	const char *bang = strrchr(block, '!'), *p = bang ? bang + 1 : block;
	char c1[8], c2[8];
	long long r1, r2, row;

	p = cell_ref(p, c1, &r1);
	if (*p == ':')
		p = cell_ref(p + 1, c2, &r2);
	else
		memcpy(c2, c1, sizeof c2);
	if (*p || r1 < 1)
		return NULL;
	row = r1 + (long long)index;
	return cx_xasprintf("%.*s%s%lld:%s%lld", bang ? (int)(bang + 1 - block) : 0, block,
	    c1, row, c2, row);
}

/* --- reconcile ---------------------------------------------------------------- */

/* A run's reads (cx_channel_recon.own): "spreadsheet\nrange\nkey_column" ->
 * {block, keys: {row_key: row index}} or {code, error}. */
typedef struct {
	jv reads;
} recon;

/* The key column kc of the rows of answer body: row_key -> row index (the
 * first row holding it). */
static jv index_rows(jv body, long kc)
{
	jv keys = jv_object(), values = cx_channel_member(body, "values");
	int n = jv_get_kind(values) == JV_KIND_ARRAY ? jv_array_length(jv_copy(values)) : 0;

	for (int r = 0; r < n; r++) {
		jv row = jv_array_get(jv_copy(values), r);
		char *cell = jv_get_kind(row) == JV_KIND_ARRAY &&
		    jv_array_length(jv_copy(row)) >= kc ?
		    cx_json_key_string(jv_array_get(jv_copy(row), (int)kc - 1)) : NULL;

		jv_free(row);
		if (cell && !jv_object_has(jv_copy(keys), jv_string(cell)))
			keys = jv_object_set(keys, jv_string(cell), jv_number(r));
		free(cell);
	}
	jv_free(values);
	return keys;
}

/* What values.get of the item's range said, as a read; the failure is
 * logged. */
static jv read_range(cx_store *s, jv f, long kc)
{
	const char *id = cx_json_str(f, "spreadsheet_id"), *range = cx_json_str(f, "range");
	char *url = cx_sheets_values_url(id, range, "?majorDimension=ROWS"), *token = NULL;
	cx_http_request req = { .url = url, .max_body = CX_SHEETS_MAX_READ };
	cx_http_response resp = { 0 };
	cx_err err = { 0, "" };
	jv body, read = jv_object();

	if (cx_oauth_preset_token(s, &cx_google_oauth, cx_json_str(f, "workspace"), &token,
	    &err) == 0) {
		req.bearer = token;
		if (cx_http_do(&req, &resp, &err) == 0 && resp.status != 200)
			cx_err_set(&err, resp.status == 401 || resp.status == 403 ? CX_EXIT_NOPERM :
			    resp.status == 429 || resp.status >= 500 ? CX_EXIT_TEMPFAIL :
			    CX_EXIT_UNAVAILABLE, "values.get of %s: HTTP %ld", range, resp.status);
		cx_secret_free(token);
	}
	body = err.code ? jv_invalid() : cx_http_json(&resp);
	if (!err.code && jv_get_kind(body) != JV_KIND_OBJECT)
		cx_err_set(&err, CX_EXIT_UNAVAILABLE, "values.get of %s: the answer is not a JSON "
		    "object", range);
	if (err.code) {
		jv_free(body);
		cx_log(CX_LOG_ERROR, jv_null(), "sheets: cannot look for unknown rows in %s "
		    "(spreadsheet %s): %s; they stay unknown", range, id, err.msg);
		read = jv_object_set(read, jv_string("code"), jv_number(err.code));
		read = jv_object_set(read, jv_string("error"), jv_string(err.msg));
	} else {
		const char *block = cx_json_str(body, "range");

		read = jv_object_set(read, jv_string("block"), jv_string(block ? block : range));
		read = jv_object_set(read, jv_string("keys"), index_rows(body, kc));
	}
	cx_http_response_free(&resp);
	free(url);
	return read;
}

/* The read of f's range and key column kc in this run. */
static jv read_of(cx_channel_recon *run, jv f, long kc)
{
	recon *r = run->own;
	char *key = cx_xasprintf("%s\n%s\n%ld", cx_json_str(f, "spreadsheet_id"),
	    cx_json_str(f, "range"), kc);
	jv read;

	if (!r) {
		r = run->own = cx_xcalloc(1, sizeof *r);
		r->reads = jv_object();
	}
	if (jv_object_has(jv_copy(r->reads), jv_string(key))) {
		read = jv_object_get(jv_copy(r->reads), jv_string(key));
	} else {
		read = read_range(run->s, f, kc);
		r->reads = jv_object_set(r->reads, jv_string(key), jv_copy(read));
	}
	free(key);
	return read;
}

int cx_sheets_reconcile(cx_channel_recon *run, jv item, char **ref, cx_err *err)
{
	jv f = cx_sheets_fields(item), read, at;
	const char *id = cx_json_str(f, "spreadsheet_id"), *range = cx_json_str(f, "range");
	const char *key = cx_json_str(f, "row_key"), *tenant = cx_json_str(item, "tenant");
	long kc = cx_sheets_key_column(f);
	int rc;

	*ref = NULL;
	if (!id || !range || !key || kc < 1) {
		jv_free(f);
		return 0;
	}
	if ((rc = cx_sheet_rows_find(run->s, id, range, key, ref, err)) != 0) {
		if (rc > 0 && !*ref)
			*ref = cx_xstrdup(range);
		jv_free(f);
		return rc;
	}
	read = read_of(run, f, kc);
	if (cx_json_str(read, "error")) {
		cx_err_set(err, (int)jv_number_value(jv_object_get(jv_copy(read),
		    jv_string("code"))), "%s", cx_json_str(read, "error"));
		rc = -1;
	} else if (jv_get_kind(at = jv_getpath(jv_copy(read), JV_ARRAY(jv_string("keys"),
	    jv_string(key)))) == JV_KIND_NUMBER) {
		*ref = cx_sheets_row_range(cx_json_str(read, "block"), (size_t)jv_number_value(at));
		if (!*ref)
			*ref = cx_xstrdup(range);
		rc = cx_sheet_rows_record(run->s, id, range, key, tenant ? tenant : "default", *ref,
		    err) < 0 ? -1 : 1;
		jv_free(at);
	} else {
		jv_free(at);
		rc = 0;
	}
	jv_free(read);
	jv_free(f);
	return rc;
}

void cx_sheets_reconcile_end(cx_channel_recon *run)
{
	recon *r = run->own;

	if (!r)
		return;
	jv_free(r->reads);
	free(r);
	run->own = NULL;
}
