/* metrics.c: counters in the metrics table and their exposition. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jv.h>

#include "metrics.h"
#include "sheetrows.h"
#include "xalloc.h"

char *cx_metrics_labels(const char *key, ...)
{
	va_list ap;
	jv out = jv_string("");
	const char *k = key;
	char *s;

	va_start(ap, key);
	while (k) {
		const char *v = va_arg(ap, const char *);

		if (jv_string_length_bytes(jv_copy(out)) > 0)
			out = jv_string_append_str(out, ",");
		out = jv_string_append_str(out, k);
		out = jv_string_append_str(out, "=\"");
		for (const char *p = v; *p; p++) {
			if (*p == '\\' || *p == '"')
				out = jv_string_append_buf(out, "\\", 1);
			if (*p == '\n')
				out = jv_string_append_str(out, "\\n");
			else
				out = jv_string_append_buf(out, p, 1);
		}
		out = jv_string_append_str(out, "\"");
		k = va_arg(ap, const char *);
	}
	va_end(ap);
	s = cx_xstrdup(jv_string_value(out));
	jv_free(out);
	return s;
}

static const char sql_add[] =
    "INSERT INTO metrics (name, labels, value) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value";

int cx_metrics_add(cx_store *s, const char *name, const char *labels,
    int64_t delta, cx_err *err)
{
	cx_stmt *st;

	if (delta == 0)
		return 0;
	st = cx_store_prepare(s, sql_add, err);
	if (!st)
		return -1;
	cx_stmt_text(st, 1, name);
	cx_stmt_text(st, 2, labels ? labels : "");
	cx_stmt_int(st, 3, delta);
	return cx_stmt_run(st, err);
}

static const char sql_all[] =
    "SELECT name, labels, value FROM metrics ORDER BY name, labels";

int cx_metrics_write(cx_store *s, FILE *out, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_all, err);
	char *last = NULL;
	int rc;

	if (!st)
		return -1;
	while ((rc = cx_stmt_step(st, err)) == 1) {
		const char *name = cx_stmt_col_text(st, 0);
		const char *labels = cx_stmt_col_text(st, 1);

		if (!last || strcmp(last, name) != 0) {
			free(last);
			last = cx_xstrdup(name);
			fprintf(out, "# TYPE %s counter\n", name);
		}
		if (labels && *labels)
			fprintf(out, "%s{%s} %lld\n", name, labels,
			    (long long)cx_stmt_col_int(st, 2));
		else
			fprintf(out, "%s %lld\n", name, (long long)cx_stmt_col_int(st, 2));
	}
	free(last);
	cx_stmt_reset(st);
	return rc < 0 ? -1 : cx_sheet_rows_write_gauge(s, out, err);
}
