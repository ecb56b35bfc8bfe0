/* actions.c: the automation API's routes, its answers, and the actions
 * (POST /actions/<action>, POST /make/hooks/<integration_id>/<action>):
 * key, scope, limits, validation, idempotency and the inbox row of provider
 * "action", decided in the writer's transaction. Rate-limit buckets are
 * kept in this process (the writer's thread is the only one taking
 * tokens): they pace one server's callers without a write per call. */
#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accounts.h"
#include "actions.h"
#include "audit.h"
#include "clock.h"
#include "config.h"
#include "exit.h"
#include "idempotency.h"
#include "json.h"
#include "jsonschema.h"
#include "log.h"
#include "metrics.h"
#include "paths.h"
#include "ratelimit.h"
#include "tokencrypt.h"
#include "xalloc.h"

#define CATALOGUE_MAX 64
#define ACTION_NAME_MAX 64
#define IDEMPOTENCY_KEY_MAX 255

/* A token bucket of this process: tokens in thousandths, refilled at the
 * rate up to the burst, on the real monotonic clock. Only the writer's
 * thread takes tokens (actions_run), so no lock guards them. */
typedef struct bucket {
	char *key;
	int64_t millitokens, updated_ms;
	struct bucket *next;
} bucket;

#define NBUCKETS 1024

static struct {
	char *names[CATALOGUE_MAX];
	cx_jsonschema *schemas[CATALOGUE_MAX];
	size_t n;
	cx_ratelimit rate;
	int64_t quota, ttl, disable_after, disable_window;
	cx_tokenkeys *keys;     /* NULL: CX_TOKEN_KEY not set */
	bucket *buckets[NBUCKETS];
} cat;

const cx_tokenkeys *actions_token_keys(void)
{
	return cat.keys;
}

static int name_ok(const char *s, size_t n)
{
	if (n == 0 || n > ACTION_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_'))
			return 0;
	return 1;
}

/* Compiles share/cx/actions/<name>.json for each such file. */
static int load_catalogue(cx_err *err)
{
	char *dir = cx_paths_share("actions");
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;

	if (!d) {
		rc = cx_err_set(err, CX_EXIT_CONFIG, "cannot read the action catalogue %s", dir);
		free(dir);
		return rc;
	}
	while (rc == 0 && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		char *path;

		if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0 ||
		    !name_ok(e->d_name, n - 5))
			continue;
		if (cat.n == CATALOGUE_MAX) {
			rc = cx_err_set(err, CX_EXIT_CONFIG, "%s: more than %d actions", dir,
			    CATALOGUE_MAX);
			break;
		}
		path = cx_xasprintf("%s/%s", dir, e->d_name);
		cat.schemas[cat.n] = cx_jsonschema_load(path, err);
		free(path);
		if (!cat.schemas[cat.n]) {
			rc = -1;
			break;
		}
		cat.names[cat.n++] = cx_xstrndup(e->d_name, n - 5);
	}
	closedir(d);
	free(dir);
	return rc;
}

static int load_limits(cx_err *err)
{
	const char *rate = cx_config_get("CX_ACTIONS_RATE", "10,burst=20");

	if (cx_ratelimit_parse(rate, &cat.rate, err) < 0)
		return cx_err_set(err, CX_EXIT_CONFIG, "CX_ACTIONS_RATE: %s", err->msg);
	if (cx_config_int("CX_ACTIONS_DAILY_QUOTA", 10000, &cat.quota, err) < 0 ||
	    cx_config_int("CX_IDEMPOTENCY_TTL_SECONDS", 86400, &cat.ttl, err) < 0 ||
	    cx_config_int("CX_ACTIONS_DISABLE_AFTER", 50, &cat.disable_after, err) < 0 ||
	    cx_config_int("CX_ACTIONS_DISABLE_WINDOW", 3600, &cat.disable_window, err) < 0)
		return -1;
	if (cat.quota < 1 || cat.ttl < 1 || cat.disable_after < 1 || cat.disable_window < 1)
		return cx_err_set(err, CX_EXIT_CONFIG, "CX_ACTIONS_DAILY_QUOTA, "
		    "CX_IDEMPOTENCY_TTL_SECONDS, CX_ACTIONS_DISABLE_AFTER and "
		    "CX_ACTIONS_DISABLE_WINDOW must be at least 1");
	return 0;
}

int actions_open(cx_err *err)
{
	if (load_catalogue(err) < 0 || load_limits(err) < 0)
		return -1;
	if (cx_config_get("CX_TOKEN_KEY", NULL) || cx_config_get("CX_TOKEN_KEY_FILE", NULL))
		return cx_tokenkeys_load(&cat.keys, err);
	return 0;
}

void actions_close(void)
{
	for (size_t i = 0; i < cat.n; i++) {
		free(cat.names[i]);
		cx_jsonschema_free(cat.schemas[i]);
	}
	cat.n = 0;
	cx_tokenkeys_free(cat.keys);
	cat.keys = NULL;
	for (size_t i = 0; i < NBUCKETS; i++) {
		while (cat.buckets[i]) {
			bucket *next = cat.buckets[i]->next;

			free(cat.buckets[i]->key);
			free(cat.buckets[i]);
			cat.buckets[i] = next;
		}
	}
}

static size_t find_action(const char *name, size_t n)
{
	for (size_t i = 0; i < cat.n; i++)
		if (strlen(cat.names[i]) == n && memcmp(cat.names[i], name, n) == 0)
			return i;
	return cat.n;
}

/* ------------------------------------------------------------ answers */

void actions_answer_json(action_call *call, unsigned status, jv v)
{
	cx_buf b = { 0 };

	cx_json_append(&b, v);
	cx_buf_add(&b, "\n", 2);
	free(call->answer);
	call->answer = b.s;
	call->status = status;
}

static jv error_object(const char *code, const char *message, const char *path)
{
	jv e = jv_object_set(jv_object(), jv_string("code"), jv_string(code));

	e = jv_object_set(e, jv_string("message"), jv_string(message));
	if (path)
		e = jv_object_set(e, jv_string("path"), jv_string(path));
	return jv_object_set(jv_object_set(jv_object(), jv_string("ok"), jv_false()),
	    jv_string("error"), e);
}

void actions_answer_error(action_call *call, unsigned status, const char *code,
    const char *message, const char *path)
{
	actions_answer_json(call, status, error_object(code, message, path));
	call->code = code;
}

void actions_answer_verdict(action_call *call, const action_verdict *v)
{
	actions_answer_error(call, v->status, v->code, v->message,
	    v->has_path ? v->path : NULL);
}

void actions_verdict(action_verdict *v, unsigned status, const char *code,
    const char *message, const char *path)
{
	v->status = status;
	v->code = code;
	snprintf(v->message, sizeof v->message, "%s", message);
	v->has_path = path != NULL;
	snprintf(v->path, sizeof v->path, "%s", path ? path : "");
}

static enum MHD_Result send_answer(struct MHD_Connection *conn, unsigned status,
    const char *body, int64_t retry_after, int replayed)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body),
	    (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;
	char secs[24];

	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (retry_after > 0) {
		snprintf(secs, sizeof secs, "%lld", (long long)retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs);
	}
	if (replayed)
		MHD_add_response_header(resp, "Idempotent-Replayed", "true");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, POST, DELETE");
	rc = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned status,
    const char *code, const char *message, unsigned *sent)
{
	char *body = cx_json_dump(error_object(code, message, NULL));
	enum MHD_Result rc;

	body = cx_xrealloc(body, strlen(body) + 2);
	strcat(body, "\n");
	rc = send_answer(conn, status, body, 0, 0);
	free(body);
	*sent = status;
	return rc;
}

enum MHD_Result actions_reply(struct MHD_Connection *conn, const action_call *call,
    int failed, unsigned *status)
{
	if (failed)
		return reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "UNAVAILABLE", "the store is unavailable; try again later", status);
	*status = call->status;
	return send_answer(conn, call->status, call->answer, call->retry_after,
	    call->replayed);
}

/* ---------------------------------------------------- request thread */

int actions_route(const char *url)
{
	return strncmp(url, "/actions/", 9) == 0 || strncmp(url, "/make/hooks/", 12) == 0 ||
	    strcmp(url, "/hooks") == 0 || strncmp(url, "/hooks/", 7) == 0 ||
	    strncmp(url, "/triggers/", 10) == 0 || strcmp(url, "/integrations/me") == 0;
}

/* The last segment of rest (NULL when rest holds a '/' or is empty). */
static char *segment(const char *rest)
{
	return *rest && !strchr(rest, '/') && strlen(rest) <= 255 ? cx_xstrdup(rest) : NULL;
}

/* The route and its method: ROUTE_NONE with the early 404 or 405 when
 * neither fits. */
static void find_route(action_call *c, const char *method, const char *url)
{
	const char *want = "POST", *slash;

	c->route = ROUTE_NONE;
	if (strncmp(url, "/actions/", 9) == 0) {
		c->route = ROUTE_ACTION;
	} else if (strncmp(url, "/make/hooks/", 12) == 0 &&
	    (slash = strchr(url + 12, '/')) && slash > url + 12 && slash - url - 12 < 64) {
		c->route = ROUTE_ACTION;
		c->path_id = cx_xstrndup(url + 12, (size_t)(slash - url - 12));
		url = slash - 8;        /* so that url + 9 is the action */
	} else if (strcmp(url, "/integrations/me") == 0) {
		c->route = ROUTE_ME;
		want = "GET";
	} else if (strcmp(url, "/hooks") == 0) {
		c->route = ROUTE_HOOK_ADD;
	} else if (strncmp(url, "/hooks/", 7) == 0 && (c->path_id = segment(url + 7))) {
		c->route = ROUTE_HOOK_DELETE;
		want = "DELETE";
	} else if (strncmp(url, "/triggers/", 10) == 0 && (c->path_id = segment(url + 10))) {
		c->route = ROUTE_TRIGGERS;
		want = "GET";
	}
	if (c->route == ROUTE_ACTION) {
		size_t n = strlen(url + 9), i = find_action(url + 9, n);

		c->action = name_ok(url + 9, n) && i < cat.n ? cat.names[i] : NULL;
	}
	if (c->route == ROUTE_NONE)
		actions_verdict(&c->early, MHD_HTTP_NOT_FOUND, "NOT_FOUND", "no such route", NULL);
	else if (strcmp(method, want) != 0)
		actions_verdict(&c->early, MHD_HTTP_METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED",
		    "method not allowed on this route", NULL);
}

static const char *header(struct MHD_Connection *conn, const char *name)
{
	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* X-Api-Key, else Authorization: Bearer. */
static char *api_key(struct MHD_Connection *conn)
{
	const char *k = header(conn, "X-Api-Key"), *auth = header(conn, "Authorization");

	if (!k && auth && strncasecmp(auth, "Bearer ", 7) == 0)
		for (k = auth + 7; *k == ' '; k++)
			;
	return k && *k ? cx_xstrdup(k) : NULL;
}

static int printable(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > IDEMPOTENCY_KEY_MAX)
		return 0;
	for (; *s; s++)
		if (*s < 0x21 || *s > 0x7e)
			return 0;
	return 1;
}

/* The idempotency key (header, body, else the body's hash) and the
 * request's fingerprint (action and body). */
static void identify(action_call *c, struct MHD_Connection *conn, const char *body,
    size_t len)
{
	const char *given = header(conn, "Idempotency-Key"), *own;
	char hex[2 * CX_SHA256_LEN + 1];
	cx_buf b = { 0 };

	if (given && !printable(given)) {
		actions_verdict(&c->early, 422, "VALIDATION_FAILED",
		    "Idempotency-Key must be 1 to 255 printable ASCII characters", NULL);
		return;
	}
	own = cx_json_str(c->input, "idempotency_key");
	if (given || own) {
		c->idempotency_key = cx_xstrdup(given ? given : own);
	} else {
		cx_crypto_sha256_hex(body, len, hex);
		c->idempotency_key = cx_xstrdup(hex);
	}
	cx_buf_add(&b, c->action, strlen(c->action) + 1);   /* the NUL separates */
	cx_buf_add(&b, body, len);
	cx_crypto_sha256(b.s, b.len, c->fingerprint);
	free(b.s);
}

/* What an action call's body says before any state is read: 413, 404,
 * 422, else its input, idempotency key and fingerprint. */
static void begin_action(action_call *c, struct MHD_Connection *conn,
    const char *body, size_t len, int too_big)
{
	cx_jsonschema_error e;

	if (too_big) {
		actions_verdict(&c->early, MHD_HTTP_CONTENT_TOO_LARGE, "PAYLOAD_TOO_LARGE",
		    "the body is larger than the server accepts", NULL);
		return;
	}
	if (!c->action) {
		actions_verdict(&c->early, MHD_HTTP_NOT_FOUND, "UNKNOWN_ACTION",
		    "no such action in the catalogue", NULL);
		return;
	}
	if (cx_json_check(body, len) == CX_JSON_INVALID) {
		actions_verdict(&c->early, 422, "VALIDATION_FAILED", "the body is not JSON", NULL);
		return;
	}
	c->input = jv_parse_sized(body, (int)len);
	if (cx_jsonschema_validate(cat.schemas[find_action(c->action,
	    strlen(c->action))], c->input, &e) < 0) {
		actions_verdict(&c->early, 422, "VALIDATION_FAILED", e.message, e.path);
		return;
	}
	identify(c, conn, body, len);
	c->input = jv_object_delete(c->input, jv_string("idempotency_key"));
}

/* The headers kept with the inbox row. */
static char *kept_headers(struct MHD_Connection *conn)
{
	static const char *const names[] = { "Content-Type", "User-Agent", NULL };
	jv h = jv_object();

	for (const char *const *n = names; *n; n++) {
		const char *v = header(conn, *n);

		if (v)
			h = jv_object_set(h, jv_string(*n), jv_string(v));
	}
	return cx_json_dump(h);
}

action_call *actions_begin(struct MHD_Connection *conn, const char *method,
    const char *url, char *body, size_t len, int too_big)
{
	action_call *c = cx_xcalloc(1, sizeof *c);

	cx_inbox_new_correlation_id(c->correlation_id);
	cx_crypto_random_id("act_", 12, c->action_id, sizeof c->action_id);
	c->input = jv_invalid();
	c->body = body;
	c->len = len;
	find_route(c, method, url);
	if (c->early.status == MHD_HTTP_NOT_FOUND || c->early.status ==
	    MHD_HTTP_METHOD_NOT_ALLOWED) {
		actions_answer_verdict(c, &c->early);
		return c;
	}
	c->key = api_key(conn);
	if (c->route == ROUTE_ACTION) {
		begin_action(c, conn, body ? body : "", len, too_big);
		c->headers = kept_headers(conn);
	} else if (too_big) {
		actions_verdict(&c->early, MHD_HTTP_CONTENT_TOO_LARGE, "PAYLOAD_TOO_LARGE",
		    "the body is larger than the server accepts", NULL);
	} else {
		hooks_begin(c, conn);
	}
	return c;
}

void actions_free(action_call *c)
{
	if (!c)
		return;
	if (c->key) {
		cx_crypto_wipe(c->key, strlen(c->key));
		free(c->key);
	}
	free(c->path_id);
	free(c->body);
	jv_free(c->input);
	free(c->idempotency_key);
	free(c->headers);
	free(c->answer);
	free(c->inbox_body);
	free(c);
}

/* ------------------------------------------------------ writer thread */

/* The calling integration: 1 (in filled, active), 0 answered 401 or 403,
 * -1 store failure. */
static int authenticate(action_call *c, cx_store *s, cx_integration *in, cx_err *err)
{
	int rc = c->key ? cx_integrations_authenticate_in(s, c->key, cx_clock_now(),
	    in, err) : 0;

	if (rc < 0)
		return -1;
	if (rc == 0 || strcmp(in->state, "revoked") == 0 ||
	    (c->route == ROUTE_ACTION && c->path_id && strcmp(c->path_id, in->id) != 0)) {
		actions_answer_error(c, MHD_HTTP_UNAUTHORIZED, "UNAUTHORIZED",
		    "missing or invalid API key", NULL);
		return 0;
	}
	if (strcmp(in->state, "active") != 0) {
		actions_answer_error(c, MHD_HTTP_FORBIDDEN, "FORBIDDEN",
		    "the integration is disabled", NULL);
		return 0;
	}
	return 1;
}

/* The bucket of key, made full when new. */
static bucket *find_bucket(const char *key, int64_t now_ms)
{
	uint32_t h = 2166136261u;
	bucket *b;

	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	for (b = cat.buckets[h % NBUCKETS]; b; b = b->next)
		if (strcmp(b->key, key) == 0)
			return b;
	b = cx_xcalloc(1, sizeof *b);
	b->key = cx_xstrdup(key);
	b->millitokens = (int64_t)llround(cat.rate.burst * 1000);
	b->updated_ms = now_ms;
	b->next = cat.buckets[h % NBUCKETS];
	cat.buckets[h % NBUCKETS] = b;
	return b;
}

/* Takes a token from bucket key: 1, or 0 with *wait_ms till the next. */
static int take_token(const char *key, int64_t now_ms, int64_t *wait_ms)
{
	bucket *b = find_bucket(key, now_ms);
	int64_t burst = (int64_t)llround(cat.rate.burst * 1000);

	if (now_ms > b->updated_ms)
		b->millitokens += (int64_t)llround((double)(now_ms - b->updated_ms) * cat.rate.rate);
	if (b->millitokens > burst)
		b->millitokens = burst;
	b->updated_ms = now_ms;
	if (b->millitokens >= 1000) {
		b->millitokens -= 1000;
		return 1;
	}
	*wait_ms = (int64_t)ceil((double)(1000 - b->millitokens) / cat.rate.rate);
	return 0;
}

/* Takes a token from the integration's, the tenant's and the tenant's
 * bucket for the action (kept in this process: a second serve on the
 * state file keeps its own): 1 granted, 0 answered 429. */
static int take_tokens(action_call *c, const cx_integration *in)
{
	const char *action = c->action ? c->action : "unknown";
	struct timespec ts;
	int64_t now_ms, wait_ms = 0;
	int granted = 1;
	char *keys[3];

	if (cat.rate.rate <= 0)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	keys[0] = cx_xasprintf("integration:%s", in->id);
	keys[1] = cx_xasprintf("tenant:%s", in->tenant);
	keys[2] = cx_xasprintf("tenant:%s:%s", in->tenant, action);
	for (int i = 0; i < 3 && granted; i++)
		granted = take_token(keys[i], now_ms, &wait_ms);
	for (int i = 0; i < 3; i++)
		free(keys[i]);
	if (!granted) {
		actions_answer_error(c, MHD_HTTP_TOO_MANY_REQUESTS, "RATE_LIMITED",
		    "too many calls; retry after the time Retry-After says", NULL);
		c->retry_after = wait_ms > 0 ? (wait_ms + 999) / 1000 : 1;
	}
	return granted;
}

/* An input naming a workspace must name one of the integration's tenant
 * (the accounts mapping of channel + workspace, as cx-approve decides):
 * 1 it does or names none, 0 answered 403, -1 store failure. */
static int own_workspace(action_call *c, cx_store *s, const cx_integration *in,
    cx_err *err)
{
	const char *ws = cx_json_str(c->input, "workspace");
	char *tenant;
	int same;

	if (!ws)
		return 1;
	if (!(tenant = cx_accounts_tenant(s, cx_json_str(c->input, "channel"), ws, err)))
		return -1;
	same = strcmp(tenant, in->tenant) == 0;
	free(tenant);
	if (!same)
		actions_answer_error(c, MHD_HTTP_FORBIDDEN, "FORBIDDEN",
		    "the workspace belongs to another tenant", NULL);
	return same;
}

/* An earlier call with this idempotency key: 1 answered (replayed, or 422
 * for another request), 0 none, -1 store failure. */
static int earlier_call(action_call *c, cx_store *s, const cx_integration *in,
    cx_err *err)
{
	unsigned char sha[CX_SHA256_LEN];
	char *response = NULL;
	int status = 0, rc;

	rc = cx_idempotency_find_in(s, in->id, c->idempotency_key,
	    cx_clock_now() - cat.ttl, sha, &status, &response, err);
	if (rc <= 0)
		return rc;
	if (cx_crypto_equal(sha, sizeof sha, c->fingerprint, sizeof c->fingerprint)) {
		free(c->answer);
		c->answer = response;
		c->status = (unsigned)status;
		c->replayed = 1;
		return 1;
	}
	free(response);
	actions_answer_error(c, 422, "IDEMPOTENCY_KEY_REUSED",
	    "this idempotency key was used for another request", NULL);
	return 1;
}

/* The tenant's daily quota: 1 within, 0 answered 429, -1 store failure. */
static int within_quota(action_call *c, cx_store *s, const cx_integration *in,
    int64_t now, cx_err *err)
{
	int64_t calls = 0;

	if (cx_idempotency_daily_calls_in(s, in->tenant, now / 86400, &calls, err) < 0)
		return -1;
	if (calls < cat.quota)
		return 1;
	actions_answer_error(c, MHD_HTTP_TOO_MANY_REQUESTS, "RATE_LIMITED",
	    "the tenant's daily quota of actions is used up", NULL);
	c->retry_after = 86400 - now % 86400;
	return 0;
}

/* The inbox row's body: what cx-parse turns into action.requested. */
static jv stored_body(const action_call *c, const cx_integration *in,
    const char *action_id)
{
	jv b = jv_object();

	b = jv_object_set(b, jv_string("integration_id"), jv_string(in->id));
	b = jv_object_set(b, jv_string("tenant"), jv_string(in->tenant));
	b = jv_object_set(b, jv_string("action"), jv_string(c->action));
	b = jv_object_set(b, jv_string("action_id"), jv_string(action_id));
	b = jv_object_set(b, jv_string("idempotency_key"), jv_string(c->idempotency_key));
	b = jv_object_set(b, jv_string("requested_at"), jv_number((double)c->received));
	return jv_object_set(b, jv_string("input"), jv_copy(c->input));
}

static int audit_accepted(action_call *c, cx_store *s, const cx_integration *in,
    const char *action_id, cx_err *err)
{
	char *actor = cx_xasprintf("integration:%s", in->id);
	jv detail = jv_object();
	cx_audit_entry e = { "action_accepted", actor, c->correlation_id, action_id,
		jv_null() };
	int rc;

	detail = jv_object_set(detail, jv_string("integration_id"), jv_string(in->id));
	detail = jv_object_set(detail, jv_string("action"), jv_string(c->action));
	e.detail = jv_object_set(detail, jv_string("action_id"), jv_string(action_id));
	rc = cx_audit_append(s, &e, err);
	free(actor);
	return rc;
}

/* Stores the action: the inbox row, its idempotency record, the day's
 * count and the audit row, then answers 202. */
static int accept_action(action_call *c, cx_store *s, const cx_integration *in, int64_t now,
    cx_err *err)
{
	const char *action_id = c->action_id;
	jv answer;

	c->received = now;
	c->inbox_body = cx_json_dump(stored_body(c, in, action_id));
	answer = jv_object_set(jv_object(), jv_string("ok"), jv_true());
	answer = jv_object_set(answer, jv_string("action_id"), jv_string(action_id));
	answer = jv_object_set(answer, jv_string("correlation_id"),
	    jv_string(c->correlation_id));
	answer = jv_object_set(answer, jv_string("status"), jv_string("accepted"));
	actions_answer_json(c, MHD_HTTP_ACCEPTED, answer);
	if (cx_inbox_add(s, "action", c->correlation_id, now, c->headers, c->inbox_body,
	    strlen(c->inbox_body), &c->inbox_id, err) < 0 ||
	    cx_idempotency_record_in(s, in->id, c->idempotency_key, c->fingerprint,
	    (int)c->status, c->answer, action_id, c->inbox_id, now, now - cat.ttl, err) < 0 ||
	    cx_idempotency_daily_count_in(s, in->tenant, now / 86400, err) < 0)
		return -1;
	return audit_accepted(c, s, in, action_id, err);
}

/* The checks of an action in order, each answering when it refuses. */
static int run_action(action_call *c, cx_store *s, const cx_integration *in,
    cx_err *err)
{
	int64_t now = cx_clock_now();
	char *scope;
	int rc, allowed;

	if (!take_tokens(c, in))
		return 0;
	if (c->early.status && c->early.status != 422) {
		actions_answer_verdict(c, &c->early);
		return 0;
	}
	scope = cx_xasprintf("action:%s", c->action);
	allowed = cx_integrations_has_scope(in, scope);
	free(scope);
	if (!allowed) {
		actions_answer_error(c, MHD_HTTP_FORBIDDEN, "FORBIDDEN",
		    "the integration's scopes do not allow this action", NULL);
		return 0;
	}
	if (c->early.status) {
		actions_answer_verdict(c, &c->early);
		return 0;
	}
	if ((rc = own_workspace(c, s, in, err)) <= 0 ||
	    (rc = earlier_call(c, s, in, err)) != 0 ||
	    (rc = within_quota(c, s, in, now, err)) <= 0)
		return rc < 0 ? -1 : 0;
	return accept_action(c, s, in, now, err);
}

char *actions_result_labels(const action_call *c)
{
	char result[32] = "accepted";

	if (c->route != ROUTE_ACTION)
		return NULL;
	if (c->replayed) {
		snprintf(result, sizeof result, "replayed");
	} else if (c->code) {
		size_t i = 0;

		for (; c->code[i] && i < sizeof result - 1; i++)
			result[i] = (char)tolower((unsigned char)c->code[i]);
		result[i] = '\0';
	}
	return cx_metrics_labels("action", c->action ? c->action : "unknown",
	    "result", result, NULL);
}

/* What the answer tells the integration's refused-call streak. */
static int settle(action_call *c, cx_store *s, const cx_integration *in, cx_err *err)
{
	int64_t now = cx_clock_now();
	int disabled = 0;

	if (c->status < 300)
		return cx_integrations_accepted_in(s, in->id, now, err);
	if (c->status != 403 && c->status != 404 && c->status != 422 && c->status != 429)
		return 0;
	if (cx_integrations_rejected_in(s, in->id, now, cat.disable_after,
	    cat.disable_window, &disabled, err) < 0)
		return -1;
	if (disabled)
		cx_log(CX_LOG_WARN, jv_object_set(jv_object(), jv_string("integration_id"),
		    jv_string(in->id)), "integration disabled after %lld refused calls",
		    (long long)cat.disable_after);
	return 0;
}

int actions_run(action_call *c, cx_store *s, cx_err *err)
{
	cx_integration in = { .id = "" };
	int rc = authenticate(c, s, &in, err);
	int known = rc == 1;

	if (rc == 1 && c->early.status == MHD_HTTP_CONTENT_TOO_LARGE) {
		actions_answer_verdict(c, &c->early);
		rc = 0;
	} else if (rc == 1) {
		rc = c->route == ROUTE_ACTION ? run_action(c, s, &in, err) :
		    hooks_run(c, s, &in, err);
	}
	if (rc >= 0 && known)
		rc = settle(c, s, &in, err);
	cx_integration_free(&in);
	return rc < 0 ? -1 : 0;
}

int actions_stored(const action_call *c)
{
	return c->inbox_id != 0;
}

char *actions_stdout_line(const action_call *c)
{
	char ts[CX_RFC3339_LEN];

	if (!c->inbox_id)
		return NULL;
	cx_clock_rfc3339(c->received, -1, ts);
	return cx_inbox_line(c->inbox_id, "action", c->correlation_id, ts, c->headers,
	    c->inbox_body, strlen(c->inbox_body));
}
