/* json.c: jq programs compiled once and run per value, and jv helpers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jq.h>

#include "exit.h"
#include "json.h"
#include "xalloc.h"

struct cx_jq {
	jq_state *jq;
	char errmsg[256];
};

static void capture_error(void *data, jv msg)
{
	cx_jq *q = data;
	jv s = jv_get_kind(msg) == JV_KIND_STRING ? msg : jv_dump_string(msg, 0);

	if (!q->errmsg[0])
		snprintf(q->errmsg, sizeof q->errmsg, "%s", jv_string_value(s));
	jv_free(s);
}

/* jq 1.6 takes program arguments as [{name, value}]. */
static jv args_array(jv args)
{
	jv arr = jv_array();

	if (jv_get_kind(args) != JV_KIND_OBJECT) {
		jv_free(args);
		return arr;
	}
	jv_object_foreach(args, k, v) {
		jv a = jv_object();

		a = jv_object_set(a, jv_string("name"), k);
		a = jv_object_set(a, jv_string("value"), v);
		arr = jv_array_append(arr, a);
	}
	jv_free(args);
	return arr;
}

cx_jq *cx_jq_compile(const char *program, jv args, cx_err *err)
{
	cx_jq *q = cx_xcalloc(1, sizeof *q);

	q->jq = jq_init();
	if (!q->jq) {
		free(q);
		jv_free(args);
		cx_err_set(err, CX_EXIT_TEMPFAIL, "cannot initialize jq");
		return NULL;
	}
	jq_set_error_cb(q->jq, capture_error, q);
	if (!jq_compile_args(q->jq, program, args_array(args))) {
		cx_err_set(err, CX_EXIT_USAGE, "jq program does not compile: %s",
		    q->errmsg[0] ? q->errmsg : "syntax error");
		cx_jq_free(q);
		return NULL;
	}
	return q;
}

cx_jq *cx_jq_compile_file(const char *path, jv args, cx_err *err)
{
	jv text = jv_load_file(path, 1);
	cx_jq *q;

	if (!jv_is_valid(text)) {
		jv_free(text);
		jv_free(args);
		cx_err_set(err, CX_EXIT_CONFIG, "cannot read %s", path);
		return NULL;
	}
	q = cx_jq_compile(jv_string_value(text), args, err);
	if (!q)
		snprintf(err->msg + strlen(err->msg),
		    sizeof err->msg - strlen(err->msg), " (in %s)", path);
	jv_free(text);
	return q;
}

void cx_jq_free(cx_jq *q)
{
	if (!q)
		return;
	jq_teardown(&q->jq);
	free(q);
}

int cx_jq_run(cx_jq *q, jv input, void (*each)(jv out, void *ctx), void *ctx,
    cx_err *err)
{
	jv out;

	jq_start(q->jq, input, 0);
	while (jv_is_valid(out = jq_next(q->jq)))
		each(out, ctx);
	if (jv_invalid_has_msg(jv_copy(out))) {
		jv msg = jv_invalid_get_msg(out);
		jv s = jv_get_kind(msg) == JV_KIND_STRING ? msg : jv_dump_string(msg, 0);

		cx_err_set(err, CX_EXIT_DATAERR, "%s", jv_string_value(s));
		jv_free(s);
		return -1;
	}
	jv_free(out);
	return 0;
}

jv cx_jq_first(cx_jq *q, jv input)
{
	jv out;

	jq_start(q->jq, input, 0);
	out = jq_next(q->jq);
	return out;
}

const char *cx_json_str(jv obj, const char *key)
{
	jv v;
	const char *s;

	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return NULL;
	v = jv_object_get(jv_copy(obj), jv_string(key));
	if (jv_get_kind(v) != JV_KIND_STRING) {
		jv_free(v);
		return NULL;
	}
	s = jv_string_value(v);
	/* obj still holds a reference, so the bytes outlive v. */
	jv_free(v);
	return s;
}

char *cx_json_key_string(jv v)
{
	char *s;

	switch (jv_get_kind(v)) {
	case JV_KIND_INVALID:
	case JV_KIND_NULL:
		jv_free(v);
		return NULL;
	case JV_KIND_STRING:
		s = cx_xstrdup(jv_string_value(v));
		jv_free(v);
		return s;
	default:
		return cx_json_dump(v);
	}
}

char *cx_json_dump(jv v)
{
	jv s = jv_dump_string(v, 0);
	char *out = cx_xstrdup(jv_string_value(s));

	jv_free(s);
	return out;
}
