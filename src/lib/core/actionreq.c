/* actionreq.c: reading an action.requested line and the proposal or
 * command it becomes (actionreq.h). */
#include <stdio.h>
#include <string.h>

#include "actionreq.h"
#include "crypto.h"
#include "exit.h"
#include "json.h"

static int integration_id_ok(const char *id)
{
	if (!id || strncmp(id, "int_", 4) != 0 || strlen(id) != 20)
		return 0;
	for (const char *p = id + 4; *p; p++)
		if (!strchr("0123456789abcdef", *p))
			return 0;
	return 1;
}

/* Whether key may be a command key as it is: it travels in a header. */
static int key_plain(const char *key, size_t room)
{
	size_t n = strlen(key);

	if (n == 0 || n > room)
		return 0;
	for (const char *p = key; *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			return 0;
	return 1;
}

static void make_key(cx_actionreq *a, const char *key)
{
	char sha[2 * CX_SHA256_LEN + 1];
	int n = snprintf(a->key, sizeof a->key, "action:%s:", a->integration_id);

	if (key_plain(key, 256 - (size_t)n)) {
		snprintf(a->key, sizeof a->key, "action:%s:%s", a->integration_id, key);
		return;
	}
	cx_crypto_sha256_hex(key, strlen(key), sha);
	snprintf(a->key, sizeof a->key, "action:%s:sha256:%s", a->integration_id, sha);
}

static int data_field(jv data, const char *key, const char **out, cx_err *err)
{
	*out = cx_json_str(data, key);
	if (!*out || !**out)
		return cx_err_set(err, CX_EXIT_DATAERR, "an action.requested line needs "
		    "data.%s (a string)", key);
	return 0;
}

int cx_actionreq_read(jv v, const char *action, cx_actionreq *a, cx_err *err)
{
	const char *type = cx_json_str(v, "type"), *key;
	jv data, input;
	int rc = -1;

	memset(a, 0, sizeof *a);
	if (!type || strcmp(type, "action.requested") != 0)
		return 0;
	data = jv_object_get(jv_copy(v), jv_string("data"));
	if (jv_get_kind(data) != JV_KIND_OBJECT || !cx_json_str(data, "action") ||
	    strcmp(cx_json_str(data, "action"), action) != 0) {
		jv_free(data);
		return 0;
	}
	input = jv_object_get(jv_copy(data), jv_string("input"));
	/* the strings stay valid: v holds data, which holds them */
	if (data_field(data, "integration_id", &a->integration_id, err) < 0 ||
	    data_field(data, "tenant", &a->tenant, err) < 0 ||
	    data_field(data, "idempotency_key", &key, err) < 0)
		goto out;
	if (!integration_id_ok(a->integration_id)) {
		cx_err_set(err, CX_EXIT_DATAERR, "data.integration_id is not an integration id "
		    "(int_ and 16 hex digits)");
		goto out;
	}
	a->correlation_id = cx_json_str(v, "correlation_id");
	if (!a->correlation_id || !*a->correlation_id) {
		cx_err_set(err, CX_EXIT_DATAERR, "an action.requested line needs its "
		    "correlation_id");
		goto out;
	}
	if (jv_get_kind(input) != JV_KIND_OBJECT) {
		cx_err_set(err, CX_EXIT_DATAERR, "data.input of an action.requested line is "
		    "an object");
		goto out;
	}
	a->action_id = cx_json_str(data, "action_id");
	snprintf(a->actor, sizeof a->actor, "integration:%s", a->integration_id);
	make_key(a, key);
	rc = 1;
out:
	jv_free(input);
	jv_free(data);
	return rc;
}

jv cx_actionreq_command(jv v, const cx_actionreq *a)
{
	jv c = jv_getpath(jv_copy(v), JV_ARRAY(jv_string("data"), jv_string("input")));

	c = jv_object_set(c, jv_string("correlation_id"), jv_string(a->correlation_id));
	c = jv_object_set(c, jv_string("integration_id"), jv_string(a->integration_id));
	if (a->action_id)
		c = jv_object_set(c, jv_string("action_id"), jv_string(a->action_id));
	return jv_object_set(c, jv_string("idempotency_key"), jv_string(a->key));
}
