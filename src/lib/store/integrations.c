/* integrations.c: the integrations table and their API keys (migration
 * 008). A key is made here, shown once by the caller and kept only as its
 * SHA-256; authentication finds the key row by its key_id and compares
 * hashes in constant time. Changes made for a person check the role
 * (owners and admins; anyone on a state file with no operators yet) and
 * are audited and counted in their own transaction; the _in calls of
 * cx-ingest serve join the caller's. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "exit.h"
#include "inbox.h"
#include "integrations.h"
#include "integrationchange.h"
#include "paths.h"
#include "subscriptions.h"
#include "tenants.h"
#include "utf8.h"
#include "xalloc.h"

#define KEY_PREFIX "cxk_"
#define KEY_ID_HEX 16
#define KEY_SECRET_BYTES 32
#define KEY_SECRET_CHARS 43     /* base64url of 32 bytes, unpadded */
#define KEY_LEN (4 + KEY_ID_HEX + 1 + KEY_SECRET_CHARS)
#define NAME_MAX_LEN 128

static const char *const kinds[] = { "zapier", "make", "generic", NULL };

void cx_integration_free(cx_integration *in)
{
	free(in->tenant);
	free(in->kind);
	free(in->name);
	free(in->scopes);
	free(in->state);
	memset(in, 0, sizeof *in);
}

int cx_integrations_valid_kind(const char *kind, cx_err *err)
{
	for (const char *const *k = kinds; kind && *k; k++)
		if (strcmp(kind, *k) == 0)
			return 1;
	cx_err_set(err, CX_EXIT_USAGE, "'%s' is not an integration kind (zapier, make or "
	    "generic)", kind ? kind : "");
	return 0;
}

/* Whether share/cx/actions/<name>.json exists: the catalogue serve
 * validates actions with is the only list of them. */
static int catalogued(const char *name)
{
	char *dir, *path;
	int ok;

	if (!*name || strlen(name) > 64 || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") !=
	    strlen(name))
		return 0;
	dir = cx_paths_share("actions");
	path = cx_xasprintf("%s/%s.json", dir, name);
	ok = access(path, R_OK) == 0;
	free(path);
	free(dir);
	return ok;
}

static int valid_scope(const char *scope, size_t n, cx_err *err)
{
	char *word = cx_xstrndup(scope, n);
	int ok = 0;

	if (strncmp(word, "action:", 7) == 0) {
		ok = catalogued(word + 7);
		if (!ok)
			cx_err_set(err, CX_EXIT_USAGE, "'%.64s' is not a scope: no such action "
			    "in the catalogue (share/cx/actions/<name>.json)", word);
	} else if (strncmp(word, "trigger:", 8) == 0) {
		ok = cx_subscriptions_valid_event(word + 8, err);
		if (!ok)
			cx_err_set(err, CX_EXIT_USAGE, "'%.64s' is not a scope: trigger: names an "
			    "event type (message, lead, calendar.event.created, ...)", word);
	} else {
		cx_err_set(err, CX_EXIT_USAGE, "'%.64s' is not a scope (action:<name> or "
		    "trigger:<event type>)", word);
	}
	free(word);
	return ok;
}

int cx_integrations_valid_scopes(const char *scopes, cx_err *err)
{
	const char *p = scopes ? scopes : "";
	int any = 0;

	for (;;) {
		size_t n;

		p += strspn(p, " ");
		if (!*p)
			break;
		n = strcspn(p, " ");
		if (!valid_scope(p, n, err))
			return 0;
		any = 1;
		p += n;
	}
	if (!any)
		cx_err_set(err, CX_EXIT_USAGE, "an integration needs scopes (action:<name> "
		    "and trigger:<event type>, space-separated)");
	return any;
}

/* Whether the space-separated scopes hold the n bytes of word. */
static int scope_in(const char *scopes, const char *word, size_t len)
{
	const char *p = scopes ? scopes : "";

	while (*(p += strspn(p, " "))) {
		size_t n = strcspn(p, " ");

		if (n == len && len > 0 && strncmp(p, word, n) == 0)
			return 1;
		p += n;
	}
	return 0;
}

int cx_integrations_has_scope(const cx_integration *in, const char *scope)
{
	return scope_in(in->scopes, scope, strlen(scope));
}

/* scopes with single spaces and each scope once, in the order given. */
static char *scopes_normal(const char *scopes)
{
	char *out = cx_xmalloc(strlen(scopes) + 1);
	const char *p = scopes;
	size_t len = 0;

	out[0] = '\0';
	while (*(p += strspn(p, " "))) {
		size_t n = strcspn(p, " ");

		if (!scope_in(out, p, n)) {
			if (len)
				out[len++] = ' ';
			memcpy(out + len, p, n);
			out[len += n] = '\0';
		}
		p += n;
	}
	return out;
}

static int valid_name(const char *name, cx_err *err)
{
	size_t n = name ? strlen(name) : 0;

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			n = 0;
	if (n >= 1 && n <= NAME_MAX_LEN && cx_utf8_valid(name, n))
		return 1;
	cx_err_set(err, CX_EXIT_USAGE, "an integration name is 1 to %d bytes of UTF-8 "
	    "text, no control characters", NAME_MAX_LEN);
	return 0;
}

static const char sql_add_key[] =
    "INSERT INTO integration_keys (key_id, integration_id, key_sha256, created_at)"
    " VALUES (?1, ?2, ?3, ?4)";

/* A new key for id made at now: its row, its text in *api_key and its id
 * in key_id. */
static int add_key(cx_store *s, const char *id, int64_t now, char **api_key,
    char key_id[KEY_ID_HEX + 1], cx_err *err)
{
	unsigned char secret[KEY_SECRET_BYTES], hash[CX_SHA256_LEN];
	cx_stmt *st = cx_store_prepare(s, sql_add_key, err);
	char *b64;
	int rc;

	*api_key = NULL;
	if (!st || cx_integration_random_hex("", key_id, KEY_ID_HEX + 1, err) < 0)
		return -1;
	if (cx_crypto_random(secret, sizeof secret) < 0)
		return cx_err_set(err, CX_EXIT_TEMPFAIL, "no random bytes for an API key");
	b64 = cx_crypto_base64url(secret, sizeof secret);
	cx_crypto_wipe(secret, sizeof secret);
	*api_key = cx_xasprintf(KEY_PREFIX "%s_%s", key_id, b64);
	cx_secret_free(b64);
	cx_crypto_sha256(*api_key, strlen(*api_key), hash);
	cx_stmt_text(st, 1, key_id);
	cx_stmt_text(st, 2, id);
	cx_stmt_blob(st, 3, hash, sizeof hash);
	cx_stmt_int(st, 4, now);
	if ((rc = cx_stmt_run(st, err)) < 0) {
		cx_secret_free(*api_key);
		*api_key = NULL;
	}
	return rc;
}

static const char sql_create[] =
    "INSERT INTO integrations (id, tenant, kind, name, scopes, created_at, updated_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)";

static jv integration_detail(const char *id, const char *tenant)
{
	jv d = jv_object_set(jv_object(), jv_string("integration_id"), jv_string(id));

	return jv_object_set(d, jv_string("tenant"), jv_string(tenant));
}

static int create_in(cx_store *s, const char *id, const char *tenant,
    const char *kind, const char *name, const char *scopes, const char *actor,
    char **api_key, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_create, err);
	char key_id[KEY_ID_HEX + 1], cid[CX_CORRELATION_ID_LEN];
	int64_t now = cx_clock_now();
	jv d;

	if (!st)
		return -1;
	cx_stmt_text(st, 1, id);
	cx_stmt_text(st, 2, tenant);
	cx_stmt_text(st, 3, kind);
	cx_stmt_text(st, 4, name);
	cx_stmt_text(st, 5, scopes);
	cx_stmt_int(st, 6, now);
	if (cx_stmt_run(st, err) < 0 || add_key(s, id, now, api_key, key_id, err) < 0)
		return -1;
	d = integration_detail(id, tenant);
	d = jv_object_set(d, jv_string("kind"), jv_string(kind));
	d = jv_object_set(d, jv_string("name"), jv_string(name));
	d = jv_object_set(d, jv_string("scopes"), jv_string(scopes));
	d = jv_object_set(d, jv_string("key_id"), jv_string(key_id));
	cx_inbox_new_correlation_id(cid);
	return cx_integration_change_record(s, "integration_created", "created", id, actor, cid,
	    d, err);
}

int cx_integrations_create(cx_store *s, const char *tenant, const char *kind,
    const char *name, const char *scopes, const char *actor, char **id,
    char **api_key, cx_err *err)
{
	char nid[CX_INTEGRATION_ID_LEN], *normal;
	int rc;

	*id = *api_key = NULL;
	if (!cx_tenants_valid_name(tenant, err) || !cx_integrations_valid_kind(kind, err) ||
	    !valid_name(name, err) || !cx_integrations_valid_scopes(scopes, err))
		return -1;
	if (cx_integration_random_hex("int_", nid, sizeof nid, err) < 0 ||
	    cx_integration_change_begin(s, actor, "create integrations", tenant, err) < 0)
		return -1;
	normal = scopes_normal(scopes);
	rc = create_in(s, nid, tenant, kind, name, normal, actor, api_key, err);
	free(normal);
	if (cx_integration_change_end(s, rc, err) < 0) {
		cx_secret_free(*api_key);
		*api_key = NULL;
		return -1;
	}
	*id = cx_xstrdup(nid);
	return 0;
}

static const char sql_get[] =
    "SELECT id, tenant, kind, name, scopes, state FROM integrations WHERE id = ?1";

static void integration_of(cx_stmt *st, int first, cx_integration *out)
{
	snprintf(out->id, sizeof out->id, "%s", cx_stmt_col_text(st, first));
	out->tenant = cx_stmt_col_dup(st, first + 1);
	out->kind = cx_stmt_col_dup(st, first + 2);
	out->name = cx_stmt_col_dup(st, first + 3);
	out->scopes = cx_stmt_col_dup(st, first + 4);
	out->state = cx_stmt_col_dup(st, first + 5);
}

int cx_integrations_get(cx_store *s, const char *id, cx_integration *out,
    cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_get, err);
	int rc;

	memset(out, 0, sizeof *out);
	if (!st)
		return -1;
	cx_stmt_text(st, 1, id);
	if ((rc = cx_stmt_step(st, err)) == 1)
		integration_of(st, 0, out);
	cx_stmt_reset(st);
	return rc;
}

/* The integration id names, into out: -1 with err (CX_EXIT_SOME_FAILED)
 * when there is none. */
static int must_get(cx_store *s, const char *id, cx_integration *out, cx_err *err)
{
	int rc = cx_integrations_get(s, id, out, err);

	if (rc == 0)
		cx_err_set(err, CX_EXIT_SOME_FAILED, "no integration %.64s", id);
	return rc == 1 ? 0 : -1;
}

/* Every unexpired key of id expires at when, unless it expires sooner. */
static const char sql_expire_keys[] =
    "UPDATE integration_keys SET expires_at = ?3 WHERE integration_id = ?1"
    " AND (expires_at IS NULL OR expires_at > ?3) AND (expires_at IS NULL"
    " OR expires_at > ?2)";

static int expire_keys(cx_store *s, const char *id, int64_t now, int64_t when,
    cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_expire_keys, err);

	if (!st)
		return -1;
	cx_stmt_text(st, 1, id);
	cx_stmt_int(st, 2, now);
	cx_stmt_int(st, 3, when);
	return cx_stmt_run(st, err);
}

static int rotate_in(cx_store *s, const cx_integration *in, int64_t now,
    int64_t grace, const char *actor, char **api_key, cx_err *err)
{
	char key_id[KEY_ID_HEX + 1], cid[CX_CORRELATION_ID_LEN];
	jv d;

	if (strcmp(in->state, "revoked") == 0)
		return cx_err_set(err, CX_EXIT_SOME_FAILED, "integration %s is revoked; "
		    "create a new one", in->id);
	if (expire_keys(s, in->id, now, now + grace, err) < 0 ||
	    add_key(s, in->id, now, api_key, key_id, err) < 0)
		return -1;
	d = integration_detail(in->id, in->tenant);
	d = jv_object_set(d, jv_string("key_id"), jv_string(key_id));
	d = jv_object_set(d, jv_string("grace_seconds"), jv_number((double)grace));
	cx_inbox_new_correlation_id(cid);
	return cx_integration_change_record(s, "integration_key_rotated", "rotated", in->id,
	    actor, cid, d, err);
}

int cx_integrations_rotate_at(cx_store *s, const char *id, int64_t now,
    int64_t grace, const char *actor, char **api_key, cx_err *err)
{
	cx_integration in;
	int rc;

	*api_key = NULL;
	if (grace < 0)
		return cx_err_set(err, CX_EXIT_USAGE, "a grace is seconds, 0 or more");
	if (cx_integration_change_begin(s, actor, "rotate integration keys", id, err) < 0)
		return -1;
	rc = must_get(s, id, &in, err);
	if (rc == 0)
		rc = rotate_in(s, &in, now, grace, actor, api_key, err);
	cx_integration_free(&in);
	if (cx_integration_change_end(s, rc, err) < 0) {
		cx_secret_free(*api_key);
		*api_key = NULL;
		return -1;
	}
	return 0;
}

int cx_integrations_rotate(cx_store *s, const char *id, int64_t grace,
    const char *actor, char **api_key, cx_err *err)
{
	return cx_integrations_rotate_at(s, id, cx_clock_now(), grace, actor, api_key, err);
}

static const char sql_set_state[] =
    "UPDATE integrations SET state = ?2, state_reason = ?3, rejected_streak = 0,"
    " rejected_since = NULL, updated_at = ?4 WHERE id = ?1";

static int set_state(cx_store *s, const char *id, const char *state,
    const char *reason, int64_t now, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_set_state, err);

	if (!st)
		return -1;
	cx_stmt_text(st, 1, id);
	cx_stmt_text(st, 2, state);
	cx_stmt_text(st, 3, reason);
	cx_stmt_int(st, 4, now);
	return cx_stmt_run(st, err);
}

static int revoke_in(cx_store *s, const cx_integration *in, const char *actor,
    cx_err *err)
{
	char cid[CX_CORRELATION_ID_LEN];
	int64_t now = cx_clock_now();
	jv subs = jv_array(), d;

	if (strcmp(in->state, "revoked") == 0)
		return 0;
	cx_inbox_new_correlation_id(cid);
	if (set_state(s, in->id, "revoked", "revoked", now, err) < 0 ||
	    expire_keys(s, in->id, now, now, err) < 0 ||
	    cx_subscriptions_disable_all_in(s, in->id, "integration revoked", actor, cid,
	    &subs, err) < 0) {
		jv_free(subs);
		return -1;
	}
	d = integration_detail(in->id, in->tenant);
	d = jv_object_set(d, jv_string("subscriptions_disabled"), subs);
	return cx_integration_change_record(s, "integration_revoked", "revoked", in->id, actor,
	    cid, d, err);
}

int cx_integrations_revoke(cx_store *s, const char *id, const char *actor,
    cx_err *err)
{
	cx_integration in;
	int rc;

	if (cx_integration_change_begin(s, actor, "revoke integrations", id, err) < 0)
		return -1;
	if ((rc = must_get(s, id, &in, err)) == 0)
		rc = revoke_in(s, &in, actor, err);
	cx_integration_free(&in);
	return cx_integration_change_end(s, rc, err);
}

static int enable_in(cx_store *s, const cx_integration *in, const char *actor,
    cx_err *err)
{
	char cid[CX_CORRELATION_ID_LEN];

	if (strcmp(in->state, "revoked") == 0)
		return cx_err_set(err, CX_EXIT_USAGE, "integration %s is revoked for good; "
		    "create a new one", in->id);
	if (strcmp(in->state, "active") == 0)
		return 0;
	cx_inbox_new_correlation_id(cid);
	if (set_state(s, in->id, "active", NULL, cx_clock_now(), err) < 0)
		return -1;
	return cx_integration_change_record(s, "integration_enabled", "enabled", in->id, actor,
	    cid, integration_detail(in->id, in->tenant), err);
}

int cx_integrations_enable(cx_store *s, const char *id, const char *actor,
    cx_err *err)
{
	cx_integration in;
	int rc;

	if (cx_integration_change_begin(s, actor, "enable integrations", id, err) < 0)
		return -1;
	if ((rc = must_get(s, id, &in, err)) == 0)
		rc = enable_in(s, &in, actor, err);
	cx_integration_free(&in);
	return cx_integration_change_end(s, rc, err);
}

static const char sql_list[] =
    "SELECT i.id, i.tenant, i.kind, i.name, i.scopes, i.state, i.state_reason,"
    " i.created_at, i.last_used_at, max(k.created_at),"
    " count(k.key_id) FILTER (WHERE k.expires_at IS NULL OR k.expires_at > ?2)"
    " FROM integrations i LEFT JOIN integration_keys k ON k.integration_id = i.id"
    " WHERE ?1 IS NULL OR i.tenant = ?1 GROUP BY i.id ORDER BY i.id";

/* "a b c" as ["a","b","c"]. */
static jv scopes_jv(const char *scopes)
{
	jv out = jv_array();
	const char *p = scopes ? scopes : "";

	while (*(p += strspn(p, " "))) {
		size_t n = strcspn(p, " ");

		out = jv_array_append(out, jv_string_sized(p, (int)n));
		p += n;
	}
	return out;
}

static jv list_row(cx_stmt *st, int64_t now)
{
	jv row = jv_object_set(jv_object(), jv_string("integration_id"), cx_stmt_col_jv(st, 0));

	row = jv_object_set(row, jv_string("tenant"), cx_stmt_col_jv(st, 1));
	row = jv_object_set(row, jv_string("kind"), cx_stmt_col_jv(st, 2));
	row = jv_object_set(row, jv_string("name"), cx_stmt_col_jv(st, 3));
	row = jv_object_set(row, jv_string("scopes"), scopes_jv(cx_stmt_col_text(st, 4)));
	row = jv_object_set(row, jv_string("state"), cx_stmt_col_jv(st, 5));
	row = jv_object_set(row, jv_string("state_reason"), cx_stmt_col_jv(st, 6));
	row = jv_object_set(row, jv_string("created_at"), cx_stmt_col_time(st, 7));
	row = jv_object_set(row, jv_string("last_used_at"), cx_stmt_col_time(st, 8));
	row = jv_object_set(row, jv_string("key_created_at"), cx_stmt_col_time(st, 9));
	row = jv_object_set(row, jv_string("key_age_seconds"), cx_stmt_col_is_null(st, 9) ?
	    jv_null() : jv_number((double)(now - cx_stmt_col_int(st, 9))));
	return jv_object_set(row, jv_string("keys_active"),
	    jv_number((double)cx_stmt_col_int(st, 10)));
}

int cx_integrations_list(cx_store *s, const char *tenant,
    void (*each)(jv row, void *ctx), void *ctx, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_list, err);
	int64_t now = cx_clock_now();
	int rc;

	if (!st)
		return -1;
	cx_stmt_text(st, 1, tenant);
	cx_stmt_int(st, 2, now);
	while ((rc = cx_stmt_step(st, err)) == 1)
		each(list_row(st, now), ctx);
	cx_stmt_reset(st);
	return rc;
}

static const char sql_authenticate[] =
    "SELECT k.key_sha256, i.id, i.tenant, i.kind, i.name, i.scopes, i.state"
    " FROM integration_keys k JOIN integrations i ON i.id = k.integration_id"
    " WHERE k.key_id = ?1 AND (k.expires_at IS NULL OR k.expires_at > ?2)";

/* Whether key has the shape "cxk_<16 hex>_<43 base64url>". */
static int key_shaped(const char *key)
{
	static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_";

	return key && strlen(key) == KEY_LEN && strncmp(key, KEY_PREFIX, 4) == 0 &&
	    strspn(key + 4, "0123456789abcdef") == KEY_ID_HEX && key[4 + KEY_ID_HEX] == '_' &&
	    strspn(key + 5 + KEY_ID_HEX, b64url) == KEY_SECRET_CHARS;
}

int cx_integrations_authenticate_in(cx_store *s, const char *api_key,
    int64_t now, cx_integration *out, cx_err *err)
{
	unsigned char hash[CX_SHA256_LEN];
	char key_id[KEY_ID_HEX + 1];
	const void *stored;
	size_t len = 0;
	cx_stmt *st;
	int rc;

	memset(out, 0, sizeof *out);
	if (!key_shaped(api_key))
		return 0;
	if (!(st = cx_store_prepare(s, sql_authenticate, err)))
		return -1;
	memcpy(key_id, api_key + 4, KEY_ID_HEX);
	key_id[KEY_ID_HEX] = '\0';
	cx_crypto_sha256(api_key, KEY_LEN, hash);
	cx_stmt_text(st, 1, key_id);
	cx_stmt_int(st, 2, now);
	if ((rc = cx_stmt_step(st, err)) == 1) {
		stored = cx_stmt_col_blob(st, 0, &len);
		rc = stored && cx_crypto_equal(stored, len, hash, sizeof hash);
		if (rc)
			integration_of(st, 1, out);
	}
	cx_stmt_reset(st);
	cx_crypto_wipe(hash, sizeof hash);
	return rc;
}

static const char sql_accepted[] =
    "UPDATE integrations SET last_used_at = ?2, rejected_streak = 0,"
    " rejected_since = NULL WHERE id = ?1";

int cx_integrations_accepted_in(cx_store *s, const char *id, int64_t now,
    cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_accepted, err);

	if (!st)
		return -1;
	cx_stmt_text(st, 1, id);
	cx_stmt_int(st, 2, now);
	return cx_stmt_run(st, err);
}

/* One more refused call; a streak whose first refusal is window seconds
 * old or more starts again at this one. */
static const char sql_rejected[] =
    "UPDATE integrations SET"
    " rejected_streak = CASE WHEN rejected_since IS NULL OR rejected_since <= ?2 - ?3"
    "  THEN 1 ELSE rejected_streak + 1 END,"
    " rejected_since = CASE WHEN rejected_since IS NULL OR rejected_since <= ?2 - ?3"
    "  THEN ?2 ELSE rejected_since END"
    " WHERE id = ?1 RETURNING rejected_streak, state, tenant";

int cx_integrations_rejected_in(cx_store *s, const char *id, int64_t now,
    int64_t threshold, int64_t window, int *disabled, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_rejected, err);
	int64_t streak = 0;
	char *reason, *tenant = NULL, cid[CX_CORRELATION_ID_LEN];
	int rc, active = 0;
	jv d;

	*disabled = 0;
	if (!st)
		return -1;
	cx_stmt_text(st, 1, id);
	cx_stmt_int(st, 2, now);
	cx_stmt_int(st, 3, window);
	if ((rc = cx_stmt_step(st, err)) == 1) {
		streak = cx_stmt_col_int(st, 0);
		active = strcmp(cx_stmt_col_text(st, 1), "active") == 0;
		tenant = cx_stmt_col_dup(st, 2);
	}
	cx_stmt_reset(st);
	if (rc < 0 || !active || streak < threshold) {
		free(tenant);
		return rc < 0 ? -1 : 0;
	}
	cx_inbox_new_correlation_id(cid);
	reason = cx_xasprintf("%lld refused calls in a row within %lld s",
	    (long long)streak, (long long)window);
	d = integration_detail(id, tenant);
	d = jv_object_set(d, jv_string("reason"), jv_string(reason));
	rc = set_state(s, id, "disabled", reason, now, err);
	if (rc == 0)
		rc = cx_integration_change_record(s, "integration_disabled", "disabled", id, "cx",
		    cid, d, err);
	else
		jv_free(d);
	*disabled = rc == 0;
	free(reason);
	free(tenant);
	return rc;
}
