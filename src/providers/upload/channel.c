/* channel.c: the upload channel (uploadchannel.h): its checks, the
 * multipart POST of a package, and the delivery kept once it is
 * published. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "deliveries.h"
#include "exit.h"
#include "json.h"
#include "uploadchannel.h"
#include "uploadtarget.h"
#include "utf8.h"
#include "xalloc.h"

#define FIELDS_MAX 64
#define FIELD_NAME_MAX 128
#define REF_MAX 256
#define ANSWER_MAX (1024 * 1024)
#define READ_CHUNK (256 * 1024)
#define TIMEOUT_DEFAULT 3600     /* seconds: CX_UPLOAD_TIMEOUT_SECONDS */

static const cx_channel_kind upload_kinds[] = {
	{ "package", 0, 0, 0, { NULL }, NULL },
	{ NULL, 0, 0, 0, { NULL }, NULL },
};

/* --- checks --------------------------------------------------------------- */

/* fields: absent, or an object of at most FIELDS_MAX strings whose names
 * are not "file" (the package's part). */
static int check_fields(jv p, const char **problem, cx_err *err)
{
	jv fields = jv_object_get(jv_copy(p), jv_string("fields"));
	const char *bad = NULL;

	if (jv_get_kind(fields) == JV_KIND_INVALID || jv_get_kind(fields) == JV_KIND_NULL) {
		jv_free(fields);
		return 0;
	}
	if (jv_get_kind(fields) != JV_KIND_OBJECT)
		bad = "fields must be an object of strings";
	else if (jv_object_length(jv_copy(fields)) > FIELDS_MAX)
		bad = "fields may hold at most 64 fields";
	else
		jv_object_foreach(fields, k, v) {
			int klen = jv_string_length_bytes(jv_copy(k));

			if (!bad && (jv_get_kind(v) != JV_KIND_STRING || klen == 0 ||
			    klen > FIELD_NAME_MAX || strcmp(jv_string_value(k), "file") == 0 ||
			    (int)strlen(jv_string_value(k)) != klen ||
			    (int)strlen(jv_string_value(v)) != jv_string_length_bytes(jv_copy(v))))
				bad = "fields must map names (1 to 128 characters, not \"file\") to "
				    "strings without NUL";
			jv_free(k);
			jv_free(v);
		}
	jv_free(fields);
	return bad ? cx_channel_invalid(problem, "invalid_field", err, "%s", bad) : 0;
}

static int upload_check(jv p, const char **problem, cx_err *err)
{
	const char *target = cx_json_str(p, "target"), *file = cx_json_str(p, "file");
	const char *cid = cx_json_str(p, "correlation_id");
	jv ctype = jv_object_get(jv_copy(p), jv_string("content_type"));
	int ctype_ok = jv_get_kind(ctype) == JV_KIND_INVALID ||
	    (jv_get_kind(ctype) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(ctype)) > 0 &&
	    !cx_utf8_has_control(jv_string_value(ctype)));

	jv_free(ctype);
	if (!target || !upload_target_name_ok(target))
		return cx_channel_invalid(problem, "missing_field", err, "target is required: "
		    "1 to 64 letters, digits, '-', '_' or '.' naming a configured target");
	if (!file || file[0] != '/' || strlen(file) > 4096)
		return cx_channel_invalid(problem, "missing_field", err,
		    "file is required: the package's absolute path");
	if (!ctype_ok)
		return cx_channel_invalid(problem, "invalid_field", err,
		    "content_type must be a non-empty string without control characters");
	if (cid && cx_utf8_has_control(cid))
		return cx_channel_invalid(problem, "invalid_field", err,
		    "correlation_id must hold no control characters (it is sent as a header)");
	return check_fields(p, problem, err);
}

/* Checked again when the item is claimed, with its target's settings: a
 * target without a URL is not configured. */
static int upload_build(jv item, cx_channel_call *call, const char **code, cx_err *err)
{
	jv f = cx_channel_fields(item);
	upload_target t;
	int rc = upload_check(f, NULL, err);

	if (rc == 0 && (rc = upload_target_load(cx_json_str(f, "target"), &t, err)) == 0) {
		if (!t.url) {
			*code = "NOT_CONFIGURED";
			rc = cx_err_set(err, CX_EXIT_CONFIG, "upload target %s is not configured: "
			    "CX_UPLOAD_URL_%s is not set", t.name, t.env);
		} else {
			call->url = cx_xstrdup(t.url);
			call->body = cx_xstrdup("");
		}
		upload_target_free(&t);
	} else if (rc < 0 && err->code == CX_EXIT_CONFIG) {
		*code = "NOT_CONFIGURED";
	}
	jv_free(f);
	return rc;
}

/* --- the package ------------------------------------------------------------ */

/* The SHA-256 (hex) and size of the regular file path, read in chunks. */
static int file_digest(const char *path, char hex[2 * CX_SHA256_LEN + 1], int64_t *size,
    cx_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	EVP_MD_CTX *md = NULL;
	unsigned char *buf = NULL, out[CX_SHA256_LEN];
	struct stat st;
	ssize_t n = 0;
	int rc = -1;

	*size = 0;
	if (fd < 0 || fstat(fd, &st) < 0) {
		cx_err_set(err, CX_EXIT_DATAERR, "file %s: %s", path, strerror(errno));
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		cx_err_set(err, CX_EXIT_DATAERR, "file %s is not a regular file", path);
		goto done;
	}
	buf = cx_xmalloc(READ_CHUNK);
	if (!(md = EVP_MD_CTX_new()) || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		cx_err_set(err, CX_EXIT_TEMPFAIL, "cannot start a SHA-256");
		goto done;
	}
	while ((n = read(fd, buf, READ_CHUNK)) > 0 || (n < 0 && errno == EINTR))
		if (n > 0) {
			EVP_DigestUpdate(md, buf, (size_t)n);
			*size += n;
		}
	if (n < 0) {
		cx_err_set(err, CX_EXIT_DATAERR, "file %s: %s", path, strerror(errno));
		goto done;
	}
	EVP_DigestFinal_ex(md, out, NULL);
	cx_crypto_hex(out, sizeof out, hex);
	rc = 0;
done:
	EVP_MD_CTX_free(md);
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

static char *upload_default_key(jv line, cx_err *err)
{
	const char *target = cx_json_str(line, "target"), *file = cx_json_str(line, "file");
	char hex[2 * CX_SHA256_LEN + 1];
	int64_t size;

	if (upload_check(line, NULL, err) < 0 || file_digest(file, hex, &size, err) < 0)
		return NULL;
	return cx_xasprintf("upload:%s:%s", target, hex);
}

/* --- answers ---------------------------------------------------------------- */

static void upload_judge(cx_channel_result *r, long status, jv body)
{
	const char *msg = cx_json_str(body, "message");
	char why[128];

	cx_channel_excerpt(msg ? msg : cx_json_str(body, "error"), why, sizeof why);
	cx_channel_by_status(r, status, why);
	if (status == 401 || status == 403)
		r->code = "AUTH_FAILED";
}

/* The protocol id at the id path of an answer: a string or a number. */
static char *protocol_id(const upload_target *t, jv body)
{
	jv v = cx_jq_first(t->id_path, body);
	char *id = NULL;

	if (jv_get_kind(v) == JV_KIND_STRING || jv_get_kind(v) == JV_KIND_NUMBER)
		id = cx_json_key_string(v);
	else
		jv_free(v);
	if (id && (!*id || strlen(id) > REF_MAX || cx_utf8_has_control(id))) {
		free(id);
		id = NULL;
	}
	return id;
}

/* A published answer: its protocol id and status into r and *data. */
static void take_answer(const upload_target *t, const cx_http_response *resp,
    cx_channel_result *r, jv *data)
{
	jv body = cx_http_json(resp);
	char *id = protocol_id(t, jv_copy(body)), *status = NULL, *raw = NULL;

	free(r->provider_ref);
	r->provider_ref = NULL;
	if (!id) {
		cx_channel_set(r, CX_CHANNEL_FAILED, "UPSTREAM_INVALID", "HTTP %ld without a "
		    "protocol id at CX_UPLOAD_ID_PATH_%s", resp->status, t->env);
	} else {
		if (!upload_status_of(t, body, &status, &raw)) {
			status = cx_xstrdup("accepted");
			raw = cx_xstrdup("accepted");
		}
		r->provider_ref = cx_xstrdup(id);
		*data = jv_object_set(*data, jv_string("protocol_id"), jv_string(id));
		*data = jv_object_set(*data, jv_string("status"), jv_string(status));
		*data = jv_object_set(*data, jv_string("raw_status"), jv_string(raw));
	}
	jv_free(body);
	free(id);
	free(status);
	free(raw);
}

/* --- the transfer ------------------------------------------------------------ */

/* The form: the fields as text parts in their order, then the file. */
static cx_http_part *form_parts(jv f, const char *file, const char *filename)
{
	jv fields = jv_object_get(jv_copy(f), jv_string("fields"));
	int n = jv_get_kind(fields) == JV_KIND_OBJECT ? jv_object_length(jv_copy(fields)) : 0;
	cx_http_part *parts = cx_xcalloc((size_t)n + 2, sizeof *parts);
	int i = 0;

	if (n > 0)
		jv_object_foreach(fields, k, v) {
			parts[i].name = cx_xstrdup(jv_string_value(k));
			parts[i++].value = cx_xstrdup(jv_string_value(v));
			jv_free(k);
			jv_free(v);
		}
	parts[i].name = "file";
	parts[i].path = file;
	parts[i].filename = filename;
	parts[i].content_type = cx_json_str(f, "content_type");
	jv_free(fields);
	return parts;
}

static void form_free(cx_http_part *parts)
{
	for (cx_http_part *p = parts; p->name && !p->path; p++) {
		free((char *)p->name);
		free((char *)p->value);
	}
	free(parts);
}

/* POSTs the package of f to t: the verdict in r, what is known in *data. */
static void post_package(const upload_target *t, jv f, cx_channel_result *r, jv *data)
{
	const char *file = cx_json_str(f, "file"), *cid = cx_json_str(f, "correlation_id");
	const char *slash = strrchr(file, '/');
	char *header = cid ? cx_xasprintf("X-Correlation-Id: %s", cid) : NULL;
	const char *headers[] = { header, NULL };
	cx_http_part *parts = form_parts(f, file, slash ? slash + 1 : file);
	cx_http_request req = { .url = t->url, .headers = headers, .parts = parts,
		.bearer = t->api_key, .max_body = ANSWER_MAX };
	cx_http_response resp;
	cx_err terr = { 0, "" };
	int64_t secs;
	int rc;

	if (cx_config_int("CX_UPLOAD_TIMEOUT_SECONDS", TIMEOUT_DEFAULT, &secs, &terr) < 0 ||
	    secs <= 0) {
		cx_channel_set(r, CX_CHANNEL_FAILED, "NOT_CONFIGURED", "%s",
		    terr.msg[0] ? terr.msg : "CX_UPLOAD_TIMEOUT_SECONDS must be positive");
		goto done;
	}
	req.timeout_ms = (long)(secs * 1000);
	rc = cx_http_do(&req, &resp, &terr);
	cx_channel_judge_http(upload_judge, rc, &resp, &terr, cx_clock_now(), r);
	if (rc < 0 && terr.code == CX_EXIT_DATAERR && !resp.sent)
		cx_channel_set(r, CX_CHANNEL_FAILED, "VALIDATION_FAILED", "%s", terr.msg);
	if (r->verdict == CX_CHANNEL_PUBLISHED)
		take_answer(t, &resp, r, data);
	cx_http_response_free(&resp);
done:
	form_free(parts);
	free(header);
}

/* One item of a transfer. */
static void upload_item(cx_channel_transfer *tr, size_t i)
{
	jv item = jv_array_get(jv_copy(tr->items), (int)i);
	jv f = cx_channel_fields(item);
	cx_channel_result *r = &tr->results[i];
	const char *target = cx_json_str(f, "target"), *file = cx_json_str(f, "file");
	char hex[2 * CX_SHA256_LEN + 1];
	upload_target t = { 0 };
	cx_err err = { 0, "" };
	int64_t size;

	tr->data[i] = jv_object_set(jv_object(), jv_string("target"),
	    jv_string(target ? target : ""));
	tr->data[i] = jv_object_set(tr->data[i], jv_string("file"), jv_string(file ? file : ""));
	if (upload_check(f, NULL, &err) < 0 || file_digest(file, hex, &size, &err) < 0) {
		cx_channel_set(r, CX_CHANNEL_FAILED, "VALIDATION_FAILED", "%s", err.msg);
	} else if (upload_target_load(target, &t, &err) < 0 || !t.url) {
		cx_channel_set(r, CX_CHANNEL_FAILED, "NOT_CONFIGURED", "%s", err.msg[0] ? err.msg :
		    "upload target is not configured: CX_UPLOAD_URL_<TARGET> is not set");
	} else {
		tr->data[i] = jv_object_set(tr->data[i], jv_string("sha256"), jv_string(hex));
		tr->data[i] = jv_object_set(tr->data[i], jv_string("size"), jv_number((double)size));
		if (*tr->stop)
			cx_channel_set(r, CX_CHANNEL_RETRY, "INTERRUPTED",
			    "cx-publish is stopping: not sent");
		else
			post_package(&t, f, r, &tr->data[i]);
	}
	upload_target_free(&t);
	jv_free(f);
	jv_free(item);
}

static void upload_transfer(cx_channel_transfer *t)
{
	for (size_t i = 0; i < t->n; i++)
		upload_item(t, i);
}

/* --- what is kept -------------------------------------------------------------- */

static int upload_settled(cx_store *s, jv item, const cx_channel_call *call,
    const char *state, const char *provider_ref, cx_err *err)
{
	jv d = call->data;
	const char *status = jv_get_kind(d) == JV_KIND_OBJECT ? cx_json_str(d, "status") : NULL;
	const char *tenant = cx_json_str(item, "tenant");
	upload_target t;
	cx_delivery_new n;
	cx_err ignored;
	char *outbound;
	jv num;
	int rc;

	if (strcmp(state, "published") != 0 || !provider_ref || !status)
		return 0;
	/* its transfer read the same settings: a final status is final, and
	 * if they can no longer be read, cx-sync deliveries will tell */
	if (upload_target_load(cx_json_str(d, "target"), &t, &ignored) < 0)
		memset(&t, 0, sizeof t);
	num = jv_object_get(jv_copy(d), jv_string("size"));
	outbound = cx_channel_item_ref(item);
	n = (cx_delivery_new){ .target = cx_json_str(d, "target"),
		.tenant = tenant ? tenant : "default",
		.file = cx_json_str(d, "file"), .sha256 = cx_json_str(d, "sha256"),
		.protocol_id = provider_ref, .size = (int64_t)jv_number_value(num),
		.status = status, .raw_status = cx_json_str(d, "raw_status"),
		.final = upload_target_final(&t, status),
		.correlation_id = cx_json_str(item, "correlation_id"), .outbound = outbound };
	rc = cx_deliveries_add(s, &n, err);
	jv_free(num);
	free(outbound);
	upload_target_free(&t);
	return rc;
}

const cx_channel cx_upload_channel = {
	.name = "upload",
	.env = "UPLOAD",
	.provider = NULL,
	.rate = "5",
	.length_note = "",
	.kinds = upload_kinds,
	.check = upload_check,
	.build = upload_build,
	.judge = upload_judge,
	.transfer = upload_transfer,
	.settled = upload_settled,
	.approval_default = "none",
	.default_key = upload_default_key,
	.rollback = 1,
	.package_field = "file",
};
