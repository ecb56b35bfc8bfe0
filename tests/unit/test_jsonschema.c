/* Unit tests of the JSON Schema subset (jsonschema.h): each keyword
 * accepting and refusing, the JSON Pointer of the first error, messages
 * that never hold the input's values, compile errors (unknown keywords, bad
 * patterns, bad keyword values, depth) with their path in the schema, and
 * every catalogue file in share/cx/actions. Prints TAP lines; tests/run
 * counts them. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exit.h"
#include "jsonschema.h"
#include "paths.h"
#include "xalloc.h"

#include "tap.h"

static cx_jsonschema *compile(const char *text)
{
	cx_err err = { 0, "" };
	cx_jsonschema *s = cx_jsonschema_compile(jv_parse(text), &err);

	if (!s)
		printf("# compile error: %s\n", err.msg);
	return s;
}

/* "ok" when instance passes, else "<path> <message>". */
static const char *run(const cx_jsonschema *s, const char *instance)
{
	static char out[800];
	cx_jsonschema_error e;
	jv x = jv_parse(instance);
	int rc = s ? cx_jsonschema_validate(s, x, &e) : -2;

	jv_free(x);
	if (rc == -2)
		return "(no schema)";
	if (rc == 0)
		return "ok";
	snprintf(out, sizeof out, "%s %s%s", e.path, e.message,
	    strcmp(e.code, "VALIDATION_FAILED") == 0 ? "" : " (wrong code)");
	return out;
}

/* The compile error's message, or "compiled". */
static const char *compile_error(const char *text)
{
	static cx_err err;
	cx_jsonschema *s;

	err.code = 0;
	s = cx_jsonschema_compile(jv_parse(text), &err);
	if (s) {
		cx_jsonschema_free(s);
		return "compiled";
	}
	return err.code == CX_EXIT_CONFIG ? err.msg : "(wrong exit code)";
}

static void test_type(void)
{
	cx_jsonschema *s = compile("{\"type\":\"string\"}");
	cx_jsonschema *i = compile("{\"type\":\"integer\"}");
	cx_jsonschema *n = compile("{\"type\":\"number\"}");
	cx_jsonschema *m = compile("{\"type\":[\"string\",\"null\"]}");
	cx_jsonschema *any = compile("{}");

	check_str(run(s, "\"a\""), "ok", "type string accepts a string");
	check_str(run(s, "1"), " is not of type string", "type string refuses a number");
	check_str(run(i, "3"), "ok", "type integer accepts 3");
	check_str(run(i, "3.0"), "ok", "type integer accepts 3.0");
	check_str(run(i, "3.5"), " is not of type integer", "type integer refuses 3.5");
	check_str(run(n, "3.5"), "ok", "type number accepts 3.5");
	check_str(run(n, "\"3\""), " is not of type number", "type number refuses a string");
	check_str(run(m, "null"), "ok", "a list of types accepts null");
	check_str(run(m, "true"), " is not of type string or null",
	    "a list of types refuses a boolean and names them all");
	check_str(run(any, "[1,{\"a\":null}]"), "ok", "an empty schema accepts anything");
	cx_jsonschema_free(s);
	cx_jsonschema_free(i);
	cx_jsonschema_free(n);
	cx_jsonschema_free(m);
	cx_jsonschema_free(any);
	s = compile("{\"type\":\"boolean\"}");
	check_str(run(s, "false"), "ok", "type boolean accepts false");
	check_str(run(s, "0"), " is not of type boolean", "type boolean refuses 0");
	cx_jsonschema_free(s);
	s = compile("{\"type\":\"object\"}");
	check_str(run(s, "[]"), " is not of type object", "type object refuses an array");
	cx_jsonschema_free(s);
	s = compile("{\"type\":\"array\"}");
	check_str(run(s, "{}"), " is not of type array", "type array refuses an object");
	cx_jsonschema_free(s);
}

static void test_object(void)
{
	cx_jsonschema *s = compile("{\"type\":\"object\",\"required\":[\"name\",\"email\"],"
	    "\"additionalProperties\":false,\"properties\":{"
	    "\"name\":{\"type\":\"string\"},\"email\":{\"type\":\"string\"},"
	    "\"a/b~c\":{\"type\":\"integer\"}}}");
	cx_jsonschema *extra = compile("{\"additionalProperties\":{\"type\":\"integer\"}}");

	check_str(run(s, "{\"name\":\"n\",\"email\":\"e\"}"), "ok", "required properties present");
	check_str(run(s, "{\"name\":\"n\"}"), "/email is required",
	    "a missing required property is named by its path");
	check_str(run(s, "{\"name\":\"n\",\"email\":\"e\",\"secret-value\":1}"),
	    "/secret-value is not an allowed property",
	    "additionalProperties false refuses another property");
	check_str(run(s, "{\"name\":\"n\",\"email\":\"e\",\"a/b~c\":\"x\"}"),
	    "/a~1b~0c is not of type integer", "a path escapes / and ~ as JSON Pointer does");
	check_str(run(extra, "{\"a\":1,\"b\":2}"), "ok", "additionalProperties as a schema accepts");
	check_str(run(extra, "{\"a\":1,\"b\":\"two\"}"), "/b is not of type integer",
	    "additionalProperties as a schema refuses");
	cx_jsonschema_free(s);
	cx_jsonschema_free(extra);
}

static void test_long_path(void)
{
	cx_jsonschema *s = compile("{\"properties\":{\"a\":{\"additionalProperties\":false}}}");
	char text[1200];

	snprintf(text, sizeof text, "{\"a\":{\"%0800d\":1}}", 0);
	check_str(run(s, text), "/a is not an allowed property",
	    "a path that would not fit stops at the deepest enclosing value that does");
	cx_jsonschema_free(s);
}

static void test_array(void)
{
	cx_jsonschema *s = compile("{\"properties\":{\"items\":{\"type\":\"array\","
	    "\"items\":{\"type\":\"object\",\"properties\":{\"n\":{\"maximum\":5}}}}}}");

	check_str(run(s, "{\"items\":[{\"n\":1},{\"n\":5}]}"), "ok", "items accepts every element");
	check_str(run(s, "{\"items\":[{\"n\":1},{\"n\":6}]}"), "/items/1/n is greater than 5",
	    "items refuses an element, with its index in the path");
	cx_jsonschema_free(s);
}

static void test_enum_and_numbers(void)
{
	cx_jsonschema *e = compile("{\"enum\":[\"whatsapp\",\"email\",3,null]}");
	cx_jsonschema *n = compile("{\"type\":\"number\",\"minimum\":-1.5,\"maximum\":10}");

	check_str(run(e, "\"email\""), "ok", "enum accepts a listed string");
	check_str(run(e, "3"), "ok", "enum accepts a listed number");
	check_str(run(e, "null"), "ok", "enum accepts a listed null");
	check_str(run(e, "\"sms\""), " is not one of the allowed values", "enum refuses another value");
	check_str(run(n, "-1.5"), "ok", "minimum is inclusive");
	check_str(run(n, "10"), "ok", "maximum is inclusive");
	check_str(run(n, "-2"), " is less than -1.5", "minimum refuses a smaller number");
	check_str(run(n, "10.25"), " is greater than 10", "maximum refuses a greater number");
	cx_jsonschema_free(e);
	cx_jsonschema_free(n);
}

static void test_strings(void)
{
	cx_jsonschema *len = compile("{\"minLength\":2,\"maxLength\":3}");
	cx_jsonschema *pat = compile("{\"pattern\":\"^[a-z]+-[0-9]{2}$\"}");
	cx_jsonschema *part = compile("{\"pattern\":\"b\"}");
	cx_jsonschema *utf8 = compile("{\"pattern\":\"^.{3}$\"}");
	cx_jsonschema *slow = compile("{\"pattern\":\"(a|aa)+c\"}");
	char text[4096];

	check_str(run(len, "\"ab\""), "ok", "minLength accepts its length");
	check_str(run(len, "\"a\""), " is shorter than 2 characters", "minLength refuses shorter");
	check_str(run(len, "\"\xc3\xa9\xc3\xa9\xc3\xa9\""), "ok",
	    "maxLength counts code points, not bytes");
	check_str(run(len, "\"abcd\""), " is longer than 3 characters", "maxLength refuses longer");
	check_str(run(len, "5"), "ok", "length keywords ignore other types");
	check_str(run(pat, "\"abc-12\""), "ok", "pattern accepts a match");
	check_str(run(pat, "\"abc-123\""), " does not match the pattern", "pattern refuses");
	check_str(run(pat, "\"abc-12\\u0000x\""), " does not match the pattern",
	    "pattern refuses a string with a NUL (regexec would stop there)");
	check_str(run(part, "\"abc\""), "ok", "pattern is unanchored, as in JSON Schema");
	check_str(run(utf8, "\"\xc3\xa9t\xc3\xa9\""), "ok", "pattern matches UTF-8 characters, not bytes");
	check_str(run(utf8, "\"et\xc3\xa9s\""), " does not match the pattern",
	    "pattern counts characters");
	memset(text, 'a', sizeof text - 2);
	text[0] = '"';
	text[sizeof text - 2] = '"';
	text[sizeof text - 1] = 0;
	check_str(run(slow, text), " does not match the pattern",
	    "a pattern that backtracks without end on an input stops as a mismatch");
	cx_jsonschema_free(len);
	cx_jsonschema_free(pat);
	cx_jsonschema_free(part);
	cx_jsonschema_free(utf8);
	cx_jsonschema_free(slow);
}

static void test_formats(void)
{
	static const char *const good_email[] = {
		"jane@example.com", "j.doe+tag@mail.example.co.uk", "o'hara@x-y.example",
	};
	static const char *const bad_email[] = {
		"jane", "jane@example", "@example.com", "jane@@example.com", "ja ne@example.com",
		".jane@example.com", "ja..ne@example.com", "jane@-example.com", "jane@example..com",
		"jane@example.com.", "jane@exa_mple.com",
	};
	static const char *const good_dt[] = {
		"2026-12-06T20:57:17Z", "2024-02-29T00:00:00.123456+05:30", "2026-12-31t23:59:60z",
		"2026-01-01T00:00:00-00:00",
	};
	static const char *const bad_dt[] = {
		"2026-12-06", "2026-12-06T20:57:17", "2025-02-29T00:00:00Z", "2026-13-01T00:00:00Z",
		"2026-12-06 20:57:17Z", "2026-12-06T24:00:00Z", "2026-12-06T20:57:17.Z",
		"2026-12-06T20:57:17+0530", "2026-12-06T20:57:17Z ",
	};
	static const char *const good_uri[] = {
		"https://example.com/a?b=c#d", "mailto:jane@example.com", "urn:isbn:0451450523",
		"file:///tmp/x", "https://example.com/%20",
	};
	static const char *const bad_uri[] = {
		"example.com", "1http://x", "https://exa mple.com", "https://", "https://x/%2",
		"://x", "https://x/\xc3\xa9",
	};
	const struct {
		const char *schema, *name, *const *good, *const *bad;
		size_t n_good, n_bad;
	} cases[] = {
		{ "{\"format\":\"email\"}", "email", good_email, bad_email, 3, 11 },
		{ "{\"format\":\"date-time\"}", "date-time", good_dt, bad_dt, 4, 9 },
		{ "{\"format\":\"uri\"}", "uri", good_uri, bad_uri, 5, 7 },
	};
	char what[300], want[64], text[200];

	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		cx_jsonschema *s = compile(cases[c].schema);

		for (size_t i = 0; i < cases[c].n_good; i++) {
			snprintf(text, sizeof text, "\"%s\"", cases[c].good[i]);
			snprintf(what, sizeof what, "format %s accepts %s", cases[c].name, text);
			check_str(run(s, text), "ok", what);
		}
		snprintf(want, sizeof want, " is not a valid %s", cases[c].name);
		for (size_t i = 0; i < cases[c].n_bad; i++) {
			snprintf(text, sizeof text, "\"%s\"", cases[c].bad[i]);
			snprintf(what, sizeof what, "format %s refuses %s", cases[c].name, text);
			check_str(run(s, text), want, what);
		}
		cx_jsonschema_free(s);
	}
}

static void test_compile_errors(void)
{
	check_str(compile_error("{\"properties\":{\"email\":{\"formt\":\"email\"}}}"),
	    "schema /properties/email/formt: not a keyword of the subset",
	    "an unknown keyword is refused with its path in the schema");
	check_str(compile_error("{\"$schema\":\"x\",\"$id\":\"y\",\"title\":\"t\",\"description\":\"d\"}"),
	    "compiled", "$schema, $id, title and description are let through");
	check_str(compile_error("{\"properties\":{\"p\":{\"pattern\":\"a(b\"}}}"),
	    "schema /properties/p/pattern: not a POSIX extended regular expression",
	    "a pattern that does not compile is refused");
	check_str(compile_error("{\"type\":\"str\"}"), "schema /type: not a type of the subset",
	    "an unknown type is refused");
	check_str(compile_error("{\"type\":[\"string\",7]}"),
	    "schema /type/1: not a type of the subset", "a bad type in a list is refused");
	check_str(compile_error("{\"format\":\"ipv4\"}"),
	    "schema /format: not a format of the subset (email, date-time, uri)",
	    "an unsupported format is refused");
	check_str(compile_error("{\"minLength\":-1}"),
	    "schema /minLength: not a non-negative integer", "a negative minLength is refused");
	check_str(compile_error("{\"maxLength\":1.5}"),
	    "schema /maxLength: not a non-negative integer", "a fractional maxLength is refused");
	check_str(compile_error("{\"minimum\":\"1\"}"), "schema /minimum: not a number",
	    "a minimum that is not a number is refused");
	check_str(compile_error("{\"required\":[\"a\",1]}"), "schema /required/1: not a property name",
	    "a required entry that is not a string is refused");
	check_str(compile_error("{\"enum\":[]}"), "schema /enum: not a non-empty array",
	    "an empty enum is refused");
	check_str(compile_error("{\"additionalProperties\":1}"),
	    "schema /additionalProperties: not a boolean or a schema",
	    "additionalProperties must be a boolean or a schema");
	check_str(compile_error("{\"items\":[{}]}"), "schema /items: not a schema object",
	    "items must be one schema");
	check_str(compile_error("[]"), "schema: not a schema object", "a schema is an object");
}

/* {"items": ... n levels ... {}} as a schema, [[...]] n deep as an instance. */
static char *nested(const char *open, const char *inner, const char *close, int n)
{
	size_t lo = strlen(open), li = strlen(inner), lc = strlen(close);
	char *s = cx_xmalloc((size_t)n * (lo + lc) + li + 1), *p = s;

	for (int i = 0; i < n; i++, p += lo)
		memcpy(p, open, lo);
	memcpy(p, inner, li);
	p += li;
	for (int i = 0; i < n; i++, p += lc)
		memcpy(p, close, lc);
	*p = 0;
	return s;
}

static void test_depth(void)
{
	char *ok = nested("{\"items\":", "{}", "}", CX_JSONSCHEMA_MAX_DEPTH - 1);
	char *deep = nested("{\"items\":", "{}", "}", CX_JSONSCHEMA_MAX_DEPTH);
	char *in_ok = nested("[", "", "]", CX_JSONSCHEMA_MAX_DEPTH);
	char *in_deep = nested("[", "", "]", CX_JSONSCHEMA_MAX_DEPTH + 1);
	const char *msg = compile_error(deep);
	cx_jsonschema *any = compile("{}");
	char want[160];

	check_str(compile_error(ok), "compiled", "a schema 32 levels deep compiles");
	check(strstr(msg, "nests deeper than 32 schemas") != NULL &&
	    strncmp(msg, "schema /items/items/", 20) == 0, "a schema 33 levels deep is refused");
	check_str(run(any, in_ok), "ok", "an instance 32 levels deep is accepted");
	snprintf(want, sizeof want, "%s nests deeper than 32 levels",
	    "/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0");
	check_str(run(any, in_deep), want,
	    "an instance 33 levels deep is refused even where the schema does not look");
	cx_jsonschema_free(any);
	free(ok);
	free(deep);
	free(in_ok);
	free(in_deep);
}

static void test_first_error_hides_values(void)
{
	cx_jsonschema *s = compile("{\"properties\":{\"a\":{\"enum\":[\"x\"]},"
	    "\"b\":{\"format\":\"email\"},\"c\":{\"pattern\":\"^z\"}}}");
	const char *r = run(s, "{\"b\":\"SECRET-b\"}");

	check_str(r, "/b is not a valid email", "the message is the first error only");
	check(!strstr(run(s, "{\"a\":\"SECRET-a\"}"), "SECRET") &&
	    !strstr(run(s, "{\"c\":\"SECRET-c\"}"), "SECRET"),
	    "no message holds the input's value");
	cx_jsonschema_free(s);
}

static cx_jsonschema *load_action(const char *name)
{
	char rel[64];
	char *path;
	cx_err err = { 0, "" };
	cx_jsonschema *s;

	snprintf(rel, sizeof rel, "actions/%s.json", name);
	path = cx_paths_share(rel);
	s = cx_jsonschema_load(path, &err);
	if (!s)
		printf("# %s\n", err.msg);
	free(path);
	return s;
}

static void test_catalogue(void)
{
	static const char *const names[] = {
		"create_lead", "create_task", "enqueue_post", "send_message", "update_lead",
	};
	char *dir = cx_paths_share("actions");
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0, loaded = 0;
	cx_jsonschema *s;
	char what[300];

	while (d && (de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		n++;
		snprintf(what, sizeof what, "%.*s", (int)(len - 5), de->d_name);
		s = load_action(what);
		loaded += s != NULL;
		snprintf(what, sizeof what, "share/cx/actions/%s compiles", de->d_name);
		check(s != NULL, what);
		cx_jsonschema_free(s);
	}
	if (d)
		closedir(d);
	free(dir);
	check(n == sizeof names / sizeof *names && loaded == n,
	    "the catalogue holds the five actions, all compiling");
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		s = load_action(names[i]);
		snprintf(what, sizeof what, "%s is in the catalogue", names[i]);
		check(s != NULL, what);
		cx_jsonschema_free(s);
	}
	s = load_action("create_lead");
	check_str(run(s, "{\"name\":\"Jane Doe\",\"email\":\"jane@example.com\","
	    "\"phone\":\"+34 600 123 456\",\"source\":\"zapier\"}"), "ok",
	    "create_lead accepts a good lead");
	check_str(run(s, "{\"name\":\"Jane Doe\",\"email\":\"jane.example.com\"}"),
	    "/email is not a valid email", "create_lead refuses a bad e-mail at /email");
	check_str(run(s, "{\"email\":\"jane@example.com\"}"), "/name is required",
	    "create_lead requires a name");
	check_str(run(s, "{\"name\":\"J\",\"email\":\"jane@example.com\",\"nmae\":\"x\"}"),
	    "/nmae is not an allowed property", "create_lead refuses an unknown field");
	cx_jsonschema_free(s);
	s = load_action("send_message");
	check_str(run(s, "{\"channel\":\"sms\",\"to\":\"+34600\",\"text\":\"hi\",\"workspace\":\"w\"}"),
	    "/channel is not one of the allowed values", "send_message refuses an unknown channel");
	cx_jsonschema_free(s);
	s = load_action("enqueue_post");
	check_str(run(s, "{\"channel\":\"x\",\"kind\":\"post\",\"text\":\"hello\",\"workspace\":\"w\"}"),
	    "ok", "enqueue_post accepts a post to x");
	cx_jsonschema_free(s);
}

static void test_load_errors(void)
{
	cx_err err = { 0, "" };
	char path[] = "/tmp/cx-unit-jsonschema.XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

	if (f) {
		fputs("{\"type\":\"object\",\"propertes\":{}}", f);
		fclose(f);
	}
	check(!cx_jsonschema_load(path, &err) && err.code == CX_EXIT_CONFIG &&
	    strstr(err.msg, path) && strstr(err.msg, "schema /propertes: not a keyword"),
	    "a catalogue file with a typo is refused, naming the file and the keyword");
	if (fd >= 0)
		unlink(path);
	check(!cx_jsonschema_load("/nonexistent/cx.json", &err) && err.code == CX_EXIT_CONFIG,
	    "a missing file is a configuration error");
}

int main(void)
{
	setenv("CX_SHARE_DIR", "share/cx", 0);
	test_type();
	test_object();
	test_long_path();
	test_array();
	test_enum_and_numbers();
	test_strings();
	test_formats();
	test_compile_errors();
	test_depth();
	test_first_error_hides_values();
	test_catalogue();
	test_load_errors();
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
