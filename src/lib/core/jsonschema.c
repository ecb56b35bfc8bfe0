/* jsonschema.c: compiling a schema of the subset in jsonschema.h into a tree
 * of cx_jsonschema nodes (one per object schema, patterns compiled once),
 * and validating instances against that tree, stopping at the first error.
 * The formats are jsonformat.h's.
 *
 * Patterns go through Oniguruma's POSIX layer (onig_posix_*, POSIX extended
 * syntax, UTF-8) by name: libonig, which libjq links, also exports plain
 * regcomp/regexec that would take the place of glibc's in cx's binaries,
 * with another regex_t. Its match retry limit bounds the time a pattern
 * can take on any input. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <onigposix.h>

#include "exit.h"
#include "jsonformat.h"
#include "jsonschema.h"
#include "unicode.h"
#include "xalloc.h"

enum {
	T_STRING = 1, T_NUMBER = 2, T_INTEGER = 4, T_BOOLEAN = 8,
	T_OBJECT = 16, T_ARRAY = 32, T_NULL = 64,
};
static const char *const type_names[] = {
	"string", "number", "integer", "boolean", "object", "array", "null",
};
#define N_TYPES (sizeof type_names / sizeof *type_names)

enum { F_NONE, F_EMAIL, F_DATE_TIME, F_URI };
static const char *const format_names[] = { "", "email", "date-time", "uri" };

typedef struct {
	char *name;
	size_t len;
	cx_jsonschema *schema;
} property;

struct cx_jsonschema {
	unsigned types;                  /* T_* bits; 0: any type */
	char **required;
	size_t n_required;
	property *props;
	size_t n_props;
	int additional;                  /* 0 when additionalProperties is false */
	cx_jsonschema *additional_schema, *items;
	jv enum_values;                  /* an array, or jv_invalid() */
	long min_length, max_length;     /* -1 when absent */
	int has_minimum, has_maximum, has_pattern, format;
	double minimum, maximum;
	onig_posix_regex_t pattern;
};

/* A JSON Pointer built while walking a schema or an instance. Segments that
 * do not fit are counted in cut instead, so the path stays the deepest
 * enclosing value that fits. */
typedef struct {
	char path[512];
	size_t len;
	int cut;
} pointer;

static size_t ptr_push(pointer *p, const char *seg, size_t n)
{
	size_t old = p->len, need = 1;

	for (size_t i = 0; i < n; i++)
		need += seg[i] == '~' || seg[i] == '/' ? 2 : 1;
	if (p->cut || memchr(seg, 0, n) || old + need >= sizeof p->path) {
		p->cut++;
		return old;
	}
	p->path[p->len++] = '/';
	for (size_t i = 0; i < n; i++) {
		if (seg[i] == '~' || seg[i] == '/') {
			p->path[p->len++] = '~';
			p->path[p->len++] = seg[i] == '~' ? '0' : '1';
		} else {
			p->path[p->len++] = seg[i];
		}
	}
	p->path[p->len] = 0;
	return old;
}

static size_t ptr_push_jv(pointer *p, jv key)
{
	return ptr_push(p, jv_string_value(key), (size_t)jv_string_length_bytes(jv_copy(key)));
}

static size_t ptr_push_index(pointer *p, int i)
{
	char b[16];
	int n = snprintf(b, sizeof b, "%d", i);

	return ptr_push(p, b, (size_t)n);
}

static void ptr_pop(pointer *p, size_t old)
{
	if (p->cut) {
		p->cut--;
		return;
	}
	p->len = old;
	p->path[old] = 0;
}

/* --- compiling ------------------------------------------------------------ */

typedef struct {
	pointer p;
	cx_err *err;
} compiler;

static cx_jsonschema *compile_at(jv v, compiler *c, int depth);

__attribute__((format(printf, 2, 3)))
static int schema_fail(compiler *c, const char *fmt, ...)
{
	char m[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	return cx_err_set(c->err, CX_EXIT_CONFIG, "schema%s%s%s: %s",
	    c->p.len ? " " : "", c->p.path, c->p.cut ? "/..." : "", m);
}

static unsigned type_bit(jv name)
{
	if (jv_get_kind(name) != JV_KIND_STRING)
		return 0;
	for (size_t i = 0; i < N_TYPES; i++)
		if (strcmp(jv_string_value(name), type_names[i]) == 0)
			return 1u << i;
	return 0;
}

static int kw_type(cx_jsonschema *s, jv v, compiler *c, int depth)
{
	(void)depth;
	if (jv_get_kind(v) == JV_KIND_STRING) {
		s->types = type_bit(v);
		return s->types ? 0 : schema_fail(c, "not a type of the subset");
	}
	if (jv_get_kind(v) != JV_KIND_ARRAY || jv_array_length(jv_copy(v)) == 0)
		return schema_fail(c, "not a type name or a non-empty array of them");
	for (int i = 0; i < jv_array_length(jv_copy(v)); i++) {
		jv name = jv_array_get(jv_copy(v), i);
		unsigned bit = type_bit(name);

		jv_free(name);
		if (!bit) {
			ptr_push_index(&c->p, i);
			return schema_fail(c, "not a type of the subset");
		}
		s->types |= bit;
	}
	return 0;
}

static int kw_required(cx_jsonschema *s, jv v, compiler *c, int depth)
{
	int n;

	(void)depth;
	if (jv_get_kind(v) != JV_KIND_ARRAY)
		return schema_fail(c, "not an array of property names");
	n = jv_array_length(jv_copy(v));
	s->required = cx_xcalloc((size_t)n + 1, sizeof *s->required);
	for (int i = 0; i < n; i++) {
		jv name = jv_array_get(jv_copy(v), i);

		if (jv_get_kind(name) != JV_KIND_STRING) {
			jv_free(name);
			ptr_push_index(&c->p, i);
			return schema_fail(c, "not a property name");
		}
		s->required[s->n_required++] = cx_xstrdup(jv_string_value(name));
		jv_free(name);
	}
	return 0;
}

static int kw_properties(cx_jsonschema *s, jv v, compiler *c, int depth)
{
	if (jv_get_kind(v) != JV_KIND_OBJECT)
		return schema_fail(c, "not an object of schemas");
	s->props = cx_xcalloc((size_t)jv_object_length(jv_copy(v)) + 1, sizeof *s->props);
	for (int i = jv_object_iter(v); jv_object_iter_valid(v, i); i = jv_object_iter_next(v, i)) {
		jv key = jv_object_iter_key(v, i), val = jv_object_iter_value(v, i);
		size_t old = ptr_push_jv(&c->p, key);
		property *p = &s->props[s->n_props];

		p->schema = compile_at(val, c, depth + 1);
		jv_free(val);
		if (!p->schema) {
			jv_free(key);
			return -1;
		}
		p->len = (size_t)jv_string_length_bytes(jv_copy(key));
		p->name = cx_xstrndup(jv_string_value(key), p->len);
		s->n_props++;
		jv_free(key);
		ptr_pop(&c->p, old);
	}
	return 0;
}

static int kw_additional(cx_jsonschema *s, jv v, compiler *c, int depth)
{
	switch (jv_get_kind(v)) {
	case JV_KIND_TRUE:
		return 0;
	case JV_KIND_FALSE:
		s->additional = 0;
		return 0;
	case JV_KIND_OBJECT:
		s->additional_schema = compile_at(v, c, depth + 1);
		return s->additional_schema ? 0 : -1;
	default:
		return schema_fail(c, "not a boolean or a schema");
	}
}

static int kw_items(cx_jsonschema *s, jv v, compiler *c, int depth)
{
	s->items = compile_at(v, c, depth + 1);
	return s->items ? 0 : -1;
}

static int kw_enum(cx_jsonschema *s, jv v, compiler *c, int depth)
{
	(void)depth;
	if (jv_get_kind(v) != JV_KIND_ARRAY || jv_array_length(jv_copy(v)) == 0)
		return schema_fail(c, "not a non-empty array");
	s->enum_values = jv_copy(v);
	return 0;
}

static int count_value(jv v, compiler *c, long *out)
{
	double d = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : -1;

	if (!(d >= 0 && d <= 1e9 && d == floor(d)))
		return schema_fail(c, "not a non-negative integer");
	*out = (long)d;
	return 0;
}

static int kw_min_length(cx_jsonschema *s, jv v, compiler *c, int depth)
{
	(void)depth;
	return count_value(v, c, &s->min_length);
}

static int kw_max_length(cx_jsonschema *s, jv v, compiler *c, int depth)
{
	(void)depth;
	return count_value(v, c, &s->max_length);
}

static int bound_value(jv v, compiler *c, double *out, int *has)
{
	if (jv_get_kind(v) != JV_KIND_NUMBER || !isfinite(jv_number_value(v)))
		return schema_fail(c, "not a number");
	*out = jv_number_value(v);
	*has = 1;
	return 0;
}

static int kw_minimum(cx_jsonschema *s, jv v, compiler *c, int depth)
{
	(void)depth;
	return bound_value(v, c, &s->minimum, &s->has_minimum);
}

static int kw_maximum(cx_jsonschema *s, jv v, compiler *c, int depth)
{
	(void)depth;
	return bound_value(v, c, &s->maximum, &s->has_maximum);
}

static int kw_pattern(cx_jsonschema *s, jv v, compiler *c, int depth)
{
	(void)depth;
	if (jv_get_kind(v) != JV_KIND_STRING ||
	    strlen(jv_string_value(v)) != (size_t)jv_string_length_bytes(jv_copy(v)))
		return schema_fail(c, "not a string");
	/* the encoding of onig_posix_* patterns is process-wide; libjq names its
	 * own on each of its patterns */
	onig_posix_reg_set_encoding(REG_POSIX_ENCODING_UTF8);
	if (onig_posix_regcomp(&s->pattern, jv_string_value(v), REG_EXTENDED | REG_NOSUB) != 0)
		return schema_fail(c, "not a POSIX extended regular expression");
	s->has_pattern = 1;
	return 0;
}

static int kw_format(cx_jsonschema *s, jv v, compiler *c, int depth)
{
	(void)depth;
	for (int f = F_EMAIL; jv_get_kind(v) == JV_KIND_STRING && f <= F_URI; f++)
		if (strcmp(jv_string_value(v), format_names[f]) == 0) {
			s->format = f;
			return 0;
		}
	return schema_fail(c, "not a format of the subset (email, date-time, uri)");
}

typedef int (*keyword_fn)(cx_jsonschema *s, jv v, compiler *c, int depth);

/* Sorted by name; a NULL function marks an annotation cx ignores. */
static const struct {
	const char *name;
	keyword_fn fn;
} keywords[] = {
	{ "$id", NULL },
	{ "$schema", NULL },
	{ "additionalProperties", kw_additional },
	{ "description", NULL },
	{ "enum", kw_enum },
	{ "format", kw_format },
	{ "items", kw_items },
	{ "maxLength", kw_max_length },
	{ "maximum", kw_maximum },
	{ "minLength", kw_min_length },
	{ "minimum", kw_minimum },
	{ "pattern", kw_pattern },
	{ "properties", kw_properties },
	{ "required", kw_required },
	{ "title", NULL },
	{ "type", kw_type },
};

static int compile_keyword(cx_jsonschema *s, jv key, jv val, compiler *c, int depth)
{
	for (size_t i = 0; i < sizeof keywords / sizeof *keywords; i++)
		if (strcmp(jv_string_value(key), keywords[i].name) == 0)
			return keywords[i].fn ? keywords[i].fn(s, val, c, depth) : 0;
	return schema_fail(c, "not a keyword of the subset");
}

/* v is borrowed; depth counts the schema objects from the root (1). */
static cx_jsonschema *compile_at(jv v, compiler *c, int depth)
{
	cx_jsonschema *s;

	if (depth > CX_JSONSCHEMA_MAX_DEPTH) {
		schema_fail(c, "nests deeper than %d schemas", CX_JSONSCHEMA_MAX_DEPTH);
		return NULL;
	}
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		schema_fail(c, "not a schema object");
		return NULL;
	}
	s = cx_xcalloc(1, sizeof *s);
	s->additional = 1;
	s->enum_values = jv_invalid();
	s->min_length = s->max_length = -1;
	for (int i = jv_object_iter(v); jv_object_iter_valid(v, i); i = jv_object_iter_next(v, i)) {
		jv key = jv_object_iter_key(v, i), val = jv_object_iter_value(v, i);
		size_t old = ptr_push_jv(&c->p, key);
		int rc = compile_keyword(s, key, val, c, depth);

		jv_free(key);
		jv_free(val);
		if (rc) {
			cx_jsonschema_free(s);
			return NULL;
		}
		ptr_pop(&c->p, old);
	}
	return s;
}

cx_jsonschema *cx_jsonschema_compile(jv schema, cx_err *err)
{
	compiler c = { .err = err };
	cx_jsonschema *s = compile_at(schema, &c, 1);

	jv_free(schema);
	return s;
}

cx_jsonschema *cx_jsonschema_load(const char *path, cx_err *err)
{
	jv all = jv_load_file(path, 0);
	cx_jsonschema *s;
	char msg[sizeof err->msg];

	if (!jv_is_valid(all)) {
		jv m = jv_invalid_get_msg(all);

		cx_err_set(err, CX_EXIT_CONFIG, "%s: %s", path,
		    jv_get_kind(m) == JV_KIND_STRING ? jv_string_value(m) : "cannot be read");
		jv_free(m);
		return NULL;
	}
	if (jv_array_length(jv_copy(all)) != 1) {
		jv_free(all);
		cx_err_set(err, CX_EXIT_CONFIG, "%s: not one JSON value", path);
		return NULL;
	}
	s = cx_jsonschema_compile(jv_array_get(all, 0), err);
	if (!s && err) {
		snprintf(msg, sizeof msg, "%s", err->msg);
		cx_err_set(err, CX_EXIT_CONFIG, "%s: %s", path, msg);
	}
	return s;
}

void cx_jsonschema_free(cx_jsonschema *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_required; i++)
		free(s->required[i]);
	free(s->required);
	for (size_t i = 0; i < s->n_props; i++) {
		free(s->props[i].name);
		cx_jsonschema_free(s->props[i].schema);
	}
	free(s->props);
	cx_jsonschema_free(s->additional_schema);
	cx_jsonschema_free(s->items);
	jv_free(s->enum_values);
	if (s->has_pattern)
		onig_posix_regfree(&s->pattern);
	free(s);
}

/* --- validating ------------------------------------------------------------ */

typedef struct {
	pointer p;
	cx_jsonschema_error *e;
} validator;

__attribute__((format(printf, 2, 3)))
static int invalid(validator *v, const char *fmt, ...)
{
	va_list ap;

	v->e->code = "VALIDATION_FAILED";
	va_start(ap, fmt);
	vsnprintf(v->e->message, sizeof v->e->message, fmt, ap);
	va_end(ap);
	snprintf(v->e->path, sizeof v->e->path, "%s", v->p.path);
	return -1;
}

static int validate_at(const cx_jsonschema *s, jv x, validator *v);

/* Refuses an instance nesting deeper than the limit, wherever it does. */
static int check_depth(jv x, validator *v, int depth)
{
	jv_kind k = jv_get_kind(x);
	int rc = 0;

	if (k != JV_KIND_ARRAY && k != JV_KIND_OBJECT)
		return 0;
	if (depth > CX_JSONSCHEMA_MAX_DEPTH)
		return invalid(v, "nests deeper than %d levels", CX_JSONSCHEMA_MAX_DEPTH);
	if (k == JV_KIND_ARRAY) {
		for (int i = 0; rc == 0 && i < jv_array_length(jv_copy(x)); i++) {
			jv el = jv_array_get(jv_copy(x), i);
			size_t old = ptr_push_index(&v->p, i);

			rc = check_depth(el, v, depth + 1);
			ptr_pop(&v->p, old);
			jv_free(el);
		}
		return rc;
	}
	for (int i = jv_object_iter(x); rc == 0 && jv_object_iter_valid(x, i);
	    i = jv_object_iter_next(x, i)) {
		jv key = jv_object_iter_key(x, i), val = jv_object_iter_value(x, i);
		size_t old = ptr_push_jv(&v->p, key);

		rc = check_depth(val, v, depth + 1);
		ptr_pop(&v->p, old);
		jv_free(key);
		jv_free(val);
	}
	return rc;
}

static unsigned kind_types(jv x)
{
	double d;

	switch (jv_get_kind(x)) {
	case JV_KIND_STRING:
		return T_STRING;
	case JV_KIND_NUMBER:
		d = jv_number_value(x);
		return isfinite(d) && d == floor(d) ? T_NUMBER | T_INTEGER : T_NUMBER;
	case JV_KIND_TRUE:
	case JV_KIND_FALSE:
		return T_BOOLEAN;
	case JV_KIND_OBJECT:
		return T_OBJECT;
	case JV_KIND_ARRAY:
		return T_ARRAY;
	default:
		return T_NULL;
	}
}

static int check_type(const cx_jsonschema *s, jv x, validator *v)
{
	char want[80] = "";

	if (!s->types || (s->types & kind_types(x)))
		return 0;
	for (size_t i = 0; i < N_TYPES; i++)
		if (s->types & (1u << i)) {
			if (want[0])
				strcat(want, " or ");
			strcat(want, type_names[i]);
		}
	return invalid(v, "is not of type %s", want);
}

static int check_enum(const cx_jsonschema *s, jv x, validator *v)
{
	if (!jv_is_valid(s->enum_values))
		return 0;
	for (int i = 0; i < jv_array_length(jv_copy(s->enum_values)); i++)
		if (jv_equal(jv_array_get(jv_copy(s->enum_values), i), jv_copy(x)))
			return 0;
	return invalid(v, "is not one of the allowed values");
}

static int check_string(const cx_jsonschema *s, jv x, validator *v)
{
	const char *str = jv_string_value(x);
	size_t n = (size_t)jv_string_length_bytes(jv_copy(x)), cps;

	if (s->min_length >= 0 || s->max_length >= 0) {
		cps = cx_unicode_codepoints(str, n);
		if (s->min_length >= 0 && cps < (size_t)s->min_length)
			return invalid(v, "is shorter than %ld characters", s->min_length);
		if (s->max_length >= 0 && cps > (size_t)s->max_length)
			return invalid(v, "is longer than %ld characters", s->max_length);
	}
	/* matching stops at a NUL, which could hide the rest of the text */
	if (s->has_pattern && (memchr(str, 0, n) ||
	    onig_posix_regexec((onig_posix_regex_t *)&s->pattern, str, 0, NULL, 0) != 0))
		return invalid(v, "does not match the pattern");
	if ((s->format == F_EMAIL && !cx_jsonformat_email(str, n)) ||
	    (s->format == F_DATE_TIME && !cx_jsonformat_date_time(str, n)) ||
	    (s->format == F_URI && !cx_jsonformat_uri(str, n)))
		return invalid(v, "is not a valid %s", format_names[s->format]);
	return 0;
}

static int check_number(const cx_jsonschema *s, jv x, validator *v)
{
	double d = jv_number_value(x);

	if (s->has_minimum && !(d >= s->minimum))
		return invalid(v, "is less than %.17g", s->minimum);
	if (s->has_maximum && !(d <= s->maximum))
		return invalid(v, "is greater than %.17g", s->maximum);
	return 0;
}

static const property *find_property(const cx_jsonschema *s, jv key)
{
	size_t n = (size_t)jv_string_length_bytes(jv_copy(key));

	for (size_t i = 0; i < s->n_props; i++)
		if (s->props[i].len == n && memcmp(s->props[i].name, jv_string_value(key), n) == 0)
			return &s->props[i];
	return NULL;
}

static int check_member(const cx_jsonschema *s, jv key, jv val, validator *v)
{
	const property *p = find_property(s, key);
	size_t old = ptr_push_jv(&v->p, key);
	int rc = 0;

	if (p)
		rc = validate_at(p->schema, val, v);
	else if (s->additional_schema)
		rc = validate_at(s->additional_schema, val, v);
	else if (!s->additional)
		rc = invalid(v, "is not an allowed property");
	ptr_pop(&v->p, old);
	return rc;
}

static int check_object(const cx_jsonschema *s, jv x, validator *v)
{
	int rc = 0;

	for (size_t i = 0; i < s->n_required; i++)
		if (!jv_object_has(jv_copy(x), jv_string(s->required[i]))) {
			ptr_push(&v->p, s->required[i], strlen(s->required[i]));
			return invalid(v, "is required");
		}
	for (int i = jv_object_iter(x); rc == 0 && jv_object_iter_valid(x, i);
	    i = jv_object_iter_next(x, i)) {
		jv key = jv_object_iter_key(x, i), val = jv_object_iter_value(x, i);

		rc = check_member(s, key, val, v);
		jv_free(key);
		jv_free(val);
	}
	return rc;
}

static int check_array(const cx_jsonschema *s, jv x, validator *v)
{
	int rc = 0;

	for (int i = 0; s->items && rc == 0 && i < jv_array_length(jv_copy(x)); i++) {
		jv el = jv_array_get(jv_copy(x), i);
		size_t old = ptr_push_index(&v->p, i);

		rc = validate_at(s->items, el, v);
		ptr_pop(&v->p, old);
		jv_free(el);
	}
	return rc;
}

/* x is borrowed. */
static int validate_at(const cx_jsonschema *s, jv x, validator *v)
{
	if (check_type(s, x, v) || check_enum(s, x, v))
		return -1;
	switch (jv_get_kind(x)) {
	case JV_KIND_STRING:
		return check_string(s, x, v);
	case JV_KIND_NUMBER:
		return check_number(s, x, v);
	case JV_KIND_OBJECT:
		return check_object(s, x, v);
	case JV_KIND_ARRAY:
		return check_array(s, x, v);
	default:
		return 0;
	}
}

int cx_jsonschema_validate(const cx_jsonschema *s, jv instance, cx_jsonschema_error *e)
{
	validator v = { .e = e };

	if (!jv_is_valid(instance))
		return invalid(&v, "is not a JSON value");
	if (check_depth(instance, &v, 1))
		return -1;
	return validate_at(s, instance, &v);
}
