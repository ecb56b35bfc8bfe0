/* sanitize.c: trigger payloads after a policy (see sanitize.h). A policy's
 * paths are compiled once into a tree that the event's data is walked
 * along; whatever no path names is never read. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto.h"
#include "exit.h"
#include "json.h"
#include "log.h"
#include "paths.h"
#include "sanitize.h"
#include "xalloc.h"

/* Digits that make a phone number in text: the shortest local numbers. */
#define PHONE_MIN_DIGITS 7
/* Separators allowed between the digit groups of a phone number. */
#define PHONE_SEPARATORS " -.()"
#define EMAIL_LOCAL_CHARS "._%+-"

typedef enum { HOW_KEEP, HOW_PHONE, HOW_EMAIL, HOW_MASK } treatment;

static const char *const treatment_names[] = { "keep", "phone", "email", "mask", NULL };

typedef struct node {
	char *name;
	int array;      /* "name[]": the treatment or the fields apply to each element */
	int leaf;       /* a treatment, no fields inside */
	treatment how;
	struct node *kids;
	size_t n_kids;
} node;

struct cx_sanitizer {
	char *type;
	node root;
};

static void node_clear(node *n)
{
	for (size_t i = 0; i < n->n_kids; i++)
		node_clear(&n->kids[i]);
	free(n->kids);
	free(n->name);
}

void cx_sanitizer_free(cx_sanitizer *z)
{
	if (!z)
		return;
	node_clear(&z->root);
	free(z->type);
	free(z);
}

/* Length of the path segment name at p ([A-Za-z0-9_]+). */
static size_t segment_len(const char *p)
{
	size_t n = 0;

	while (isalnum((unsigned char)p[n]) || p[n] == '_')
		n++;
	return n;
}

/* The child of n named name[len] (array or not), created if absent; NULL
 * when the path contradicts an earlier one. */
static node *child(node *n, const char *name, size_t len, int array)
{
	node *k;

	if (n->leaf)
		return NULL;
	for (size_t i = 0; i < n->n_kids; i++) {
		k = &n->kids[i];
		if (strlen(k->name) == len && strncmp(k->name, name, len) == 0)
			return k->array == array ? k : NULL;
	}
	n->kids = cx_xrealloc(n->kids, (n->n_kids + 1) * sizeof *n->kids);
	k = &n->kids[n->n_kids++];
	memset(k, 0, sizeof *k);
	k->name = cx_xstrndup(name, len);
	k->array = array;
	return k;
}

/* Adds "a.b[].c" with its treatment under root; a message on error. */
static const char *add_path(node *root, const char *path, treatment how)
{
	node *n = root;

	for (const char *p = path;;) {
		size_t len = segment_len(p);
		int array = 0;

		if (len == 0)
			return "not a path of names, dots and []";
		if (strncmp(p + len, "[]", 2) == 0)
			array = 1;
		n = child(n, p, len, array);
		if (!n)
			return "contradicts another field of the policy";
		p += len + (array ? 2 : 0);
		if (*p == '\0')
			break;
		if (*p != '.')
			return "not a path of names, dots and []";
		p++;
	}
	if (n->leaf || n->n_kids)
		return "contradicts another field of the policy";
	n->leaf = 1;
	n->how = how;
	return NULL;
}

static int treatment_of(jv v, treatment *how)
{
	if (jv_get_kind(v) != JV_KIND_STRING)
		return -1;
	for (int i = 0; treatment_names[i]; i++)
		if (strcmp(jv_string_value(v), treatment_names[i]) == 0) {
			*how = (treatment)i;
			return 0;
		}
	return -1;
}

/* Compiles {"fields":{path: treatment}} (consumed) into z->root. */
static int compile(cx_sanitizer *z, jv policy, const char *file, cx_err *err)
{
	jv fields = jv_get_kind(policy) == JV_KIND_OBJECT ?
	    jv_object_get(jv_copy(policy), jv_string("fields")) : jv_invalid();
	int rc = 0;

	if (jv_get_kind(fields) != JV_KIND_OBJECT || jv_object_length(jv_copy(policy)) != 1) {
		jv_free(fields);
		jv_free(policy);
		return cx_err_set(err, CX_EXIT_CONFIG, "%s: not an object with only \"fields\", "
		    "an object", file);
	}
	jv_free(policy);
	jv_object_foreach(fields, path, v) {
		treatment how;
		const char *fault = NULL;

		if (rc == 0 && treatment_of(v, &how) < 0)
			fault = "not keep, phone, email or mask";
		else if (rc == 0)
			fault = add_path(&z->root, jv_string_value(path), how);
		if (fault)
			rc = cx_err_set(err, CX_EXIT_CONFIG, "%s: field \"%.100s\": %s", file,
			    jv_string_value(path), fault);
		jv_free(path);
		jv_free(v);
	}
	jv_free(fields);
	if (rc == 0 && z->root.n_kids == 0)
		rc = cx_err_set(err, CX_EXIT_CONFIG, "%s: no fields", file);
	return rc;
}

/* Event types name files: lower-case words, digits, dots, - and _. */
static int type_is_name(const char *type)
{
	if (!*type || *type == '.')
		return 0;
	for (const char *p = type; *p; p++)
		if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && !strchr("._-", *p))
			return 0;
	return 1;
}

int cx_sanitizer_load(const char *type, cx_sanitizer **out, cx_err *err)
{
	char *rel, *file;
	struct stat st;
	jv all;
	cx_sanitizer *z;

	*out = NULL;
	if (!type_is_name(type))
		return 0;
	rel = cx_xasprintf("sanitize/%s.json", type);
	file = cx_paths_share(rel);
	free(rel);
	if (stat(file, &st) < 0 && errno == ENOENT) {
		free(file);
		return 0;
	}
	all = jv_load_file(file, 0);
	if (!jv_is_valid(all) || jv_array_length(jv_copy(all)) != 1) {
		jv m = jv_is_valid(all) ? jv_invalid() : jv_invalid_get_msg(jv_copy(all));

		cx_err_set(err, CX_EXIT_CONFIG, "%s: %s", file, jv_get_kind(m) == JV_KIND_STRING ?
		    jv_string_value(m) : "not one JSON value");
		jv_free(m);
		jv_free(all);
		free(file);
		return -1;
	}
	z = cx_xcalloc(1, sizeof *z);
	z->type = cx_xstrdup(type);
	if (compile(z, jv_array_get(all, 0), file, err) < 0) {
		cx_sanitizer_free(z);
		free(file);
		return -1;
	}
	free(file);
	*out = z;
	return 1;
}

/* Length of the phone number at s, 0 when there is none: an optional + or
 * (, then digit groups with at most two separators between them, at least
 * PHONE_MIN_DIGITS digits. */
static size_t phone_at(const char *s)
{
	size_t i = 0, end = 0, digits = 0;

	if (s[i] == '+' || s[i] == '(')
		i++;
	for (;;) {
		size_t sep = 0;

		if (isdigit((unsigned char)s[i])) {
			digits++;
			end = ++i;
			continue;
		}
		while (sep < 2 && s[i + sep] && strchr(PHONE_SEPARATORS, s[i + sep]))
			sep++;
		if (!digits || !sep || !isdigit((unsigned char)s[i + sep]))
			break;
		i += sep;
	}
	return digits >= PHONE_MIN_DIGITS ? end : 0;
}

static int email_local_char(char c)
{
	return isalnum((unsigned char)c) || (c && strchr(EMAIL_LOCAL_CHARS, c));
}

/* Length of the e-mail address at s, 0 when there is none: local@domain
 * with a dot inside the domain. */
static size_t email_at(const char *s)
{
	size_t at = 0, end;

	while (email_local_char(s[at]))
		at++;
	if (at == 0 || s[at] != '@')
		return 0;
	end = at + 1;
	while (isalnum((unsigned char)s[end]) || s[end] == '-' || s[end] == '.')
		end++;
	while (end > at + 1 && (s[end - 1] == '.' || s[end - 1] == '-'))
		end--;
	return end > at + 2 && memchr(s + at + 2, '.', end - at - 2) ? end : 0;
}

/* s with every e-mail address and phone number in it masked as in logs. */
static char *mask_text(const char *s)
{
	cx_buf b = { 0 };

	for (size_t i = 0; s[i];) {
		int word_start = i == 0 || !email_local_char(s[i - 1]);
		int digit_start = i == 0 || !isdigit((unsigned char)s[i - 1]);
		size_t n = word_start ? email_at(s + i) : 0;
		char *piece, *masked;

		if (n) {
			piece = cx_xstrndup(s + i, n);
			masked = cx_log_mask_email(piece);
		} else if (digit_start && (n = phone_at(s + i))) {
			piece = cx_xstrndup(s + i, n);
			masked = cx_log_mask_phone(piece);
		} else {
			cx_buf_add(&b, s + i, 1);
			i++;
			continue;
		}
		cx_buf_add(&b, masked, strlen(masked));
		free(piece);
		free(masked);
		i += n;
	}
	cx_buf_add(&b, "", 1);
	return b.s;
}

/* v (consumed) under a treatment; invalid for what no treatment takes. */
static jv treat(treatment how, jv v)
{
	jv_kind k = jv_get_kind(v);
	char *text, *masked;

	if (k == JV_KIND_OBJECT || k == JV_KIND_ARRAY || k == JV_KIND_INVALID) {
		jv_free(v);
		return jv_invalid();
	}
	if (how == HOW_KEEP || k == JV_KIND_NULL || k == JV_KIND_TRUE || k == JV_KIND_FALSE)
		return v;
	text = k == JV_KIND_STRING ? cx_xstrdup(jv_string_value(v)) : cx_json_dump(jv_copy(v));
	jv_free(v);
	if (how == HOW_PHONE)
		masked = cx_log_mask_phone(text);
	else if (how == HOW_EMAIL)
		masked = cx_log_mask_email(text);
	else
		masked = mask_text(text);
	v = jv_string(masked);
	free(masked);
	free(text);
	return v;
}

static jv apply_fields(const node *n, jv obj);

/* One value (consumed) under node n: a treatment, or the fields inside. */
static jv apply_value(const node *n, jv v)
{
	if (n->leaf)
		return treat(n->how, v);
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(v);
		return jv_invalid();
	}
	return apply_fields(n, v);
}

/* The fields of obj (consumed) that n's children name, each treated. */
static jv apply_fields(const node *n, jv obj)
{
	jv out = jv_object();

	for (size_t i = 0; i < n->n_kids; i++) {
		const node *k = &n->kids[i];
		jv v = jv_object_get(jv_copy(obj), jv_string(k->name)), r;

		if (!jv_is_valid(v)) {
			jv_free(v);
			continue;
		}
		if (!k->array) {
			r = apply_value(k, v);
		} else if (jv_get_kind(v) == JV_KIND_ARRAY) {
			r = jv_array();
			jv_array_foreach(v, j, e) {
				jv x = apply_value(k, e);

				r = jv_is_valid(x) ? jv_array_append(r, x) : r;
				(void)j;
			}
			jv_free(v);
		} else {
			jv_free(v);
			continue;
		}
		if (jv_is_valid(r))
			out = jv_object_set(out, jv_string(k->name), r);
	}
	jv_free(obj);
	return out;
}

/* Copies event's string field key into out as name. */
static jv copy_string(jv out, jv event, const char *key, const char *name)
{
	const char *s = cx_json_str(event, key);

	return s ? jv_object_set(out, jv_string(name), jv_string(s)) : out;
}

jv cx_sanitize_event(const cx_sanitizer *z, jv event)
{
	jv out = jv_object_set(jv_object(), jv_string("type"), jv_string(z->type));
	const char *key = cx_json_str(event, "dedupe_key"), *ts;
	jv data = jv_object_get(jv_copy(event), jv_string("data"));

	if (key) {
		char hex[2 * CX_SHA256_LEN + 1];

		cx_crypto_sha256_hex(key, strlen(key), hex);
		out = jv_object_set(out, jv_string("id"), jv_string_fmt("evt_%.32s", hex));
	}
	out = jv_object_set(out, jv_string("timestamp"), (ts = cx_json_str(event, "occurred_at")) ?
	    jv_string(ts) : jv_null());
	out = copy_string(out, event, "tenant", "tenant");
	out = copy_string(out, event, "channel", "channel");
	out = copy_string(out, event, "correlation_id", "correlation_id");
	if (jv_get_kind(data) != JV_KIND_OBJECT) {
		jv_free(data);
		data = jv_object();
	}
	return jv_object_set(out, jv_string("data"), apply_fields(&z->root, data));
}
