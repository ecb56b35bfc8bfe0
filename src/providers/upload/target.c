/* target.c: a package-upload target's settings and its status answers
 * (uploadtarget.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "exit.h"
#include "uploadtarget.h"
#include "xalloc.h"

#define NAME_MAX_LEN 64
#define POLL_MAX_BODY (1024 * 1024)

int upload_target_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > NAME_MAX_LEN)
		return 0;
	for (const char *c = name; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("-_.", *c))
			return 0;
	return 1;
}

/* Whether p is a jq path of fields and indexes only (.a.b, .a[0],
 * .["a-b"], .): nothing in it can run long or have effects. */
static int path_ok(const char *p)
{
	if (strcmp(p, ".") == 0)
		return 1;
	if (*p != '.')
		return 0;
	while (*p) {
		if (*p == '.' && (isalpha((unsigned char)p[1]) || p[1] == '_')) {
			for (p++; isalnum((unsigned char)*p) || *p == '_'; p++)
				;
			continue;
		}
		if (*p == '.')
			p++;
		if (*p++ != '[')
			return 0;
		if (*p == '"') {
			for (p++; *p && *p != '"' && *p != '\\'; p++)
				;
			if (*p++ != '"')
				return 0;
		} else if (isdigit((unsigned char)*p)) {
			while (isdigit((unsigned char)*p))
				p++;
		} else {
			return 0;
		}
		if (*p++ != ']')
			return 0;
	}
	return 1;
}

/* The setting prefix_<TARGET>, or def. */
static const char *setting(const upload_target *t, const char *prefix, const char *def,
    char *name, size_t cap)
{
	snprintf(name, cap, "%s_%s", prefix, t->env);
	return cx_config_get(name, def);
}

static int compile_path(const upload_target *t, const char *prefix, const char *def,
    cx_jq **out, cx_err *err)
{
	char name[128];
	const char *path = setting(t, prefix, def, name, sizeof name);

	if (!path_ok(path))
		return cx_err_set(err, CX_EXIT_CONFIG, "%s must be a jq path of fields and "
		    "indexes, like %s or .data[0].id", name, def);
	if (!(*out = cx_jq_compile(path, jv_null(), err)))
		return cx_err_set(err, CX_EXIT_CONFIG, "%s: %s", name, err->msg);
	return 0;
}

/* The final statuses: the comma list, lower-cased, blanks dropped. */
static char **final_list(const char *list)
{
	char *copy = cx_xstrdup(list), *save = NULL;
	size_t n = 0;
	char **out = cx_xcalloc(strlen(list) / 2 + 2, sizeof *out);

	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		w += strspn(w, " \t");
		w[strcspn(w, " \t")] = '\0';
		if (!*w)
			continue;
		for (char *c = w; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		out[n++] = cx_xstrdup(w);
	}
	free(copy);
	return out;
}

int upload_target_load(const char *name, upload_target *t, cx_err *err)
{
	char setting_name[128];
	const char *v;
	size_t n;

	memset(t, 0, sizeof *t);
	if (!upload_target_name_ok(name))
		return cx_err_set(err, CX_EXIT_DATAERR, "target must be 1 to %d letters, digits, "
		    "'-', '_' or '.'", NAME_MAX_LEN);
	t->name = cx_xstrdup(name);
	t->env = cx_xstrdup(name);
	for (char *c = t->env; *c; c++)
		*c = isalnum((unsigned char)*c) ? (char)toupper((unsigned char)*c) : '_';
	if ((v = setting(t, "CX_UPLOAD_URL", NULL, setting_name, sizeof setting_name)))
		t->url = cx_xstrdup(v);
	if ((v = setting(t, "CX_UPLOAD_STATUS_URL", NULL, setting_name, sizeof setting_name)))
		t->status_url = cx_xstrdup(v);
	t->final = final_list(setting(t, "CX_UPLOAD_FINAL", "delivered,rejected", setting_name,
	    sizeof setting_name));
	n = (size_t)snprintf(setting_name, sizeof setting_name, "CX_UPLOAD_API_KEY_%s", t->env);
	if (n >= sizeof setting_name || cx_secret_get(setting_name, &t->api_key, err) < 0 ||
	    compile_path(t, "CX_UPLOAD_ID_PATH", ".id", &t->id_path, err) < 0 ||
	    compile_path(t, "CX_UPLOAD_STATUS_PATH", ".status", &t->status_path, err) < 0) {
		upload_target_free(t);
		return -1;
	}
	return 0;
}

void upload_target_free(upload_target *t)
{
	free(t->name);
	free(t->env);
	free(t->url);
	cx_secret_free(t->api_key);
	free(t->status_url);
	cx_jq_free(t->id_path);
	cx_jq_free(t->status_path);
	for (char **f = t->final; f && *f; f++)
		free(*f);
	free(t->final);
	memset(t, 0, sizeof *t);
}

int upload_target_final(const upload_target *t, const char *status)
{
	for (char **f = t->final; f && *f; f++)
		if (strcmp(*f, status) == 0)
			return 1;
	return 0;
}

int upload_status_of(const upload_target *t, jv body, char **status, char **raw)
{
	jv v = cx_jq_first(t->status_path, jv_copy(body));
	char *text = NULL;

	*status = *raw = NULL;
	if (jv_get_kind(v) == JV_KIND_STRING || jv_get_kind(v) == JV_KIND_NUMBER)
		text = cx_json_key_string(v);
	else
		jv_free(v);
	if (!text || !*text || strlen(text) > UPLOAD_STATUS_MAX) {
		free(text);
		return 0;
	}
	*raw = text;
	*status = cx_xstrdup(text);
	for (char *c = *status; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return 1;
}

/* t's status URL for protocol_id: every {id} replaced, percent-encoded. */
static char *status_url(const upload_target *t, const char *protocol_id)
{
	char *id = cx_http_escape(protocol_id);
	cx_buf b = { 0 };
	const char *p = t->status_url, *hit;

	while ((hit = strstr(p, "{id}"))) {
		cx_buf_add(&b, p, (size_t)(hit - p));
		cx_buf_add(&b, id, strlen(id));
		p = hit + 4;
	}
	cx_buf_add(&b, p, strlen(p) + 1);
	cx_secret_free(id);
	return b.s;
}

int upload_target_poll(const upload_target *t, const char *protocol_id, char **status,
    char **raw, cx_http_response *resp, cx_err *err)
{
	char *url = status_url(t, protocol_id);
	cx_http_request req = { .url = url, .bearer = t->api_key, .max_body = POLL_MAX_BODY };
	jv body;
	int rc;

	*status = *raw = NULL;
	rc = cx_http_do(&req, resp, err);
	free(url);
	if (rc < 0)
		return -1;
	if (resp->status < 200 || resp->status > 299)
		return cx_err_set(err, CX_EXIT_UNAVAILABLE, "HTTP %ld", resp->status);
	body = cx_http_json(resp);
	rc = upload_status_of(t, body, status, raw);
	jv_free(body);
	if (rc == 0)
		return cx_err_set(err, CX_EXIT_UNAVAILABLE, "the answer has no status at "
		    "CX_UPLOAD_STATUS_PATH_%s", t->env);
	return 0;
}
