/* Unit tests of API-key authentication (cx_integrations_authenticate_in,
 * which cx-ingest serve calls for every action) and of the signing
 * secrets of a subscription during a rotation, on a state file in a
 * temporary directory with times given explicitly. Prints TAP lines;
 * tests/run counts them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "clock.h"
#include "config.h"
#include "integrations.h"
#include "json.h"
#include "store.h"
#include "subscriptions.h"
#include "tokencrypt.h"

#include "tap.h"
#include "tmpstore.h"

/* 32 bytes, base64: a token key for the test only. */
#define TEST_TOKEN_KEY "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define NEXT_TOKEN_KEY "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="

/* Whether key authenticates at now, as integration id. */
static int auth_as(cx_store *s, const char *key, int64_t now, const char *id)
{
	cx_err err = { 0, "" };
	cx_integration in;
	int rc = cx_integrations_authenticate_in(s, key, now, &in, &err);
	int ok = rc == 1 && strcmp(in.id, id) == 0;

	cx_integration_free(&in);
	return ok;
}

static int auth_none(cx_store *s, const char *key, int64_t now)
{
	cx_err err = { 0, "" };
	cx_integration in;
	int rc = cx_integrations_authenticate_in(s, key, now, &in, &err);

	cx_integration_free(&in);
	return rc == 0;
}

/* key with its last character changed: same key_id, other secret. */
static char *tampered(const char *key)
{
	char *t = strdup(key);
	size_t n = strlen(t);

	t[n - 1] = t[n - 1] == 'A' ? 'B' : 'A';
	return t;
}

static void test_keys(cx_store *s)
{
	cx_err err = { 0, "" };
	char *id = NULL, *key = NULL, *key2 = NULL, *other_id = NULL, *other_key = NULL;
	char *wrong;
	cx_integration in;
	int64_t now = cx_clock_now();

	check(cx_integrations_create(s, "acme", "zapier", "Zap one",
	    "action:create_lead  trigger:message action:create_lead", "tester", &id, &key,
	    &err) == 0, "create makes an integration and a key");
	check(id && strlen(id) == 20 && strncmp(id, "int_", 4) == 0,
	    "its id is int_ and 16 hex digits");
	check(key && strlen(key) == 64 && strncmp(key, "cxk_", 4) == 0 && key[20] == '_',
	    "its key is cxk_<16 hex>_<43 base64url>");
	check(auth_as(s, key, now, id), "the right key authenticates");
	check(cx_integrations_authenticate_in(s, key, now, &in, &err) == 1 &&
	    strcmp(in.tenant, "acme") == 0 && strcmp(in.kind, "zapier") == 0 &&
	    strcmp(in.state, "active") == 0, "with the integration's tenant, kind and state");
	check_str(in.scopes, "action:create_lead trigger:message",
	    "its scopes once each, single-spaced");
	check(cx_integrations_has_scope(&in, "action:create_lead") &&
	    cx_integrations_has_scope(&in, "trigger:message") &&
	    !cx_integrations_has_scope(&in, "action:create") &&
	    !cx_integrations_has_scope(&in, "action:send_message"),
	    "has_scope matches whole scopes only");
	cx_integration_free(&in);

	wrong = tampered(key);
	check(auth_none(s, wrong, now), "a wrong secret with a known key id is refused");
	free(wrong);
	check(auth_none(s, "cxk_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	    now), "a well-formed key nobody has is refused");
	check(auth_none(s, "", now) && auth_none(s, "Bearer x", now) &&
	    auth_none(s, "cxk_", now), "malformed keys are refused");
	wrong = strdup(key);
	wrong[5] = 'G';
	check(auth_none(s, wrong, now), "a key id that is not hex is refused");
	free(wrong);
	wrong = malloc(strlen(key) + 2);
	sprintf(wrong, "%sA", key);
	check(auth_none(s, wrong, now), "a key with a character more is refused");
	wrong[strlen(key) - 1] = '\0';
	check(auth_none(s, wrong, now), "a key with a character less is refused");
	free(wrong);

	check(cx_integrations_rotate_at(s, id, now, 3600, "tester", &key2, &err) == 0 &&
	    key2 && strcmp(key2, key) != 0, "rotate makes another key");
	check(auth_as(s, key2, now, id), "the new key authenticates");
	check(auth_as(s, key, now + 3599, id), "the old key works within the grace");
	check(auth_none(s, key, now + 3600), "and not once the grace has ended");
	check(auth_as(s, key2, now + 100000, id), "the new key has no end");
	cx_secret_free(key);
	key = NULL;

	check(cx_integrations_create(s, "beta", "make", "Other", "trigger:lead", "tester",
	    &other_id, &other_key, &err) == 0, "another tenant's integration");
	check(auth_as(s, other_key, now, other_id) && !auth_as(s, other_key, now, id),
	    "its key authenticates as that integration only");

	check(cx_integrations_rotate_at(s, id, now, 3600, "tester", &key, &err) == 0,
	    "a second rotation");
	check(cx_integrations_revoke(s, id, "tester", &err) == 0, "revoke");
	check(auth_none(s, key, now + 1) && auth_none(s, key2, now + 1),
	    "after a revoke no key of the integration authenticates");
	cx_secret_free(key);
	key = NULL;
	check(cx_integrations_rotate_at(s, id, now, 0, "tester", &key, &err) == -1 &&
	    err.code == 1 && !key, "a revoked integration cannot get a new key");
	check(cx_integrations_enable(s, id, "tester", &err) == -1 && err.code == 64,
	    "nor be enabled again");
	check(auth_as(s, other_key, now + 1, other_id),
	    "the other integration's key still works");
	check(cx_integrations_rotate_at(s, "int_0000000000000000", now, 0, "tester", &key,
	    &err) == -1 && err.code == 1, "rotating an unknown id fails with 1");
	free(id);
	free(other_id);
	cx_secret_free(key2);
	cx_secret_free(other_key);
}

/* Keeps the audit row of action "integration_disabled". */
static void keep_disabled(jv row, void *ctx)
{
	jv *found = ctx;
	const char *action = cx_json_str(row, "action");

	if (action && strcmp(action, "integration_disabled") == 0) {
		jv_free(*found);
		*found = row;
		return;
	}
	jv_free(row);
}

static void test_streak(cx_store *s)
{
	cx_err err = { 0, "" };
	char *id = NULL, *key = NULL;
	cx_integration in;
	jv row = jv_null();
	int disabled = -1, rc = 0;
	int64_t now = 1000000;

	check(cx_integrations_create(s, "acme", "generic", "Noisy", "action:create_task",
	    "tester", &id, &key, &err) == 0, "an integration that will be refused");
	for (int i = 0; i < 4; i++)
		rc |= cx_integrations_rejected_in(s, id, now + i, 5, 60, &disabled, &err);
	check(rc == 0 && disabled == 0, "four refusals in a row are under a threshold of 5");
	check(cx_integrations_rejected_in(s, id, now + 100, 5, 60, &disabled, &err) == 0 &&
	    disabled == 0, "a refusal after the window starts the streak again");
	for (int i = 0; i < 3; i++)
		rc |= cx_integrations_rejected_in(s, id, now + 101 + i, 5, 60, &disabled, &err);
	check(cx_integrations_accepted_in(s, id, now + 105, &err) == 0,
	    "an accepted call forgets the streak");
	for (int i = 0; i < 4; i++)
		rc |= cx_integrations_rejected_in(s, id, now + 106 + i, 5, 60, &disabled, &err);
	check(rc == 0 && disabled == 0, "so four more refusals do not disable it");
	check(cx_integrations_rejected_in(s, id, now + 110, 5, 60, &disabled, &err) == 0 &&
	    disabled == 1, "the fifth in the window disables it");
	check(cx_integrations_get(s, id, &in, &err) == 1 && strcmp(in.state, "disabled") == 0,
	    "the integration is disabled");
	cx_integration_free(&in);
	check(cx_audit_query(s, NULL, -1, keep_disabled, &row, &err) == 0 &&
	    jv_get_kind(row) == JV_KIND_OBJECT, "the disabling is audited");
	if (jv_get_kind(row) == JV_KIND_OBJECT) {
		jv detail = jv_object_get(jv_copy(row), jv_string("detail"));
		const char *cid = cx_json_str(row, "correlation_id");

		check_str(cx_json_str(detail, "integration_id"), id,
		    "with the integration's id");
		check_str(cx_json_str(detail, "reason"), "5 refused calls in a row within 60 s",
		    "and the reason");
		check(cid && strncmp(cid, "c-", 2) == 0 && strlen(cid) == 34,
		    "and a correlation id");
		jv_free(detail);
	}
	jv_free(row);
	check(cx_integrations_authenticate_in(s, key, now + 111, &in, &err) == 1 &&
	    strcmp(in.state, "disabled") == 0,
	    "its key still authenticates, with the state for the caller to refuse");
	cx_integration_free(&in);
	check(cx_integrations_enable(s, id, "tester", &err) == 0 &&
	    cx_integrations_get(s, id, &in, &err) == 1 && strcmp(in.state, "active") == 0,
	    "enable makes it active again");
	cx_integration_free(&in);
	free(id);
	cx_secret_free(key);
}

static int secrets_at(cx_store *s, const cx_tokenkeys *keys, const char *sub,
    int64_t now, char ***out, size_t *n)
{
	cx_err err = { 0, "" };

	return cx_subscriptions_secrets(s, keys, sub, now, out, n, &err);
}

static void free_secrets(char **secrets, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cx_secret_free(secrets[i]);
	free(secrets);
}

static void test_secrets(cx_store *s, const cx_tokenkeys *keys)
{
	cx_err err = { 0, "" };
	char *id = NULL, *key = NULL, *sub = NULL, *first = NULL, *second = NULL;
	char **got = NULL;
	size_t n = 0;
	int64_t now = cx_clock_now();

	check(cx_integrations_create(s, "acme", "make", "Make", "trigger:message", "tester",
	    &id, &key, &err) == 0, "an integration with trigger:message");
	check(cx_subscriptions_create(s, keys, id, "lead", "https://hook.example/x", "cli",
	    "tester", &sub, &first, &err) == -1 && err.code == 77 && !sub,
	    "subscribing outside its scopes is refused with 77");
	check(cx_subscriptions_create(s, keys, id, "message", "https://hook.example/x?k=1",
	    "cli", "tester", &sub, &first, &err) == 0, "subscribing within them works");
	check(first && strncmp(first, "whsec_", 6) == 0 && strlen(first) == 38,
	    "with a secret whsec_ and base64 of 24 bytes");
	check(secrets_at(s, keys, sub, now, &got, &n) == 0 && n == 1 &&
	    strcmp(got[0], first) == 0, "that secret alone signs");
	free_secrets(got, n);
	check(cx_subscriptions_rotate_secret(s, keys, sub, 600, "tester", &second, &err) == 0 &&
	    second && strcmp(second, first) != 0, "rotate-secret makes another secret");
	check(secrets_at(s, keys, sub, now, &got, &n) == 0 && n == 2 &&
	    strcmp(got[0], second) == 0 && strcmp(got[1], first) == 0,
	    "during the grace both sign, the newest first");
	free_secrets(got, n);
	check(secrets_at(s, keys, sub, now + 600, &got, &n) == 0 && n == 1 &&
	    strcmp(got[0], second) == 0, "after the grace only the new one signs");
	free_secrets(got, n);
	check(cx_subscriptions_secrets(s, NULL, sub, now, &got, &n, &err) == -1 &&
	    err.code == 78, "secrets need CX_TOKEN_KEY (78)");
	check(cx_subscriptions_delete(s, sub, "tester", &err) == 0 &&
	    secrets_at(s, keys, sub, now, &got, &n) == 0 && n == 0,
	    "an unsubscribed subscription has no secret left");
	free_secrets(got, n);
	check(cx_subscriptions_delete(s, sub, "tester", &err) == -1 && err.code == 1,
	    "unsubscribing it again fails with 1");
	free(id);
	free(sub);
	cx_secret_free(key);
	cx_secret_free(first);
	cx_secret_free(second);
}

static void test_reseal(cx_store *s, const cx_tokenkeys *keys)
{
	cx_err err = { 0, "" };
	cx_tokenkeys *next = NULL;
	char *id = NULL, *key = NULL, *sub = NULL, *secret = NULL, **got = NULL;
	size_t n = 0;
	int64_t resealed = -1, now = cx_clock_now();

	check(cx_integrations_create(s, "acme", "generic", "Reseal", "trigger:lead", "tester",
	    &id, &key, &err) == 0 && cx_subscriptions_create(s, keys, id, "lead",
	    "https://hook.example/r", "cli", "tester", &sub, &secret, &err) == 0,
	    "a subscription with a secret");
	check(cx_tokenkeys_from_base64(NEXT_TOKEN_KEY, "the next key", &next, &err) == 0,
	    "a second token key loads");
	check(cx_store_begin(s, &err) == 0 &&
	    cx_subscriptions_reseal_all(s, keys, next, &resealed, &err) == 0 &&
	    cx_store_commit(s, &err) == 0 && resealed >= 1,
	    "reseal_all seals every stored secret under the new key");
	check(secrets_at(s, next, sub, now, &got, &n) == 0 && n == 1 &&
	    strcmp(got[0], secret) == 0, "the secret opens under the new key, unchanged");
	free_secrets(got, n);
	check(secrets_at(s, keys, sub, now, &got, &n) == -1 && n == 0,
	    "and no longer under the old one");
	check(cx_store_begin(s, &err) == 0 &&
	    cx_subscriptions_reseal_all(s, keys, next, &resealed, &err) == -1 &&
	    err.code == 78, "resealing from a key that does not open them is 78");
	cx_store_rollback(s);
	cx_tokenkeys_free(next);
	free(id);
	free(sub);
	cx_secret_free(key);
	cx_secret_free(secret);
}

static void test_validation(void)
{
	cx_err err = { 0, "" };

	check(cx_integrations_valid_scopes("action:create_lead trigger:calendar.event.created "
	    "trigger:email.received trigger:post.published", &err),
	    "scopes of the catalogue and SPEC §5 types are valid");
	check(!cx_integrations_valid_scopes("", &err) && err.code == 64, "no scope is an error");
	check(!cx_integrations_valid_scopes("action:drop_tables", &err),
	    "an action outside the catalogue is not a scope");
	check(!cx_integrations_valid_scopes("trigger:message.deleted", &err),
	    "a trigger for an unknown event type is not a scope");
	check(!cx_integrations_valid_scopes("admin", &err), "a bare word is not a scope");
	check(cx_subscriptions_valid_url("https://hooks.zapier.com/hooks/standard/1/abc", &err) &&
	    cx_subscriptions_valid_url("http://127.0.0.1:8080/x", &err) &&
	    cx_subscriptions_valid_url("http://[::1]:9/", &err), "http(s) URLs are valid");
	check(!cx_subscriptions_valid_url("ftp://example.com/", &err) &&
	    !cx_subscriptions_valid_url("https://user:pw@example.com/", &err) &&
	    !cx_subscriptions_valid_url("https:///path", &err) &&
	    !cx_subscriptions_valid_url("https://example.com:80a/", &err) &&
	    !cx_subscriptions_valid_url("https://exa mple.com/", &err) &&
	    !cx_subscriptions_valid_url("/relative", &err),
	    "other schemes, credentials, no host, a bad port, spaces are not");
}

int main(void)
{
	tmpstore t;
	cx_store *s;
	cx_tokenkeys *keys = NULL;
	cx_err err = { 0, "" };

	unsetenv("CX_NOW");
	s = tmpstore_open(&t, "integrations");
	check(cx_tokenkeys_from_base64(TEST_TOKEN_KEY, "the test key", &keys, &err) == 0,
	    "a token key loads");
	if (s && keys) {
		test_validation();
		test_keys(s);
		test_streak(s);
		test_secrets(s, keys);
		test_reseal(s, keys);
	}
	cx_tokenkeys_free(keys);
	tmpstore_close(&t);
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
