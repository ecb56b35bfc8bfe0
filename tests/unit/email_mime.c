/* email_mime: the RFC 5322 message cx_email_mime makes of the e-mail item
 * on stdin, on stdout, for tests/62-email-smtp-server.bats (a test tool,
 * built with the unit tests and never installed). The ids a sender sets
 * come from the item's own test fields: message_id, date (epoch seconds),
 * tenant, correlation_id. A bad item: its JSON path and the reason on
 * stderr, exit status 65. */
#include <stdio.h>
#include <stdlib.h>

#include "emailmsg.h"
#include "exit.h"
#include "json.h"
#include "xalloc.h"

static char *test_field(jv item, const char *key)
{
	const char *s = cx_json_str(item, key);

	return s ? cx_xstrdup(s) : NULL;
}

int main(void)
{
	cx_buf in = {0};
	char chunk[65536], *out;
	size_t n, len;
	cx_email_msg m;
	const char *path;
	cx_err err;
	jv item, date;

	while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
		cx_buf_add(&in, chunk, n);
	item = jv_parse_sized(in.s ? in.s : "", (int)in.len);
	free(in.s);
	if (cx_email_msg_from_json(item, &m, &path, &err) < 0) {
		fprintf(stderr, "email_mime: %s (at %s)\n", err.msg, path);
		jv_free(item);
		return err.code;
	}
	m.message_id = test_field(item, "message_id");
	m.tenant = test_field(item, "tenant");
	m.correlation_id = test_field(item, "correlation_id");
	date = jv_object_get(jv_copy(item), jv_string("date"));
	m.date = jv_get_kind(date) == JV_KIND_NUMBER ? (int64_t)jv_number_value(date) : 0;
	jv_free(date);
	jv_free(item);
	if (cx_email_mime(&m, &out, &len, &err) < 0) {
		fprintf(stderr, "email_mime: %s\n", err.msg);
		cx_email_msg_free(&m);
		return err.code;
	}
	fwrite(out, 1, len, stdout);
	free(out);
	cx_email_msg_free(&m);
	return CX_EXIT_OK;
}
