/* Unit tests of trigger payload sanitizing (sanitize.h): a policy for every
 * canonical type, the canonical events of tests/fixtures under them (no
 * phone number or e-mail address of a person left, ids kept), exact
 * payloads, masking inside text, and broken policy files refused naming
 * the file. Prints TAP lines; tests/run counts them. */
#include <ctype.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exit.h"
#include "json.h"
#include "sanitize.h"

#include "tap.h"

static const char *const types[] = {
	"message", "message.status", "read.receipt", "typing", "reaction.added",
	"reaction.removed", "comment", "lead", "x.mention", "calendar.event.created",
	"calendar.event.updated", "calendar.event.deleted", "calendar.sync.requested",
	"email.sent", "email.delivered", "email.delayed", "email.bounced",
	"email.complained", "email.rejected", "email.received", "action.requested",
	"post.proposed", "post.approved", "post.rejected", "post.published",
	"post.failed", "delivery.status", NULL,
};

/* The payload of the event in text under its type's policy, as compact
 * JSON (static storage), or a description of what went wrong. */
static const char *sanitize(const char *text)
{
	static char *out;
	cx_err err = { 0, "" };
	jv ev = jv_parse(text);
	cx_sanitizer *z = NULL;
	int rc = cx_sanitizer_load(cx_json_str(ev, "type"), &z, &err);

	free(out);
	out = rc == 1 ? cx_json_dump(cx_sanitize_event(z, ev)) :
	    strdup(rc == 0 ? "(no policy)" : err.msg);
	cx_sanitizer_free(z);
	jv_free(ev);
	return out;
}

static void test_every_type_has_a_policy(void)
{
	int all = 1;

	for (int i = 0; types[i]; i++) {
		cx_err err = { 0, "" };
		cx_sanitizer *z = NULL;

		if (cx_sanitizer_load(types[i], &z, &err) != 1) {
			printf("# %s: %s\n", types[i], err.msg);
			all = 0;
		}
		cx_sanitizer_free(z);
	}
	check(all, "every canonical type of SPEC 5 has a policy that compiles");
}

/* Keys whose values are ids of people, and keys of ids that may look
 * like e-mail addresses but are not one (RFC 5322 Message-IDs, iCal UIDs). */
static const char *const person_keys[] = {
	"from.id", "to.id", "conversation_id", "recipient_id", "actor_id", "reader_id",
	"wa_id", "phone", "author_id", NULL,
};
static const char *const id_keys[] = {
	"message_id", "provider_message_id", "in_reply_to", "ical_uid", "dedupe_key", NULL,
};

static int listed(const char *const *list, const char *parent, const char *key)
{
	char both[256];

	snprintf(both, sizeof both, "%s.%s", parent, key);
	for (int i = 0; list[i]; i++)
		if (strcmp(list[i], key) == 0 || strcmp(list[i], both) == 0)
			return 1;
	return 0;
}

/* Adds to *people (a jv array) the phone numbers of people in v (borrowed;
 * under parent.key) and every e-mail address in it but ids. The business's
 * own account (a WhatsApp phone number id) is not a person. */
static void people_in(jv v, const char *account, const char *parent, const char *key,
    jv *people)
{
	const char *s;

	if (jv_get_kind(v) == JV_KIND_OBJECT) {
		jv_object_foreach(v, k, x) {
			people_in(x, account, key, jv_string_value(k), people);
			jv_free(k);
			jv_free(x);
		}
		return;
	}
	if (jv_get_kind(v) == JV_KIND_ARRAY) {
		jv_array_foreach(v, i, x) {
			people_in(x, account, parent, key, people);
			jv_free(x);
			(void)i;
		}
		return;
	}
	if (jv_get_kind(v) != JV_KIND_STRING)
		return;
	s = jv_string_value(v);
	if (listed(person_keys, parent, key) && strspn(s, "+0123456789") == strlen(s) &&
	    strlen(s) >= 7 && strcmp(s, account) != 0)
		*people = jv_array_append(*people, jv_string(s));
	for (const char *at = strchr(s, '@'); at && !listed(id_keys, parent, key);
	    at = strchr(at + 1, '@')) {
		const char *b = at, *e = at + 1;

		while (b > s && (isalnum((unsigned char)b[-1]) || strchr("._%+-", b[-1])))
			b--;
		while (isalnum((unsigned char)*e) || *e == '.' || *e == '-')
			e++;
		if (b < at && e > at + 1)
			*people = jv_array_append(*people, jv_string_sized(b, (int)(e - b)));
	}
}

/* The first person of people (borrowed) found in s: an address, or 7
 * digits in a row of a phone number. */
static const char *leaked(jv people, const char *s)
{
	static char who[256];

	jv_array_foreach(people, i, p) {
		const char *t = jv_string_value(p);
		int found = strchr(t, '@') ? strstr(s, t) != NULL : 0;

		for (size_t k = 0; !strchr(t, '@') && k + 7 <= strlen(t) && !found; k++)
			found = memmem(s, strlen(s), t + k, 7) != NULL;
		snprintf(who, sizeof who, "%s", t);
		jv_free(p);
		(void)i;
		if (found)
			return who;
	}
	return NULL;
}

/* Checks the payload of one fixture event (text); counts into *bad and *ids. */
static void check_fixture_event(const char *file, const char *text, int *bad, int *ids)
{
	const char *out = sanitize(text);
	jv ev = jv_parse(text), got = jv_parse(out), people = jv_array();
	jv data = jv_object_get(jv_copy(ev), jv_string("data"));
	jv kept = jv_object_get(jv_copy(got), jv_string("data"));
	const char *mid = cx_json_str(data, "message_id"), *who;

	people_in(ev, cx_json_str(ev, "account") ? cx_json_str(ev, "account") : "", "", "",
	    &people);
	who = leaked(people, out);
	if (who || out[0] != '{') {
		printf("# %s: %s in %s\n", file, who ? who : "", out);
		(*bad)++;
	}
	if (mid && (!cx_json_str(kept, "message_id") || strcmp(cx_json_str(kept, "message_id"), mid))) {
		printf("# %s: message_id %s not kept\n", file, mid);
		(*bad)++;
	} else if (mid) {
		(*ids)++;
	}
	jv_free(people);
	jv_free(data);
	jv_free(kept);
	jv_free(ev);
	jv_free(got);
}

static void test_fixture_events(void)
{
	glob_t g;
	int events = 0, bad = 0, ids = 0;
	char line[1 << 16];

	if (glob("tests/fixtures/*/*.expected.ndjson", 0, NULL, &g) != 0) {
		check(0, "the fixtures' events are found");
		return;
	}
	for (size_t i = 0; i < g.gl_pathc; i++) {
		FILE *f = fopen(g.gl_pathv[i], "r");

		while (f && fgets(line, sizeof line, f)) {
			events++;
			check_fixture_event(g.gl_pathv[i], line, &bad, &ids);
		}
		if (f)
			fclose(f);
	}
	globfree(&g);
	check(events > 50 && bad == 0,
	    "no phone number or e-mail address of a person is left in any fixture event");
	check(ids > 20, "message ids are kept as they are");
}

static void test_whatsapp_message(void)
{
	check_str(sanitize("{\"v\":1,\"type\":\"message\",\"dedupe_key\":\"whatsapp:106540352242922:"
	    "msg:wamid.ID\",\"channel\":\"whatsapp\",\"provider\":\"whatsapp\",\"tenant\":\"acme\","
	    "\"account\":\"106540352242922\",\"occurred_at\":\"2026-11-23T10:00:00Z\","
	    "\"received_at\":\"2026-11-23T10:00:01Z\",\"correlation_id\":\"c-1\","
	    "\"source\":{\"inbox_id\":42},\"raw\":{\"from\":\"16505551234\"},\"data\":{"
	    "\"direction\":\"inbound\",\"conversation_id\":\"16505551234\",\"message_id\":\"wamid.ID\","
	    "\"from\":{\"id\":\"16505551234\",\"name\":\"Sheena Nelson\"},\"to\":{\"id\":\"106540352242922\"},"
	    "\"text\":\"call me on +55 11 98765-4321 or mail jane.doe@example.com.\","
	    "\"attachments\":[{\"type\":\"image\",\"id\":\"MEDIA1\",\"mime\":\"image/jpeg\","
	    "\"url\":\"https://cdn.example/x?sig=1\"}],"
	    "\"contacts\":[{\"phones\":[{\"phone\":\"+1 631 555 1181\"}]}],"
	    "\"location\":{\"latitude\":38.7,\"longitude\":-9.1}}}"),
	    "{\"type\":\"message\",\"id\":\"evt_95331cba46b0f4ad15dde3d6a77c6a36\","
	    "\"timestamp\":\"2026-11-23T10:00:00Z\",\"tenant\":\"acme\",\"channel\":\"whatsapp\","
	    "\"correlation_id\":\"c-1\",\"data\":{\"direction\":\"inbound\","
	    "\"conversation_id\":\"16*******34\",\"message_id\":\"wamid.ID\","
	    "\"from\":{\"id\":\"16*******34\",\"name\":\"Sheena Nelson\"},"
	    "\"to\":{\"id\":\"10***********22\"},"
	    "\"text\":\"call me on +55************21 or mail j***@example.com.\","
	    "\"attachments\":[{\"type\":\"image\",\"id\":\"MEDIA1\",\"mime\":\"image/jpeg\"}]}}",
	    "a WhatsApp message: phones masked, ids kept, url, contacts, location and raw left out");
}

static void test_treatments(void)
{
	check_str(sanitize("{\"type\":\"action.requested\",\"data\":{\"integration_id\":\"int_1\","
	    "\"action\":\"create_lead\",\"input\":{\"name\":\"Jane\",\"email\":\"jane@example.com\","
	    "\"phone\":\"+34 600 123 456\",\"extra\":\"secret\"},\"idempotency_key\":\"k1\"}}"),
	    "{\"type\":\"action.requested\",\"timestamp\":null,\"data\":{\"integration_id\":\"int_1\","
	    "\"action\":\"create_lead\",\"idempotency_key\":\"k1\",\"input\":{\"name\":\"Jane\","
	    "\"email\":\"j***@example.com\",\"phone\":\"+34**********56\"}}}",
	    "phone and email fields masked whatever they look like, unknown input left out");
	check_str(sanitize("{\"type\":\"calendar.event.created\",\"data\":{\"event_id\":\"e1\","
	    "\"ical_uid\":\"abc@google.com\",\"title\":\"Call 2026 with bob@example.org\","
	    "\"attendees\":[{\"email\":\"ann@example.org\",\"response_status\":\"accepted\"},"
	    "{\"response_status\":\"declined\"},\"odd\"],\"recurrence\":[\"RRULE:FREQ=DAILY\",{\"x\":1}],"
	    "\"start\":{\"date\":\"2026-12-01\"},\"organizer\":\"not an object\"}}"),
	    "{\"type\":\"calendar.event.created\",\"timestamp\":null,\"data\":{\"event_id\":\"e1\","
	    "\"ical_uid\":\"abc@google.com\",\"title\":\"Call 2026 with b***@example.org\","
	    "\"start\":{\"date\":\"2026-12-01\"},\"attendees\":[{\"email\":\"a***@example.org\","
	    "\"response_status\":\"accepted\"},{\"response_status\":\"declined\"}],"
	    "\"recurrence\":[\"RRULE:FREQ=DAILY\"]}}",
	    "arrays of objects and of strings follow the policy; values of the wrong shape are left out");
	check_str(sanitize("{\"type\":\"message.status\",\"data\":{\"recipient_id\":16505551234,"
	    "\"status\":{\"nested\":\"16505551234\"},\"errors\":\"none\"}}"),
	    "{\"type\":\"message.status\",\"timestamp\":null,\"data\":{\"recipient_id\":\"16*******34\"}}",
	    "a number is masked as text; an object where a value is expected is left out");
	check_str(sanitize("{\"type\":\"comment\",\"data\":\"not an object\"}"),
	    "{\"type\":\"comment\",\"timestamp\":null,\"data\":{}}", "data that is not an object gives {}");
	check_str(sanitize("{\"type\":\"post.published\",\"data\":{\"text\":\"v1.2.3 is out, "
	    "order 123456 from a@b, 555-1234 (call)\"}}"),
	    "{\"type\":\"post.published\",\"timestamp\":null,\"data\":{\"text\":\"v1.2.3 is out, "
	    "order 123456 from a@b, 55****34 (call)\"}}",
	    "text keeps short numbers and what is not an address, masks a 7-digit number");
	check_str(sanitize("{\"type\":\"webhook.received\",\"data\":{}}"), "(no policy)",
	    "a type without a policy has none");
	check_str(sanitize("{\"type\":\"../actions/create_lead\",\"data\":{}}"), "(no policy)",
	    "a type is never a path");
}

/* Loads type from a share dir holding one policy file with text. */
static const char *load_policy(const char *text)
{
	static cx_err err;
	char dir[] = "/tmp/cx-unit-sanitize.XXXXXX", path[128];
	cx_sanitizer *z = NULL;
	FILE *f;
	int rc;

	if (!mkdtemp(dir))
		return "(no temp dir)";
	snprintf(path, sizeof path, "%s/sanitize", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof path, "%s/sanitize/t.json", dir);
	if ((f = fopen(path, "w"))) {
		fputs(text, f);
		fclose(f);
	}
	setenv("CX_SHARE_DIR", dir, 1);
	err.code = 0;
	rc = cx_sanitizer_load("t", &z, &err);
	cx_sanitizer_free(z);
	setenv("CX_SHARE_DIR", "share/cx", 1);
	unlink(path);
	snprintf(path, sizeof path, "%s/sanitize", dir);
	rmdir(path);
	rmdir(dir);
	if (rc == 1)
		return "loaded";
	if (rc == 0 || err.code != CX_EXIT_CONFIG || !strstr(err.msg, "/sanitize/t.json: "))
		return "(not a config error naming the file)";
	return strstr(err.msg, "t.json: ") + strlen("t.json: ");
}

static void test_broken_policies(void)
{
	check_str(load_policy("{\"fields\":{\"a.b[].c\":\"keep\",\"a.d\":\"mask\"}}"), "loaded",
	    "a good policy loads");
	check_str(load_policy("{\"fields\":{\"a\":\"hide\"}}"),
	    "field \"a\": not keep, phone, email or mask", "an unknown treatment is refused");
	check_str(load_policy("{\"fields\":{\"a.b\":\"keep\",\"a\":\"keep\"}}"),
	    "field \"a\": contradicts another field of the policy",
	    "a field and a field inside it are refused");
	check_str(load_policy("{\"fields\":{\"a[].b\":\"keep\",\"a.c\":\"keep\"}}"),
	    "field \"a.c\": contradicts another field of the policy",
	    "a field both an array and an object is refused");
	check_str(load_policy("{\"fields\":{\"a..b\":\"keep\"}}"),
	    "field \"a..b\": not a path of names, dots and []", "an empty path segment is refused");
	check_str(load_policy("{\"fields\":{\"a[]x\":\"keep\"}}"),
	    "field \"a[]x\": not a path of names, dots and []", "junk after [] is refused");
	check_str(load_policy("{\"fields\":{}}"), "no fields", "an empty allowlist is refused");
	check_str(load_policy("{\"fields\":{\"a\":\"keep\"},\"other\":1}"),
	    "not an object with only \"fields\", an object", "an unknown key is refused");
	check(strcmp(load_policy("{\"fields\":"), "(not a config error naming the file)") != 0,
	    "a policy that is not JSON is a config error naming the file");
}

int main(void)
{
	setenv("CX_SHARE_DIR", "share/cx", 0);
	test_every_type_has_a_policy();
	test_fixture_events();
	test_whatsapp_message();
	test_treatments();
	test_broken_policies();
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
