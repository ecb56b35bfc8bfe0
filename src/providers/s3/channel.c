/* channel.c: the s3 channel (s3channel.h): what an item needs, the
 * tenant's settings, and the channel's entry in the registry. The file is
 * sent by transfer.c. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "crypto.h"
#include "exit.h"
#include "json.h"
#include "s3channel.h"
#include "xalloc.h"

#define MAX_META 2048

static const cx_channel_kind s3_kinds[] = {
	{ "object", 0, 0, 0, { "bucket", "key", "file" }, NULL },
	{ NULL, 0, 0, 0, { NULL }, NULL },
};

/* --- settings ------------------------------------------------------------- */

static int setting(const char *name, const char *tenant, char **out, cx_err *err)
{
	return cx_secret_for_tenant(name, tenant, out, err) < 0 ? -1 : 0;
}

/* "on" or "off" and their kin; def when unset. */
static int flag(const char *name, const char *v, int def, int *out, cx_err *err)
{
	*out = def;
	if (!v)
		return 0;
	if (!strcmp(v, "1") || !strcasecmp(v, "on") || !strcasecmp(v, "true") ||
	    !strcasecmp(v, "yes"))
		*out = 1;
	else if (!strcmp(v, "0") || !strcasecmp(v, "off") || !strcasecmp(v, "false") ||
	    !strcasecmp(v, "no"))
		*out = 0;
	else
		return cx_err_set(err, CX_EXIT_CONFIG, "%s must be on or off", name);
	return 0;
}

static int part_size(const char *v, int64_t *out, cx_err *err)
{
	char *end;
	long long n;

	*out = 8LL * 1024 * 1024;
	if (!v)
		return 0;
	n = strtoll(v, &end, 10);
	if (end == v || *end || n < CX_S3_MIN_PART || n > CX_S3_MAX_PART)
		return cx_err_set(err, CX_EXIT_CONFIG, "CX_S3_PART_SIZE must be a number of bytes "
		    "from %lld (5 MiB) to %lld (5 GiB)", CX_S3_MIN_PART, CX_S3_MAX_PART);
	*out = n;
	return 0;
}

/* Parts in flight at once: 4 unless set, 1 to 16. */
static int concurrency(const char *v, int64_t *out, cx_err *err)
{
	char *end;
	long long n;

	*out = 4;
	if (!v)
		return 0;
	n = strtoll(v, &end, 10);
	if (end == v || *end || n < 1 || n > 16)
		return cx_err_set(err, CX_EXIT_CONFIG, "CX_S3_CONCURRENCY must be a number of "
		    "parts from 1 to 16");
	*out = n;
	return 0;
}

/* The settings that are not keys. */
static int settings_read(const char *tenant, cx_s3_settings *out, cx_err *err)
{
	char *path_style = NULL, *size = NULL, *conc = NULL;
	int ps, rc = -1;

	if (setting("CX_S3_REGION", tenant, &out->region, err) < 0 ||
	    setting("CX_S3_ENDPOINT", tenant, &out->endpoint, err) < 0 ||
	    setting("CX_S3_PATH_STYLE", tenant, &path_style, err) < 0 ||
	    setting("CX_S3_PART_SIZE", tenant, &size, err) < 0 ||
	    setting("CX_S3_CONCURRENCY", tenant, &conc, err) < 0)
		goto out;
	if (concurrency(conc, &out->concurrency, err) < 0)
		goto out;
	if (!out->region)
		out->region = cx_xstrdup("us-east-1");
	if (!*out->region || strlen(out->region) > 32 ||
	    strspn(out->region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(out->region)) {
		cx_err_set(err, CX_EXIT_CONFIG, "CX_S3_REGION must be a region name such as "
		    "eu-west-1");
		goto out;
	}
	if (out->endpoint && strncmp(out->endpoint, "https://", 8) != 0 &&
	    strncmp(out->endpoint, "http://", 7) != 0) {
		cx_err_set(err, CX_EXIT_CONFIG, "CX_S3_ENDPOINT must be an http:// or https:// URL");
		goto out;
	}
	if (flag("CX_S3_PATH_STYLE", path_style, out->endpoint != NULL, &ps, err) < 0 ||
	    part_size(size, &out->part_size, err) < 0)
		goto out;
	if (!out->endpoint)
		out->endpoint = cx_xasprintf("https://s3.%s.amazonaws.com", out->region);
	out->client.path_style = ps;
	rc = 0;
out:
	free(path_style);
	free(size);
	free(conc);
	return rc;
}

int cx_s3_settings_load(const char *tenant, cx_s3_settings *out, const char **code,
    cx_err *err)
{
	memset(out, 0, sizeof *out);
	*code = "VALIDATION_FAILED";
	if (settings_read(tenant, out, err) < 0 ||
	    setting("CX_S3_ACCESS_KEY_ID", tenant, &out->access_key, err) < 0 ||
	    setting("CX_S3_SECRET_ACCESS_KEY", tenant, &out->secret_key, err) < 0)
		goto fail;
	if (!out->access_key || !out->secret_key) {
		*code = "AUTH_FAILED";
		cx_err_set(err, CX_EXIT_CONFIG, "CX_S3_ACCESS_KEY_ID and CX_S3_SECRET_ACCESS_KEY "
		    "are needed for tenant %s", tenant);
		goto fail;
	}
	out->client.endpoint = out->endpoint;
	out->client.region = out->region;
	out->client.access_key = out->access_key;
	out->client.secret_key = out->secret_key;
	return 0;
fail:
	cx_s3_settings_free(out);
	return -1;
}

void cx_s3_settings_free(cx_s3_settings *s)
{
	free(s->endpoint);
	free(s->region);
	free(s->access_key);
	cx_secret_free(s->secret_key);
	memset(s, 0, sizeof *s);
}

/* --- items ---------------------------------------------------------------- */

/* Printable ASCII only (a header value, a content type). */
static int printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

/* S3's bucket names: 3 to 63 of a-z, 0-9, "." and "-". */
static int bucket_ok(const char *b)
{
	size_t n = strlen(b);

	return n >= 3 && n <= 63 && strspn(b, "abcdefghijklmnopqrstuvwxyz0123456789.-") == n &&
	    isalnum((unsigned char)b[0]) && isalnum((unsigned char)b[n - 1]);
}

/* At most 1024 bytes, no control character, no "." or ".." segment (HTTP
 * clients fold them away, so the object would land elsewhere). */
static int key_ok(const char *k)
{
	size_t n = strlen(k);

	if (n == 0 || n > 1024 || k[0] == '/')
		return 0;
	for (const char *s = k; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	for (const char *seg = k; seg; seg = strchr(seg, '/') ? strchr(seg, '/') + 1 : NULL) {
		size_t len = strcspn(seg, "/");

		if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
			return 0;
	}
	return 1;
}

static int file_ok(const char *path, const char **problem, cx_err *err)
{
	struct stat st;

	if (path[0] != '/')
		return cx_channel_invalid(problem, "invalid_field", err,
		    "file must be an absolute path");
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || access(path, R_OK) < 0)
		return cx_channel_invalid(problem, "invalid_field", err,
		    "file %s is not a regular file cx-publish can read", path);
	return 0;
}

/* metadata: an object of strings, names of letters, digits, "-" and "_",
 * printable values, at most 2 KiB in all (S3's limit); "sha256" is cx's. */
static int metadata_ok(jv m, const char **problem, cx_err *err)
{
	size_t total = 0;
	int bad = 0;

	if (jv_get_kind(m) == JV_KIND_NULL || jv_get_kind(m) == JV_KIND_INVALID)
		return 0;
	if (jv_get_kind(m) != JV_KIND_OBJECT)
		return cx_channel_invalid(problem, "invalid_field", err,
		    "metadata must be an object of strings");
	jv_object_foreach(m, name, v) {
		const char *n = jv_string_value(name);

		if (!bad && (jv_get_kind(v) != JV_KIND_STRING || !*n ||
		    strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") !=
		    strlen(n) || strcasecmp(n, "sha256") == 0 || !printable(jv_string_value(v))))
			bad = 1;
		if (!bad)
			total += strlen(n) + strlen(jv_string_value(v));
		jv_free(name);
		jv_free(v);
	}
	if (bad || total > MAX_META)
		return cx_channel_invalid(problem, "invalid_field", err, "metadata must map names "
		    "(letters, digits, - and _; not sha256) to printable ASCII strings, "
		    "at most %d bytes in all", MAX_META);
	return 0;
}

int cx_s3_check_fields(jv f, const char **problem, cx_err *err)
{
	const char *bucket = cx_json_str(f, "bucket"), *key = cx_json_str(f, "key");
	const char *file = cx_json_str(f, "file"), *ctype = cx_json_str(f, "content_type");
	jv meta = jv_object_get(jv_copy(f), jv_string("metadata"));
	int rc = -1;

	if (!bucket || !bucket_ok(bucket))
		cx_channel_invalid(problem, "invalid_field", err, "bucket must be an S3 bucket "
		    "name (3 to 63 of a-z, 0-9, . and -)");
	else if (!key || !key_ok(key))
		cx_channel_invalid(problem, "invalid_field", err, "key must be 1 to 1024 bytes, "
		    "without control characters, a leading / or . and .. segments");
	else if (!file || file_ok(file, problem, err) < 0)
		rc = file ? -1 : cx_channel_invalid(problem, "missing_field", err,
		    "file is required for s3 (an absolute path)");
	else if (ctype && (!*ctype || strlen(ctype) > 255 || !printable(ctype)))
		cx_channel_invalid(problem, "invalid_field", err,
		    "content_type must be printable ASCII, at most 255 bytes");
	else
		rc = metadata_ok(meta, problem, err);
	jv_free(meta);
	return rc;
}

char **cx_s3_meta_lines(jv f, const char *sha256_hex)
{
	jv meta = jv_object_get(jv_copy(f), jv_string("metadata"));
	size_t n = 0, cap = 2;
	char **lines;

	if (jv_get_kind(meta) == JV_KIND_OBJECT)
		cap += (size_t)jv_object_length(jv_copy(meta));
	lines = cx_xcalloc(cap, sizeof *lines);
	lines[n++] = cx_xasprintf("x-amz-meta-sha256: %s", sha256_hex);
	if (jv_get_kind(meta) == JV_KIND_OBJECT) {
		jv_object_foreach(meta, name, v) {
			char *line = cx_xasprintf("x-amz-meta-%s: %s", jv_string_value(name),
			    jv_string_value(v));

			/* S3 keeps metadata names in lower case */
			for (char *p = line; *p != ':'; p++)
				*p = (char)tolower((unsigned char)*p);
			lines[n++] = line;
			jv_free(name);
			jv_free(v);
		}
	}
	jv_free(meta);
	return lines;
}

void cx_s3_lines_free(char **lines)
{
	for (char **l = lines; l && *l; l++)
		free(*l);
	free(lines);
}

static int s3_check(jv p, const char **problem, cx_err *err)
{
	return cx_s3_check_fields(p, problem, err);
}

/* Checked again when it is claimed: the file may be gone since. */
static int s3_build(jv item, cx_channel_call *call, const char **code, cx_err *err)
{
	jv f = cx_channel_fields(item);
	int rc = cx_s3_check_fields(f, NULL, err);

	if (rc == 0) {
		call->url = cx_xasprintf("s3://%s/%s", cx_json_str(f, "bucket"),
		    cx_json_str(f, "key"));
		call->body = cx_xstrdup("");
	} else {
		*code = "VALIDATION_FAILED";
	}
	jv_free(f);
	return rc;
}

/* Any key will do for a command line without one: before anything is
 * uploaded the object is looked at (HEAD), and one already there with the
 * same SHA-256 is not sent again, so a line sent twice costs one HEAD. */
static char *s3_default_key(jv line, cx_err *err)
{
	char id[40];

	(void)line;
	if (cx_crypto_random_id("s3-", 16, id, sizeof id) < 0) {
		cx_err_set(err, CX_EXIT_TEMPFAIL, "no random bytes for an idempotency key");
		return NULL;
	}
	return cx_xstrdup(id);
}

const cx_channel cx_s3_channel = {
	.name = "s3",
	.env = "S3",
	.provider = NULL,
	.rate = "10",
	.length_note = "",
	.kinds = s3_kinds,
	.check = s3_check,
	.build = s3_build,
	.reconcile = cx_s3_reconcile,
	.resend_harmless = 1,
	.settled = cx_s3_settled,
	.transfer = cx_s3_transfer,
	.approval_default = "none",
	.default_key = s3_default_key,
	.rollback = 1,
	.package_field = "file",
};
