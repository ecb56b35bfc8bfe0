/* Unit tests for libcx pieces that are easiest to check from C. Prints TAP
 * lines ("ok N - ..." / "not ok N - ..."); tests/run counts them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "caldav.h"
#include "clock.h"
#include "config.h"
#include "configfile.h"
#include "crypto.h"
#include "err.h"
#include "exit.h"
#include "json.h"
#include "log.h"
#include "metahub.h"
#include "metrics.h"
#include "ndjson.h"
#include "opts.h"
#include "sources.h"
#include "url.h"
#include "utf8.h"
#include "webhooks.h"
#include "xalloc.h"

#include "tap.h"

static void test_crypto(void)
{
	char hex[65];
	unsigned char mac[CX_SHA256_LEN];
	char *b;
	unsigned char *raw;
	size_t len;

	cx_crypto_sha256_hex("abc", 3, hex);
	check_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	    "sha256 of abc matches FIPS 180-2");
	/* RFC 4231 test case 2 */
	cx_crypto_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac);
	cx_crypto_hex(mac, sizeof mac, hex);
	check_str(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
	    "hmac-sha256 matches RFC 4231 case 2");
	check(cx_crypto_equal("abc", 3, "abc", 3) && !cx_crypto_equal("abc", 3, "abd", 3) &&
	    !cx_crypto_equal("abc", 3, "ab", 2), "constant-time equality compares bytes and lengths");
	b = cx_crypto_base64("\xfb\xff\xfe", 3);
	check_str(b, "+//+", "base64 uses the standard alphabet");
	free(b);
	b = cx_crypto_base64url("\xfb\xff\xfe\x01", 4);
	check_str(b, "-__-AQ", "base64url uses - and _ and drops padding");
	free(b);
	raw = cx_crypto_unbase64("-__-AQ", &len);
	check(raw && len == 4 && memcmp(raw, "\xfb\xff\xfe\x01", 4) == 0,
	    "unbase64 reads unpadded base64url");
	free(raw);
	raw = cx_crypto_unbase64("aGVsbG8=", &len);
	check(raw && len == 5 && memcmp(raw, "hello", 5) == 0, "unbase64 reads padded base64");
	free(raw);
	raw = cx_crypto_unbase64("a*b!", &len);
	check(raw == NULL, "unbase64 refuses characters outside the alphabet");
	free(raw);
	check(cx_crypto_unhex("zz", mac, sizeof mac) < 0 && cx_crypto_unhex("abc", mac, sizeof mac) < 0,
	    "unhex refuses bad digits and odd lengths");
}

static void test_signature(void)
{
	const char *body = "{\"a\":1}";
	unsigned char mac[CX_SHA256_LEN];
	char header[80], hex[65];

	cx_crypto_hmac_sha256("old", 3, body, strlen(body), mac);
	cx_crypto_hex(mac, sizeof mac, hex);
	snprintf(header, sizeof header, "sha256=%s", hex);
	check(!meta_signature_valid(header, body, strlen(body), "new", NULL),
	    "a signature made with another secret is refused");
	check(meta_signature_valid(header, body, strlen(body), "new", "old"),
	    "a signature made with the previous secret is accepted during rotation");
	check(!meta_signature_valid(header, "{\"a\":2}", 7, "new", "old"),
	    "a changed body is refused");
	check(!meta_signature_valid(hex, body, strlen(body), "old", NULL),
	    "a signature without the sha256= prefix is refused");
	check(!meta_signature_valid(NULL, body, strlen(body), "old", NULL),
	    "a missing signature is refused");
}

static void test_utf8(void)
{
	check(cx_utf8_valid("h\xc3\xa9llo \xe2\x9d\xa4 \xf0\x9f\x98\x80", 15),
	    "valid UTF-8 with 2, 3 and 4 byte sequences passes");
	check(!cx_utf8_valid("\xc0\xaf", 2), "an overlong encoding is refused");
	check(!cx_utf8_valid("\xed\xa0\x80", 3), "a UTF-16 surrogate is refused");
	check(!cx_utf8_valid("\xe2\x9d", 2), "a truncated sequence is refused");
	check(!cx_utf8_valid("\xf5\x80\x80\x80", 4), "code points past U+10FFFF are refused");
}

static int json_ok(const char *s)
{
	return cx_json_object_valid(s, strlen(s));
}

/* n containers deep: an object holding n - 1 nested arrays. */
static char *nested(int n)
{
	char *s = cx_xmalloc((size_t)n * 2 + 8), *p = s;

	p += sprintf(p, "{\"a\":");
	for (int i = 1; i < n; i++)
		*p++ = '[';
	for (int i = 1; i < n; i++)
		*p++ = ']';
	strcpy(p, "}");
	return s;
}

static int jq_reads_object(const char *s, size_t len)
{
	jv v = jv_parse_sized(s, (int)len);
	int ok = jv_get_kind(v) == JV_KIND_OBJECT;

	jv_free(v);
	return ok;
}

/* {"a":"xx...x"} with a raw control byte, an escaped quote or a closing
 * quote at each offset: strings are scanned a word at a time. */
static int words_scanned(void)
{
	char buf[64];
	int ok = 1;

	for (int at = 0; at < 24; at++) {
		memset(buf, 0, sizeof buf);
		snprintf(buf, sizeof buf, "{\"a\":\"%.*s\"}", 30, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
		buf[6 + at] = '\x01';
		ok = ok && !json_ok(buf);
		buf[6 + at] = '"';
		ok = ok && !json_ok(buf);
		snprintf(buf, sizeof buf, "{\"a\":\"%.*s\\\"%.*s\"}", at, "xxxxxxxxxxxxxxxxxxxxxxxx",
		    24 - at, "xxxxxxxxxxxxxxxxxxxxxxxx");
		ok = ok && json_ok(buf);
	}
	return ok;
}

static void test_json_valid(void)
{
	static const char *const good[] = {
		"{}", " {\"a\":[1,-0,0.5,1e3,-2E-2,true,false,null,\"x\"]}\r\n",
		"{\"\\u00e9\\ud83d\\ude00\\n\\/\":{\"b\":[[],{}]}}", "{\"a\":1e-400}",
	};
	static const char *const bad[] = {
		"", "[]", "\"x\"", "{", "{\"a\":1,}", "{\"a\":[1,]}", "{\"a\" 1}", "{a:1}",
		"{\"a\":nan}", "{\"a\":01}", "{\"a\":.5}", "{\"a\":1.}", "{\"a\":+1}",
		"{\"a\":1e400}", "{\"a\":\"\t\"}", "{\"a\":\"\\x\"}", "{\"a\":\"\\ud800\"}",
		"{\"a\":\"\\u12\"}", "{}{}", "{} x", "\xef\xbb\xbf{}", "{\"a\":\"\xc0\xaf\"}",
		"{\"a\":tru}", "{\"a\":[}", "{\"a\":1]",
	};
	static const char seed[] = "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":"
	    "\"1\",\"changes\":[{\"value\":{\"n\":-1.5e2,\"ok\":true,\"x\":null,"
	    "\"s\":\"caf\xc3\xa9 \\u00e9\\\"\"},\"field\":\"messages\"}]}]}";
	static const char alphabet[] = "{}[]\",:\\ \t\n0123456789-+.eEtrufalsn\x80\xc3\xa9u";
	char buf[sizeof seed + 8], *deep;
	int good_ok = 1, bad_ok = 1, agree = 1, accepted = 0;

	for (size_t i = 0; i < sizeof good / sizeof *good; i++)
		good_ok = good_ok && json_ok(good[i]);
	check(good_ok, "RFC 8259 objects pass the strict JSON check");
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		bad_ok = bad_ok && !json_ok(bad[i]);
	check(bad_ok, "non-objects, jq-only numbers, raw controls and broken escapes are refused");
	check(!cx_json_object_valid("{}\0", 3), "a NUL byte is refused");
	check(words_scanned(), "a control byte, quote or escape is found at every offset of a long string");
	deep = nested(CX_JSON_MAX_DEPTH);
	check(json_ok(deep) && jq_reads_object(deep, strlen(deep)),
	    "the deepest nesting libjq reads passes");
	free(deep);
	deep = nested(CX_JSON_MAX_DEPTH + 1);
	check(!json_ok(deep) && !jq_reads_object(deep, strlen(deep)),
	    "one level deeper is refused, as libjq refuses it");
	free(deep);
	/* Mutations of a valid body: whatever the check accepts, libjq reads
	 * as an object. */
	srand(7);
	for (int n = 0; n < 200000; n++) {
		size_t len = sizeof seed - 1;

		memcpy(buf, seed, len);
		for (int k = 1 + rand() % 3; k > 0; k--) {
			size_t at = (size_t)rand() % len;

			if (rand() % 4 == 0 && len > 1)
				len = at + 1;
			else
				buf[at] = alphabet[rand() % (int)(sizeof alphabet - 1)];
		}
		if (cx_json_object_valid(buf, len)) {
			accepted++;
			agree = agree && jq_reads_object(buf, len);
		}
	}
	check(agree && accepted > 1000, "200000 mutated bodies: every one accepted is an object to libjq");
}

static int json_kind(const char *s)
{
	return cx_json_check(s, strlen(s));
}

static int member(const char *s, const char *name, const char **v, size_t *n)
{
	return cx_json_member(s, strlen(s), name, v, n);
}

/* cx_json_member agrees with libjq on name in s: 1 when it does or cannot
 * tell (-1). */
static int member_as_jq(const char *s, size_t len, const char *name)
{
	jv obj = jv_parse_sized(s, (int)len), want = jv_object_get(obj, jv_string(name));
	const char *v;
	size_t n;
	int rc = cx_json_member(s, len, name, &v, &n), ok;

	if (rc < 0)
		ok = 1;
	else if (rc == 0)
		ok = jv_get_kind(want) == JV_KIND_INVALID;
	else
		ok = jv_equal(jv_copy(want), jv_parse_sized(v, (int)n));
	jv_free(want);
	return ok;
}

static void test_json_member(void)
{
	static const char seed[] = "{\"a\":[1,{\"k\":2}],\"k\":\"x\\\"y\",\"n\":-1.5e2,"
	    "\"o\":{\"k\":null},\"t\":true,\"s\":\"caf\xc3\xa9\"}";
	static const char alphabet[] = "{}[]\",:\\ 0123456789-.etrufalsnko";
	static const char *const names[] = { "a", "k", "n", "o", "t", "s", "x" };
	const char *v;
	size_t n;
	char buf[sizeof seed + 8];
	int agree = 1, tried = 0;

	check(json_kind("{}") == CX_JSON_OBJECT && json_kind(" [1] ") == CX_JSON_NOT_OBJECT &&
	    json_kind("\"x\"") == CX_JSON_NOT_OBJECT && json_kind("1") == CX_JSON_NOT_OBJECT &&
	    json_kind("[1 \"a\"]") == CX_JSON_INVALID && json_kind("{\"a\":1 \"b\":2}") == CX_JSON_INVALID &&
	    json_kind("1 2") == CX_JSON_INVALID && json_kind("") == CX_JSON_INVALID,
	    "cx_json_check tells objects, other JSON values and invalid text apart");
	check(member("{\"k\":1,\"k\" : \"two\" }", "k", &v, &n) == 1 &&
	    n == 5 && memcmp(v, "\"two\"", 5) == 0, "a repeated member name: the last one counts, as in libjq");
	check(member("{\"o\":{\"k\":1}}", "k", &v, &n) == 0,
	    "a name inside a nested object is not a member");
	check(member("{\"\\u006b\":1}", "k", &v, &n) == -1,
	    "a member name with an escape is left to the parser");
	srand(11);
	for (int i = 0; i < 100000; i++) {
		size_t len = sizeof seed - 1;

		memcpy(buf, seed, len);
		for (int k = 1 + rand() % 3; k > 0; k--)
			buf[(size_t)rand() % len] = alphabet[rand() % (int)(sizeof alphabet - 1)];
		if (!cx_json_object_valid(buf, len))
			continue;
		tried++;
		for (size_t j = 0; j < sizeof names / sizeof *names; j++)
			agree = agree && member_as_jq(buf, len, names[j]);
	}
	check(agree && tried > 1000, "100000 mutated objects: every member found is the value libjq finds");
}

static int same_as_jq(jv v)
{
	jv want = jv_dump_string(jv_copy(v), 0);
	cx_buf b = { 0 };
	int ok;

	cx_json_append(&b, v);
	ok = b.len == (size_t)jv_string_length_bytes(jv_copy(want)) &&
	    memcmp(b.s, jv_string_value(want), b.len) == 0;
	if (!ok)
		printf("#   got  '%.*s'\n#   want '%s'\n", (int)b.len, b.s, jv_string_value(want));
	jv_free(want);
	free(b.s);
	return ok;
}

static void test_json_append(void)
{
	static const char *const texts[] = {
		"{}", "[]", "null", "true", "false", "\"\"",
		"[0,-0,1,-5,3.0,0.1,-2.5e-7,123456.789,999999999999999,1e15,1e17,"
		"1.7976931348623157e308,12345678901234567890]",
		"{\"a\":{\"b\":[1,{\"c\":null}],\"\\\"k\\n\":\"v\"},\"z\":[[],{}]}",
		"\"caf\\u00e9 \\u2028 \\ud83d\\ude00 / \\\\ \\\" \\u007f\"",
	};
	char bytes[128];
	int ok = 1;

	for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
		ok = same_as_jq(jv_parse(texts[i])) && ok;
	for (int c = 1; c < 128; c++)
		bytes[c - 1] = (char)c;
	ok = same_as_jq(jv_string_sized(bytes, 127)) && ok;
	/* keys keep their order, as jq prints it */
	ok = same_as_jq(jv_object_set(jv_object_set(jv_object(), jv_string("b\t"),
	    jv_number(2)), jv_string("a"), jv_array())) && ok;
	check(ok, "JSON appended to a buffer is byte for byte what libjq prints");
}

static void test_clock(void)
{
	char buf[CX_RFC3339_LEN];
	int64_t t;

	cx_clock_rfc3339(1749416383, -1, buf);
	check_str(buf, "2025-06-08T20:59:43Z", "RFC 3339 formatting in UTC with Z");
	cx_clock_rfc3339(0, 7, buf);
	check_str(buf, "1970-01-01T00:00:00.007Z", "RFC 3339 with milliseconds");
	check(cx_clock_parse_rfc3339("2025-06-08T22:59:43.5+02:00", &t) == 0 && t == 1749416383,
	    "RFC 3339 with a fraction and an offset parses to UTC");
	check(cx_clock_parse_rfc3339("2025-06-08 20:59:43", &t) < 0,
	    "a timestamp without a zone is refused");
	setenv("CX_NOW", "12345", 1);
	check(cx_clock_now() == 12345 && cx_clock_now_ms() == 12345000, "CX_NOW overrides the clock");
	unsetenv("CX_NOW");
}

static void test_mask(void)
{
	char *m = cx_log_mask_phone("+5511987654321");

	check_str(m, "+55*********21", "phone numbers keep the country code and last two digits");
	free(m);
	m = cx_log_mask_email("jane@example.com");
	check_str(m, "j***@example.com", "e-mail addresses keep the first letter and the domain");
	free(m);
}

static void test_config(void)
{
	char path[] = "/tmp/cx-unit-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	cx_err err = { 0, "" };
	char *secret = NULL;

	fputs("# comment\n\nexport CX_UNIT_A=one\nCX_UNIT_B='two words'\n"
	    "CX_UNIT_C=\"q\\\"x\"\nCX_UNIT_KEEP=file\nCX_UNIT_S=line\n", f);
	fclose(f);
	setenv("CX_UNIT_KEEP", "env", 1);
	check(cx_config_load(path, &err) == 0, "a KEY=value file loads");
	check_str(getenv("CX_UNIT_A"), "one", "export prefix is accepted");
	check_str(getenv("CX_UNIT_B"), "two words", "single quotes keep spaces");
	check_str(getenv("CX_UNIT_C"), "q\"x", "double quotes take backslash escapes");
	check_str(getenv("CX_UNIT_KEEP"), "env", "the environment wins over the file");

	f = fopen(path, "w");
	fputs("s3cret\n", f);
	fclose(f);
	setenv("CX_UNIT_SECRET_FILE", path, 1);
	check(cx_secret_get("CX_UNIT_SECRET", &secret, &err) == 1, "a secret is read from NAME_FILE");
	check_str(secret, "s3cret", "the secret file's trailing newline is dropped");
	cx_secret_free(secret);
	setenv("CX_UNIT_SECRET", "x", 1);
	check(cx_secret_get("CX_UNIT_SECRET", &secret, &err) < 0 && err.code == CX_EXIT_CONFIG,
	    "NAME and NAME_FILE together are a configuration error");
	unsetenv("CX_UNIT_SECRET");
	unsetenv("CX_UNIT_SECRET_FILE");
	check(cx_secret_get("CX_UNIT_SECRET", &secret, &err) == 0, "an unset secret is reported as absent");

	f = fopen(path, "w");
	fputs("NOT A LINE\n", f);
	fclose(f);
	check(cx_config_load(path, &err) < 0 && err.code == CX_EXIT_CONFIG &&
	    strstr(err.msg, ":1:") != NULL, "a malformed config line is an error naming the line");
	unlink(path);
}

static void test_labels(void)
{
	char *l = cx_metrics_labels("a", "x\"y", "b", "back\\slash", NULL);

	check_str(l, "a=\"x\\\"y\",b=\"back\\\\slash\"", "metric label values are escaped");
	free(l);
}

static int seen_id, seen_count;
static const char *seen_arg;

static int on_opt(int id, const char *arg, void *ctx, cx_err *err)
{
	(void)ctx;
	(void)err;
	seen_id = id;
	seen_arg = arg;
	seen_count++;
	return 0;
}

static void test_opts(void)
{
	static const cx_opt opts[] = {
		{ "key", 'k', 1, "K", "a key" },
		{ "flag", 0, 2, NULL, "a flag" },
		{ NULL, 0, 0, NULL, NULL },
	};
	static const cx_cmd cmd = { "t", "[--key K]", NULL, opts };
	char *argv1[] = { "t", "--key", "v", "rest", NULL };
	char *argv2[] = { "t", "--nope", NULL };
	char *argv3[] = { "t", "--key", NULL };
	cx_err err = { 0, "" };
	int rc;

	rc = cx_opts_parse(&cmd, 4, argv1, on_opt, NULL, &err);
	check(rc == 3 && seen_id == 1 && strcmp(seen_arg, "v") == 0,
	    "options reach the callback with their values, operands follow");
	rc = cx_opts_parse(&cmd, 2, argv2, on_opt, NULL, &err);
	check(rc < 0 && err.code == CX_EXIT_USAGE && strstr(err.msg, "--nope"),
	    "an unknown option is a usage error naming it");
	rc = cx_opts_parse(&cmd, 2, argv3, on_opt, NULL, &err);
	check(rc < 0 && strstr(err.msg, "needs a value"), "a missing value is a usage error");
}

static const char *test_query(const cx_webhook_request *r, const char *name)
{
	const char *const *kv = r->ctx;

	for (; *kv; kv += 2)
		if (strcmp(kv[0], name) == 0)
			return kv[1];
	return NULL;
}

static void test_webhooks(void)
{
	const char *good[] = { "hub.mode", "subscribe", "hub.verify_token", "vt",
		"hub.challenge", "1158201444", NULL };
	const char *bad[] = { "hub.mode", "subscribe", "hub.verify_token", "vx",
		"hub.challenge", "1158201444", NULL };
	cx_webhook_request req = { test_query, test_query, good, NULL, 0, NULL };
	const cx_webhook_source *src = NULL, *meta;
	char routes[128] = "";
	const char *route;
	cx_err err = { 0, "" };
	void *keys = NULL;
	size_t k = 9;

	for (size_t i = 0; (route = cx_webhooks_route(i, NULL, NULL)); i++)
		snprintf(routes + strlen(routes), sizeof routes - strlen(routes), "%s%s",
		    i ? "," : "", route);
	check_str(routes, "whatsapp,instagram,messenger,google-calendar,ses,sendgrid,"
	    "mailgun,sendgrid-inbound,mailgun-inbound",
	    "the webhook routes, in the order --routes lists them");
	check(cx_webhooks_find("messenger", &meta, &k) == 2 && k == 0 &&
	    strcmp(meta->signature_header, "X-Hub-Signature-256") == 0,
	    "messenger is Meta's route, signed with X-Hub-Signature-256");
	check(cx_webhooks_find("google-calendar", &src, &k) == 3 && k == 1 &&
	    src->needs_store && !src->handshake && !src->signature_header,
	    "google-calendar checks its channel in the store, with no handshake or signature");
	check(cx_webhooks_find("whatsap", NULL, NULL) == -1 && cx_webhooks_source(6) &&
	    !cx_webhooks_source(7), "an unknown route is not found; there are seven sources");
	setenv("CX_META_APP_SECRET", "s", 1);
	setenv("CX_META_VERIFY_TOKEN", "vt", 1);
	check(meta->load(&keys, &err) == 0, "Meta's secrets load");
	check_str(meta->handshake(&req, keys), "1158201444",
	    "Meta's handshake answers the challenge for its verify token");
	req.ctx = bad;
	check(meta->handshake(&req, keys) == NULL, "and refuses another token");
	meta->unload(keys);
	unsetenv("CX_META_APP_SECRET");
	unsetenv("CX_META_VERIFY_TOKEN");
	check(meta->load(&keys, &err) < 0 && err.code == CX_EXIT_CONFIG && !keys,
	    "without CX_META_APP_SECRET Meta's source does not load (exit 78)");
}

static void test_sources(void)
{
	const cx_source *src;
	cx_source_conf c = { 0 };
	char prog[64];
	int named = 1, n = 0;

	for (size_t i = 0; (src = cx_sources_get(i)); i++, n++) {
		snprintf(prog, sizeof prog, "cx-sync %s", src->name);
		named &= strcmp(src->cmd->prog, prog) == 0 && cx_sources_find(src->name) == src;
	}
	check(n == 3 && named, "each sync source is found by the name of its subcommand");
	check(cx_sources_find("ics") == NULL, "ics is not a sync source");
	c.url = "ftp://example.org/cal/";
	check_str(caldav_source.check(&c), "--url with an http(s) URL", "caldav wants http(s)");
	c.url = "https://u:p@example.org/cal/";
	check(strstr(caldav_source.check(&c), "without user information") != NULL,
	    "caldav refuses a password in the URL");
	c.url = "https://example.org/cal/?a=b@c";
	check(caldav_source.check(&c) == NULL, "an @ in the query is no user information");
}

static void test_url(void)
{
	char *u = cx_url_for_log("https://user:pw@example.org:8443/cal/a?token=x#f");

	check_str(u, "https://example.org:8443/cal/a", "a URL is logged without user, query or fragment");
	free(u);
	u = cx_url_for_log("not a url");
	check_str(u, "(malformed URL)", "a malformed URL is not echoed");
	free(u);
}

int main(void)
{
	cx_log_init("unit");
	test_crypto();
	test_signature();
	test_utf8();
	test_json_valid();
	test_json_member();
	test_json_append();
	test_clock();
	test_mask();
	test_config();
	test_labels();
	test_opts();
	test_webhooks();
	test_sources();
	test_url();
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
