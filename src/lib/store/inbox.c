/* inbox.c: the inbox and consumers tables. */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "crypto.h"
#include "inbox.h"
#include "json.h"
#include "metrics.h"
#include "xalloc.h"

void cx_inbox_new_correlation_id(char out[CX_CORRELATION_ID_LEN])
{
	uint64_t ms = (uint64_t)cx_clock_now_ms();
	unsigned char r[16];

	for (int i = 5; i >= 0; i--, ms >>= 8)
		r[i] = (unsigned char)ms;
	cx_crypto_random(r + 6, sizeof r - 6);
	out[0] = 'c';
	out[1] = '-';
	cx_crypto_hex(r, sizeof r, out + 2);
}

static const char sql_add[] =
    "INSERT INTO inbox (provider, correlation_id, received_at, received_epoch,"
    " headers, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

int cx_inbox_add(cx_store *s, const char *provider, const char *correlation_id,
    int64_t received, const char *headers, const char *body, size_t len,
    int64_t *id, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_add, err);
	char ts[CX_RFC3339_LEN];

	if (!st)
		return -1;
	cx_clock_rfc3339(received, -1, ts);
	cx_stmt_text(st, 1, provider);
	cx_stmt_text(st, 2, correlation_id);
	cx_stmt_text(st, 3, ts);
	cx_stmt_int(st, 4, received);
	cx_stmt_text(st, 5, headers ? headers : "{}");
	cx_stmt_textn(st, 6, body, len);
	if (cx_stmt_run(st, err) < 0)
		return -1;
	*id = cx_store_last_id(s);
	return 0;
}

int cx_inbox_count(cx_store *s, const char *provider, int64_t n, cx_err *err)
{
	char *labels = cx_metrics_labels("provider", provider, NULL);
	int rc = cx_metrics_add(s, "cx_inbox_deliveries_total", labels, n, err);

	free(labels);
	return rc;
}

char *cx_inbox_line(int64_t id, const char *provider, const char *correlation_id,
    const char *received_at, const char *headers, const char *body, size_t len)
{
	jv o = jv_object(), h = headers ? jv_parse(headers) : jv_null();
	char *head, *line;
	size_t hl;

	o = jv_object_set(o, jv_string("v"), jv_number(1));
	o = jv_object_set(o, jv_string("type"), jv_string("webhook.received"));
	o = jv_object_set(o, jv_string("inbox_id"), jv_number((double)id));
	o = jv_object_set(o, jv_string("provider"), jv_string(provider));
	o = jv_object_set(o, jv_string("correlation_id"), jv_string(correlation_id));
	o = jv_object_set(o, jv_string("received_at"), jv_string(received_at));
	if (jv_get_kind(h) == JV_KIND_OBJECT && jv_object_length(jv_copy(h)) > 0)
		o = jv_object_set(o, jv_string("headers"), h);
	else
		jv_free(h);
	head = cx_json_dump(o);
	hl = strlen(head) - 1;  /* without the closing brace */
	line = cx_xmalloc(hl + 8 + len + 2);
	memcpy(line, head, hl);
	memcpy(line + hl, ",\"body\":", 8);
	/* In valid JSON a raw CR or LF can only be white space between tokens. */
	for (size_t i = 0; i < len; i++)
		line[hl + 8 + i] = body[i] == '\n' || body[i] == '\r' ? ' ' : body[i];
	memcpy(line + hl + 8 + len, "}", 2);
	free(head);
	return line;
}

static const char sql_read[] =
    "SELECT id, provider, correlation_id, received_at, headers, body FROM inbox"
    " WHERE id > ?1 AND (?2 < 0 OR id <= ?2) ORDER BY id LIMIT ?3";

int cx_inbox_read(cx_store *s, int64_t after, int64_t upto, int64_t limit,
    int (*each)(const char *line, void *ctx), void *ctx, int64_t *last,
    cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_read, err);
	int rc;

	*last = after;
	if (!st)
		return -1;
	cx_stmt_int(st, 1, after);
	cx_stmt_int(st, 2, upto);
	cx_stmt_int(st, 3, limit > 0 ? limit : -1);
	while ((rc = cx_stmt_step(st, err)) == 1) {
		int64_t id = cx_stmt_col_int(st, 0);
		size_t len;
		const char *body = cx_stmt_col_blob(st, 5, &len);
		char *line = cx_inbox_line(id, cx_stmt_col_text(st, 1),
		    cx_stmt_col_text(st, 2), cx_stmt_col_text(st, 3),
		    cx_stmt_col_text(st, 4), body, len);
		int stop;

		*last = id;
		stop = each(line, ctx) < 0;
		free(line);
		if (stop) {
			rc = 0;
			break;
		}
	}
	cx_stmt_reset(st);
	return rc < 0 ? -1 : 0;
}

static const char sql_register[] =
    "INSERT INTO consumers (name, cursor, updated_at) VALUES (?1, 0, ?2)"
    " ON CONFLICT (name) DO NOTHING";
static const char sql_cursor[] = "SELECT cursor FROM consumers WHERE name = ?1";

int cx_inbox_cursor(cx_store *s, const char *consumer, int64_t *cursor,
    cx_err *err)
{
	char ts[CX_RFC3339_LEN];
	cx_stmt *st = cx_store_prepare(s, sql_register, err);

	if (!st)
		return -1;
	cx_clock_rfc3339(cx_clock_now(), -1, ts);
	cx_stmt_text(st, 1, consumer);
	cx_stmt_text(st, 2, ts);
	if (cx_stmt_run(st, err) < 0 || !(st = cx_store_prepare(s, sql_cursor, err)))
		return -1;
	cx_stmt_text(st, 1, consumer);
	if (cx_stmt_step(st, err) != 1)
		return -1;
	*cursor = cx_stmt_col_int(st, 0);
	cx_stmt_reset(st);
	return 0;
}

static const char sql_advance[] =
    "UPDATE consumers SET cursor = max(cursor,"
    " min(?2, (SELECT coalesce(max(id), 0) FROM inbox))), updated_at = ?3"
    " WHERE name = ?1";

int cx_inbox_advance(cx_store *s, const char *consumer, int64_t upto,
    int64_t *cursor, cx_err *err)
{
	char ts[CX_RFC3339_LEN];
	cx_stmt *st;

	if (cx_store_begin(s, err) < 0)
		return -1;
	if (cx_inbox_cursor(s, consumer, cursor, err) < 0 ||
	    !(st = cx_store_prepare(s, sql_advance, err)))
		goto fail;
	cx_clock_rfc3339(cx_clock_now(), -1, ts);
	cx_stmt_text(st, 1, consumer);
	cx_stmt_int(st, 2, upto);
	cx_stmt_text(st, 3, ts);
	if (cx_stmt_run(st, err) < 0 || cx_inbox_cursor(s, consumer, cursor, err) < 0)
		goto fail;
	return cx_store_commit(s, err);
fail:
	cx_store_rollback(s);
	return -1;
}

static const char sql_next[] = "SELECT min(id) FROM inbox WHERE id > ?1";

int cx_inbox_next_id(cx_store *s, int64_t after, int64_t *id, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_next, err);

	if (!st)
		return -1;
	cx_stmt_int(st, 1, after);
	if (cx_stmt_step(st, err) != 1)
		return -1;
	*id = cx_stmt_col_is_null(st, 0) ? 0 : cx_stmt_col_int(st, 0);
	cx_stmt_reset(st);
	return 0;
}

static const char sql_prune[] =
    "DELETE FROM inbox WHERE received_epoch < ?1"
    " AND id <= (SELECT min(cursor) FROM consumers)";

int cx_inbox_prune(cx_store *s, int64_t before, int64_t *deleted, cx_err *err)
{
	cx_stmt *st;

	if (cx_store_begin(s, err) < 0)
		return -1;
	if (!(st = cx_store_prepare(s, sql_prune, err)))
		goto fail;
	cx_stmt_int(st, 1, before);
	if (cx_stmt_run(st, err) < 0)
		goto fail;
	*deleted = cx_store_changes(s);
	return cx_store_commit(s, err);
fail:
	cx_store_rollback(s);
	return -1;
}

static const char sql_depth[] =
    "SELECT count(*) FROM inbox WHERE id > coalesce((SELECT min(cursor) FROM consumers), 0)";

int cx_inbox_depth(cx_store *s, int64_t *depth, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_depth, err);

	if (!st || cx_stmt_step(st, err) != 1)
		return -1;
	*depth = cx_stmt_col_int(st, 0);
	cx_stmt_reset(st);
	return 0;
}
