/* oauth.c: the one OAuth flow every provider runs (who a provider is and
 * where its endpoints are: oauthprovider.c): authorization states, the
 * RFC 9207 issuer check, code exchange, identity, the sealed credential
 * store, the refresh under lock behind cx_oauth_token, revocation with
 * introspection.
 * HTTP calls never run inside a transaction: a refresh takes the lock row,
 * commits, calls the provider, then records the outcome (tokens, audit,
 * counter, lock release) in one transaction. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "audit.h"
#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "exit.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "oauth.h"
#include "oauthprovider.h"
#include "xalloc.h"

#define STATE_BYTES 32         /* 256 bits */
#define VERIFIER_BYTES 48      /* 64 base64url characters */
#define STATE_KEEP_SECONDS 86400
#define JWT_LIFETIME 3600
#define POLL_MIN_MS 20
#define POLL_JITTER_MS 40

static char *required_scopes(const cx_oauth_provider *p)
{
	const char *r = cx_oauth_provider_setting(p, "REQUIRED_SCOPES");

	return cx_xstrdup(r ? r : p->preset->required_scopes);
}

static const char *default_scopes(const cx_oauth_provider *p)
{
	const char *d = cx_oauth_provider_setting(p, "SCOPES");

	return d ? d : p->preset->default_scopes;
}

typedef struct {
	const char *id;
	char *secret;
	char *basic_id, *basic_secret;   /* form-encoded for HTTP Basic */
} client;

/* The client's id and, unless it is a public client (auth none), its
 * secret. */
static int client_load(const cx_oauth_provider *p, client *c, cx_err *err)
{
	char name[96];
	int rc;

	memset(c, 0, sizeof *c);
	snprintf(name, sizeof name, "%s_CLIENT_ID", p->env);
	c->id = cx_config_get(name, NULL);
	if (!c->id)
		return cx_err_set(err, CX_EXIT_CONFIG, "config: %s is not set", name);
	if (p->auth == CX_OAUTH_AUTH_NONE)
		return 0;
	snprintf(name, sizeof name, "%s_CLIENT_SECRET", p->env);
	rc = cx_secret_get(name, &c->secret, err);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return cx_err_set(err, CX_EXIT_CONFIG, "config: %s (or %s_FILE) is not set",
		    name, name);
	/* RFC 6749 §2.3.1: both form-encoded before they are joined by ":" */
	c->basic_id = cx_http_escape(c->id);
	c->basic_secret = cx_http_escape(c->secret);
	return 0;
}

/* The client's secret in the form, for client_secret_post; NULL (left
 * out of the form) otherwise. */
static const char *form_secret(const cx_oauth_provider *p, const client *c)
{
	return p->auth == CX_OAUTH_AUTH_POST ? c->secret : NULL;
}

/* HTTP Basic for client_secret_basic. */
static void client_auth(const cx_oauth_provider *p, const client *c,
    cx_http_request *req)
{
	if (c && p->auth == CX_OAUTH_AUTH_BASIC) {
		req->basic_user = c->basic_id;
		req->basic_password = c->basic_secret;
	}
}

static void client_free(client *c)
{
	cx_secret_free(c->secret);
	free(c->basic_id);
	cx_secret_free(c->basic_secret);
	memset(c, 0, sizeof *c);
}

static int config_seconds(const char *name, int64_t def, int64_t *out, cx_err *err)
{
	if (cx_config_int(name, def, out, err) < 0)
		return -1;
	if (*out < 0)
		return cx_err_set(err, CX_EXIT_CONFIG, "config: %s must not be negative", name);
	return 0;
}

/* ---- small helpers --------------------------------------------------- */

const char *cx_oauth_reason(const cx_err *err, char buf[48])
{
	size_t n = 0;

	while (n < 47 && (islower((unsigned char)err->msg[n]) || err->msg[n] == '_'))
		n++;
	if (n == 0 || err->msg[n] != ':' || n >= 47)
		return "error";
	memcpy(buf, err->msg, n);
	buf[n] = '\0';
	return buf;
}

/* Scopes given with spaces or commas, as one space-separated string. */
static char *scopes_normalize(const char *in)
{
	jv out = jv_string("");
	const char *p = in;
	char *s;

	while (*p) {
		size_t n;

		p += strspn(p, " ,\t\n");
		n = strcspn(p, " ,\t\n");
		if (n == 0)
			break;
		if (jv_string_length_bytes(jv_copy(out)) > 0)
			out = jv_string_append_str(out, " ");
		out = jv_string_append_buf(out, p, (int)n);
		p += n;
	}
	s = cx_xstrdup(jv_string_value(out));
	jv_free(out);
	return s;
}

static char *scopes_join(const char *scopes, char sep)
{
	char *s = cx_xstrdup(scopes);

	for (char *p = s; *p; p++)
		if (*p == ' ')
			*p = sep;
	return s;
}

static int scope_has(const char *scopes, const char *one, size_t n)
{
	const char *p = scopes;

	while (*p) {
		size_t len;

		p += strspn(p, " ");
		len = strcspn(p, " ");
		if (len == n && strncmp(p, one, n) == 0)
			return 1;
		p += len;
	}
	return 0;
}

/* The scopes of required that granted lacks, space-separated ("" if none). */
static char *scopes_missing(const char *granted, const char *required)
{
	jv out = jv_string("");
	const char *p = required;
	char *s;

	while (*p) {
		size_t n;

		p += strspn(p, " ");
		n = strcspn(p, " ");
		if (n && !scope_has(granted, p, n)) {
			if (jv_string_length_bytes(jv_copy(out)) > 0)
				out = jv_string_append_str(out, " ");
			out = jv_string_append_buf(out, p, (int)n);
		}
		p += n;
	}
	s = cx_xstrdup(jv_string_value(out));
	jv_free(out);
	return s;
}

static jv scopes_array(const char *scopes)
{
	jv a = jv_array();
	const char *p = scopes ? scopes : "";

	while (*p) {
		size_t n;

		p += strspn(p, " ");
		n = strcspn(p, " ");
		if (n)
			a = jv_array_append(a, jv_string_sized(p, (int)n));
		p += n;
	}
	return a;
}

/* An error code from a provider's body, kept to a safe alphabet. */
static void upstream_code(const cx_http_response *r, char out[64])
{
	jv body = cx_http_json(r), e;
	const char *code = NULL;
	out[0] = '\0';
	if (jv_get_kind(body) != JV_KIND_OBJECT) {
		jv_free(body);
		return;
	}
	e = jv_object_get(jv_copy(body), jv_string("error"));
	if (jv_get_kind(e) == JV_KIND_STRING) {
		code = jv_string_value(e);
	} else if (jv_get_kind(e) == JV_KIND_OBJECT) {
		/* Graph API: {"error":{"type":"OAuthException","code":190}} */
		jv t = jv_object_get(jv_copy(e), jv_string("type"));
		jv c = jv_object_get(jv_copy(e), jv_string("code"));
		const char *type = jv_get_kind(t) == JV_KIND_STRING ? jv_string_value(t) : "error";

		if (jv_get_kind(c) == JV_KIND_NUMBER)
			snprintf(out, 64, "%s %.0f", type, jv_number_value(c));
		else
			snprintf(out, 64, "%s", type);
		jv_free(t);
		jv_free(c);
	}
	if (code)
		snprintf(out, 64, "%s", code);
	for (char *p = out; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-' &&
		    *p != ' ')
			*p = '?';
	jv_free(e);
	jv_free(body);
}

/* The string at key, copied; the jv's own copy is wiped (it may be a
 * token). NULL when absent or not a string. */
static char *take_secret(jv obj, const char *key)
{
	jv v = jv_object_get(jv_copy(obj), jv_string(key));
	char *out = NULL;

	if (jv_get_kind(v) == JV_KIND_STRING) {
		int len = jv_string_length_bytes(jv_copy(v));

		out = cx_xstrndup(jv_string_value(v), (size_t)len);
		cx_crypto_wipe((char *)jv_string_value(v), (size_t)len);
	}
	jv_free(v);
	return out;
}

static char *take_string(jv obj, const char *key)
{
	jv v = jv_object_get(jv_copy(obj), jv_string(key));
	char *out = NULL;

	if (jv_get_kind(v) == JV_KIND_STRING)
		out = cx_xstrdup(jv_string_value(v));
	else if (jv_get_kind(v) == JV_KIND_NUMBER)
		out = cx_xasprintf("%.0f", jv_number_value(v));
	jv_free(v);
	return out;
}

static char *subject_of(const char *provider, const char *workspace)
{
	return cx_xasprintf("%s:%s", provider, workspace);
}

static char *aad_of(const char *provider, const char *workspace, const char *field)
{
	return cx_xasprintf("cred:%s:%s:%s", provider, workspace, field);
}

/* Usernames that are e-mail addresses are masked in audit rows. */
static jv audit_username(const char *username)
{
	jv v;
	char *m;

	if (!username)
		return jv_null();
	if (!strchr(username, '@'))
		return jv_string(username);
	m = cx_log_mask_email(username);
	v = jv_string(m);
	free(m);
	return v;
}

static void owner_id(char out[48])
{
	unsigned char r[8];
	char hex[17];

	cx_crypto_random(r, sizeof r);
	cx_crypto_hex(r, sizeof r, hex);
	snprintf(out, 48, "%ld-%s", (long)getpid(), hex);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- HTTP with the provider ------------------------------------------ */

/* A transport failure (err already set by http) as a reasoned 75. */
static int transport_error(cx_err *err)
{
	char msg[sizeof err->msg];

	snprintf(msg, sizeof msg, "%s", err->msg);
	return cx_err_set(err, CX_EXIT_TEMPFAIL, "upstream_unreachable: %s", msg);
}

/* A non-2xx answer: 400/401 are refusals (77, reason refused); 429, 5xx and
 * the rest are temporary (75). */
static int upstream_error(const cx_http_response *r, const char *what,
    const char *refused, cx_err *err)
{
	char code[64];

	upstream_code(r, code);
	if (r->status == 400 || r->status == 401)
		return cx_err_set(err, CX_EXIT_NOPERM, "%s: %s answered HTTP %ld%s%s%s",
		    refused, what, r->status, code[0] ? " (" : "", code, code[0] ? ")" : "");
	return cx_err_set(err, CX_EXIT_TEMPFAIL,
	    "upstream_unavailable: %s answered HTTP %ld%s%s%s", what, r->status,
	    code[0] ? " (" : "", code, code[0] ? ")" : "");
}

/* A 2xx answer that is not JSON: not an OAuth server (a login page, a
 * proxy): 69, for the URL is wrong rather than the server busy. */
static int not_oauth(const cx_http_response *r, const char *what, cx_err *err)
{
	const char *type = cx_http_header(r, "content-type");
	char word[64];
	size_t n = 0;

	for (; type && type[n] && type[n] != ';' && n < sizeof word - 1; n++)
		word[n] = isgraph((unsigned char)type[n]) ? type[n] : '?';
	word[n] = '\0';
	return cx_err_set(err, CX_EXIT_UNAVAILABLE, "upstream_not_oauth: %s answered "
	    "HTTP %ld with %s, not a JSON object; is its URL right?", what, r->status,
	    n ? word : "no content type");
}

typedef struct {
	char *access, *refresh, *scope;
	int64_t expires_in;            /* < 0: not given */
	int rotated;                   /* the provider sent a new refresh token */
} grant;

static void grant_free(grant *g)
{
	cx_secret_free(g->access);
	cx_secret_free(g->refresh);
	free(g->scope);
	memset(g, 0, sizeof *g);
}

/* POSTs form to the token endpoint and reads a token response into g.
 * timeout_ms 0: http's default. */
static int token_call(const cx_oauth_provider *p, const client *c, const char *url,
    const char *form, const char *refused, long timeout_ms, grant *g, cx_err *err)
{
	cx_http_request req = { .url = url, .body = form, .body_len = strlen(form),
		.content_type = CX_HTTP_FORM, .timeout_ms = timeout_ms };
	cx_http_response r;
	jv body, ei;
	int rc = 0;

	memset(g, 0, sizeof *g);
	g->expires_in = -1;
	client_auth(p, c, &req);
	if (cx_http_do(&req, &r, err) < 0) {
		cx_http_response_free(&r);
		return transport_error(err);
	}
	body = cx_http_json(&r);
	if (jv_get_kind(body) != JV_KIND_OBJECT && r.status >= 200 && r.status <= 299) {
		/* RFC 6749 §5.1: a JSON object; a page is some other server */
		rc = not_oauth(&r, "the token endpoint", err);
		jv_free(body);
		cx_http_response_free(&r);
		return rc;
	}
	if (r.status < 200 || r.status > 299) {
		rc = upstream_error(&r, "the token endpoint", refused, err);
		jv_free(body);
		cx_http_response_free(&r);
		return rc;
	}
	g->access = take_secret(body, "access_token");
	g->refresh = take_secret(body, "refresh_token");
	g->scope = take_string(body, "scope");
	ei = jv_object_get(jv_copy(body), jv_string("expires_in"));
	if (jv_get_kind(ei) == JV_KIND_NUMBER)
		g->expires_in = (int64_t)jv_number_value(ei);
	else if (jv_get_kind(ei) == JV_KIND_STRING)
		g->expires_in = strtoll(jv_string_value(ei), NULL, 10);
	jv_free(ei);
	jv_free(body);
	cx_http_response_free(&r);
	if (!g->access || !*g->access) {
		grant_free(g);
		return cx_err_set(err, CX_EXIT_TEMPFAIL,
		    "upstream_unavailable: the token endpoint answered without an access_token");
	}
	return 0;
}

typedef struct {
	char *id, *username, *scopes;   /* scopes: Meta's granted permissions */
} identity;

static void identity_free(identity *id)
{
	free(id->id);
	free(id->username);
	free(id->scopes);
	memset(id, 0, sizeof *id);
}

static int api_get(const char *url, const char *token, cx_http_response *r,
    const char *what, cx_err *err)
{
	cx_http_request req = { .url = url, .bearer = token,
		.headers = (const char *const[]){ "Accept: application/json", NULL } };

	if (cx_http_do(&req, r, err) < 0) {
		cx_http_response_free(r);
		return transport_error(err);
	}
	if (r->status == 429 || r->status >= 500) {
		upstream_error(r, what, "identity_failed", err);
		cx_http_response_free(r);
		return -1;
	}
	if (r->status < 200 || r->status > 299) {
		char code[64];

		upstream_code(r, code);
		cx_err_set(err, CX_EXIT_NOPERM, "identity_failed: %s answered HTTP %ld%s%s%s",
		    what, r->status, code[0] ? " (" : "", code, code[0] ? ")" : "");
		cx_http_response_free(r);
		return -1;
	}
	return 0;
}

/* Meta's granted permissions, space-separated. */
static int meta_permissions(const cx_oauth_provider *p, const char *token, char **out,
    cx_err *err)
{
	char *url = cx_oauth_provider_api_url(p, "/{v}/me/permissions");
	cx_http_response r;
	jv body, data;
	jv granted = jv_string("");
	int rc = api_get(url, token, &r, "the permissions endpoint", err);

	free(url);
	if (rc < 0) {
		jv_free(granted);
		return -1;
	}
	body = cx_http_json(&r);
	cx_http_response_free(&r);
	data = jv_get_kind(body) == JV_KIND_OBJECT ?
	    jv_object_get(jv_copy(body), jv_string("data")) : jv_invalid();
	jv_free(body);
	if (jv_get_kind(data) != JV_KIND_ARRAY) {
		jv_free(data);
		jv_free(granted);
		return cx_err_set(err, CX_EXIT_NOPERM,
		    "identity_failed: the permissions endpoint answered without data");
	}
	jv_array_foreach(data, i, item) {
		const char *perm = cx_json_str(item, "permission");
		const char *status = cx_json_str(item, "status");

		if (perm && status && strcmp(status, "granted") == 0) {
			if (jv_string_length_bytes(jv_copy(granted)) > 0)
				granted = jv_string_append_str(granted, " ");
			granted = jv_string_append_str(granted, perm);
		}
		jv_free(item);
		(void)i;
	}
	jv_free(data);
	*out = cx_xstrdup(jv_string_value(granted));
	jv_free(granted);
	return 0;
}

/* RFC 7662: asks the server whether token is active. 1 active, 0 not,
 * -1 with err; *answer (when given) is the server's object. */
static int introspect(const cx_oauth_provider *p, const client *c, const char *url,
    const char *token, const char *hint, jv *answer, cx_err *err)
{
	char *form = cx_http_form("token", token, "token_type_hint", hint,
	    "client_id", c->id, "client_secret", form_secret(p, c), NULL);
	cx_http_request req = { .url = url, .body = form, .body_len = strlen(form),
		.content_type = CX_HTTP_FORM,
		.headers = (const char *const[]){ "Accept: application/json", NULL } };
	cx_http_response r;
	jv body = jv_invalid(), active;
	int rc;

	client_auth(p, c, &req);
	if (cx_http_do(&req, &r, err) < 0) {
		rc = transport_error(err);
	} else if (r.status < 200 || r.status > 299) {
		rc = upstream_error(&r, "the introspection endpoint", "introspection_refused",
		    err);
	} else if (jv_get_kind(body = cx_http_json(&r)) != JV_KIND_OBJECT) {
		rc = not_oauth(&r, "the introspection endpoint", err);
	} else {
		active = jv_object_get(jv_copy(body), jv_string("active"));
		rc = jv_get_kind(active) == JV_KIND_TRUE;
		jv_free(active);
	}
	cx_http_response_free(&r);
	cx_secret_free(form);
	if (rc >= 0 && answer)
		*answer = jv_copy(body);
	jv_free(body);
	return rc;
}

/* The first of the space-separated keys that obj has, as a string. */
static char *take_first(jv obj, const char *keys)
{
	char *out = NULL;

	while (*keys && !out) {
		size_t n = strcspn(keys, " ");
		char *key = cx_xstrndup(keys, n);

		out = take_string(obj, key);
		free(key);
		keys += n;
		keys += strspn(keys, " ");
	}
	return out;
}

/* A generic server without userinfo: the introspection's sub and
 * username, or no identity at all when it has no introspection either. */
static int identity_by_introspection(cx_oauth_provider *p, const client *c,
    const char *token, identity *id, cx_err *err)
{
	char *url = NULL;
	jv answer = jv_null();
	int rc;

	if (cx_oauth_provider_endpoint(p, CX_OAUTH_EP_INTROSPECT, &url, err) < 0)
		return -1;
	if (!url)
		return 0;
	rc = introspect(p, c, url, token, "access_token", &answer, err);
	free(url);
	if (rc == 0)
		cx_err_set(err, CX_EXIT_NOPERM, "identity_failed: the introspection "
		    "endpoint says the new access token is not active");
	if (rc == 1) {
		id->id = take_string(answer, "sub");
		id->username = take_first(answer, "username preferred_username");
	}
	jv_free(answer);
	return rc == 1 ? 0 : -1;
}

/* Who the token belongs to: the preset's identity call (X /2/users/me,
 * Google userinfo, Meta /me and its permissions); for a generic server
 * OpenID userinfo when the grant has openid, else its introspection. */
static int fetch_identity(cx_oauth_provider *p, const client *c, const char *token,
    const char *granted, identity *id, cx_err *err)
{
	char *url = NULL;
	cx_http_response r;
	jv body, obj;
	int rc;

	memset(id, 0, sizeof *id);
	if (p->generic && !scope_has(granted, "openid", 6))
		return identity_by_introspection(p, c, token, id, err);
	if (cx_oauth_provider_endpoint(p, CX_OAUTH_EP_IDENTITY, &url, err) < 0)
		return -1;
	if (!url)
		return identity_by_introspection(p, c, token, id, err);
	rc = api_get(url, token, &r, "the identity endpoint", err);
	free(url);
	if (rc < 0)
		return -1;
	body = cx_http_json(&r);
	cx_http_response_free(&r);
	obj = p->preset->identity_wrap && jv_get_kind(body) == JV_KIND_OBJECT ?
	    jv_object_get(jv_copy(body), jv_string(p->preset->identity_wrap)) : jv_copy(body);
	if (jv_get_kind(obj) == JV_KIND_OBJECT) {
		id->id = take_string(obj, p->preset->id_field);
		id->username = take_first(obj, p->preset->name_fields);
	}
	jv_free(obj);
	jv_free(body);
	if (!id->id || !*id->id) {
		identity_free(id);
		return cx_err_set(err, CX_EXIT_NOPERM,
		    "identity_failed: the identity endpoint answered without an account id");
	}
	if ((p->preset->flags & CX_OAUTH_PERMISSIONS) &&
	    meta_permissions(p, token, &id->scopes, err) < 0) {
		identity_free(id);
		return -1;
	}
	return 0;
}

/* The token endpoint's URL, or NULL with err (78 when there is none). */
static char *token_url(cx_oauth_provider *p, cx_err *err)
{
	char *url = NULL;

	cx_oauth_provider_endpoint(p, CX_OAUTH_EP_TOKEN, &url, err);
	return url;
}

/* Meta: a short-lived user token for a long-lived one, or a long-lived
 * one for a fresh one before it expires. */
static int meta_exchange(cx_oauth_provider *p, const client *c, const char *token,
    const char *refused, long timeout_ms, grant *g, cx_err *err)
{
	char *url = token_url(p, err);
	char *form;
	int rc;

	if (!url)
		return -1;
	form = cx_http_form("grant_type", "fb_exchange_token", "client_id", c->id,
	    "client_secret", c->secret, "fb_exchange_token", token, NULL);
	rc = token_call(p, c, url, form, refused, timeout_ms, g, err);
	cx_secret_free(form);
	free(url);
	return rc;
}

/* ---- Google service accounts: JWT bearer grant ------------------------- */

typedef struct {
	char *email, *private_key, *key_id;
} sa_key;

static void sa_key_free(sa_key *k)
{
	free(k->email);
	cx_secret_free(k->private_key);
	free(k->key_id);
	memset(k, 0, sizeof *k);
}

static int sa_key_parse(const char *json, sa_key *k, char **token_uri, cx_err *err)
{
	jv v = jv_parse(json);
	const char *type;

	memset(k, 0, sizeof *k);
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(v);
		return cx_err_set(err, CX_EXIT_CONFIG,
		    "config: the service account key is not a JSON object");
	}
	type = cx_json_str(v, "type");
	k->email = take_string(v, "client_email");
	k->private_key = take_secret(v, "private_key");
	k->key_id = take_string(v, "private_key_id");
	if (token_uri)
		*token_uri = take_string(v, "token_uri");
	if (!type || strcmp(type, "service_account") != 0 || !k->email || !k->private_key) {
		jv_free(v);
		sa_key_free(k);
		if (token_uri) {
			free(*token_uri);
			*token_uri = NULL;
		}
		return cx_err_set(err, CX_EXIT_CONFIG, "config: the service account key "
		    "needs type service_account, client_email and private_key");
	}
	jv_free(v);
	return 0;
}

static char *b64url_json(jv v)
{
	char *s = cx_json_dump(v);
	char *out = cx_crypto_base64url(s, strlen(s));

	free(s);
	return out;
}

/* header.claims.signature, RS256 with the key's PEM private key. */
static int jwt_sign(const sa_key *k, const char *scopes, const char *subject,
    const char *aud, int64_t now, char **out, cx_err *err)
{
	jv h = jv_object(), c = jv_object();
	char *hs, *cs, *input, *sig64 = NULL;
	BIO *bio = BIO_new_mem_buf(k->private_key, -1);
	EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t siglen = 0;
	int ok;

	BIO_free(bio);
	h = jv_object_set(h, jv_string("alg"), jv_string("RS256"));
	h = jv_object_set(h, jv_string("typ"), jv_string("JWT"));
	if (k->key_id)
		h = jv_object_set(h, jv_string("kid"), jv_string(k->key_id));
	c = jv_object_set(c, jv_string("iss"), jv_string(k->email));
	c = jv_object_set(c, jv_string("scope"), jv_string(scopes));
	c = jv_object_set(c, jv_string("aud"), jv_string(aud));
	c = jv_object_set(c, jv_string("iat"), jv_number((double)now));
	c = jv_object_set(c, jv_string("exp"), jv_number((double)(now + JWT_LIFETIME)));
	if (subject)
		c = jv_object_set(c, jv_string("sub"), jv_string(subject));
	hs = b64url_json(h);
	cs = b64url_json(c);
	input = cx_xasprintf("%s.%s", hs, cs);
	ok = pkey && md && EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA &&
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
	    EVP_DigestSign(md, NULL, &siglen, (unsigned char *)input, strlen(input)) == 1 &&
	    (sig = cx_xmalloc(siglen)) &&
	    EVP_DigestSign(md, sig, &siglen, (unsigned char *)input, strlen(input)) == 1;
	if (ok) {
		sig64 = cx_crypto_base64url(sig, siglen);
		*out = cx_xasprintf("%s.%s", input, sig64);
	}
	free(sig);
	free(sig64);
	free(hs);
	free(cs);
	free(input);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	if (!ok)
		return cx_err_set(err, CX_EXIT_CONFIG,
		    "config: the service account's private_key is not an RSA PEM key");
	return 0;
}

/* Where a service account's grant goes: the key file's token_uri, unless
 * the token URL is set. NULL with err when there is none. */
static char *sa_token_url(cx_oauth_provider *p, const char *token_uri, cx_err *err)
{
	if (token_uri && !cx_oauth_provider_setting(p, "TOKEN_URL"))
		return cx_xstrdup(token_uri);
	return token_url(p, err);
}

static int sa_grant(const cx_oauth_provider *p, const sa_key *k, const char *scopes,
    const char *subject, const char *url, const char *refused, long timeout_ms,
    grant *g, cx_err *err)
{
	char *jwt = NULL, *form;
	int rc;

	if (jwt_sign(k, scopes, subject, url, cx_clock_now(), &jwt, err) < 0)
		return -1;
	form = cx_http_form("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer",
	    "assertion", jwt, NULL);
	rc = token_call(p, NULL, url, form, refused, timeout_ms, g, err);
	cx_secret_free(form);
	cx_secret_free(jwt);
	return rc;
}

/* ---- the store ----------------------------------------------------- */

typedef struct {
	char *provider, *workspace, *kind, *account_id, *username, *scopes;
	char *key_id, *status, *last_error, *meta;
	unsigned char *access, *refresh;
	size_t access_len, refresh_len;
	int64_t expires_at, last_error_at, generation, attempts;
	int64_t created_at, updated_at, refreshed_at;
	int has_expiry, has_refreshed;
} cred;

static void cred_free(cred *c)
{
	free(c->provider);
	free(c->workspace);
	free(c->kind);
	free(c->account_id);
	free(c->username);
	free(c->scopes);
	free(c->key_id);
	free(c->status);
	free(c->last_error);
	free(c->meta);
	free(c->access);
	free(c->refresh);
	memset(c, 0, sizeof *c);
}

#define CRED_COLUMNS \
    "provider, workspace, kind, account_id, username, scopes, access_token," \
    " refresh_token, key_id, expires_at, status, last_error, last_error_at, meta," \
    " generation, attempts, created_at, updated_at, refreshed_at"

static char *col_str(cx_stmt *st, int col)
{
	return cx_stmt_col_is_null(st, col) ? NULL : cx_xstrdup(cx_stmt_col_text(st, col));
}

static unsigned char *col_blob(cx_stmt *st, int col, size_t *len)
{
	const void *b;
	unsigned char *out;

	*len = 0;
	if (cx_stmt_col_is_null(st, col))
		return NULL;
	b = cx_stmt_col_blob(st, col, len);
	out = cx_xmalloc(*len ? *len : 1);
	if (*len)
		memcpy(out, b, *len);
	return out;
}

static void cred_read(cx_stmt *st, cred *c)
{
	memset(c, 0, sizeof *c);
	c->provider = col_str(st, 0);
	c->workspace = col_str(st, 1);
	c->kind = col_str(st, 2);
	c->account_id = col_str(st, 3);
	c->username = col_str(st, 4);
	c->scopes = col_str(st, 5);
	c->access = col_blob(st, 6, &c->access_len);
	c->refresh = col_blob(st, 7, &c->refresh_len);
	c->key_id = col_str(st, 8);
	c->has_expiry = !cx_stmt_col_is_null(st, 9);
	c->expires_at = cx_stmt_col_int(st, 9);
	c->status = col_str(st, 10);
	c->last_error = col_str(st, 11);
	c->last_error_at = cx_stmt_col_int(st, 12);
	c->meta = col_str(st, 13);
	c->generation = cx_stmt_col_int(st, 14);
	c->attempts = cx_stmt_col_int(st, 15);
	c->created_at = cx_stmt_col_int(st, 16);
	c->updated_at = cx_stmt_col_int(st, 17);
	c->has_refreshed = !cx_stmt_col_is_null(st, 18);
	c->refreshed_at = cx_stmt_col_int(st, 18);
}

static const char sql_cred_get[] =
    "SELECT " CRED_COLUMNS " FROM oauth_credentials WHERE provider = ?1 AND workspace = ?2";

/* 1 with *c, 0 when there is none, -1 with err. */
static int cred_load(cx_store *s, const char *provider, const char *workspace,
    cred *c, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_cred_get, err);
	int rc;

	if (!st)
		return -1;
	cx_stmt_text(st, 1, provider);
	cx_stmt_text(st, 2, workspace);
	rc = cx_stmt_step(st, err);
	if (rc == 1)
		cred_read(st, c);
	cx_stmt_reset(st);
	return rc;
}

static int is_expired(const cred *c, int64_t now)
{
	return c->has_expiry && c->expires_at <= now;
}

static int is_revoked(const cred *c)
{
	return strcmp(c->status, "revoked") == 0;
}

static int refresh_refused(const cred *c)
{
	return strcmp(c->status, "refresh_failed") == 0;
}

/* Whether cx_oauth_token can get a new access token without the user. */
static int can_refresh(const cx_oauth_provider *p, const cred *c, int64_t now)
{
	if (!p || is_revoked(c) || refresh_refused(c))
		return 0;
	if (strcmp(c->kind, "service_account") == 0)
		return c->refresh != NULL;
	if (p->preset->flags & CX_OAUTH_LONG_LIVED)
		return c->access != NULL && !is_expired(c, now);
	return c->refresh != NULL;
}

static jv time_or_null(int has, int64_t t)
{
	char ts[CX_RFC3339_LEN];

	if (!has)
		return jv_null();
	cx_clock_rfc3339(t, -1, ts);
	return jv_string(ts);
}

static jv str_or_null(const char *s)
{
	return s ? jv_string(s) : jv_null();
}

/* The status line of a credential (SPEC §6): connected is true only when
 * it is not revoked and the token is valid or can be renewed, and the
 * scopes the provider requires are granted. */
static jv cred_status(const cred *c, int64_t now)
{
	cx_oauth_provider *p = NULL;
	cx_err ignored;
	int revoked = is_revoked(c), expired = is_expired(c, now);
	int valid = !revoked && c->access && !expired;
	int refreshable = cx_oauth_provider_open(c->provider, &p, &ignored) == 0 &&
	    can_refresh(p, c, now);
	char *req = p ? required_scopes(p) : cx_xstrdup("");
	char *missing = scopes_missing(c->scopes ? c->scopes : "", req);
	const char *reason;
	int connected;
	jv o = jv_object();

	if (revoked)
		reason = "revoked";
	else if (*missing)
		reason = "missing_scope";
	else if (refresh_refused(c))
		reason = "refresh_failed";
	else if (valid)
		reason = "ok";
	else if (refreshable)
		reason = "refreshable";
	else
		reason = "expired_no_refresh";
	connected = !revoked && !*missing && (valid || refreshable);
	o = jv_object_set(o, jv_string("provider"), jv_string(c->provider));
	o = jv_object_set(o, jv_string("workspace"), jv_string(c->workspace));
	o = jv_object_set(o, jv_string("kind"), jv_string(c->kind));
	o = jv_object_set(o, jv_string("account_id"), str_or_null(c->account_id));
	o = jv_object_set(o, jv_string("username"), str_or_null(c->username));
	o = jv_object_set(o, jv_string("scopes"), scopes_array(c->scopes));
	o = jv_object_set(o, jv_string("connected"), jv_bool(connected));
	o = jv_object_set(o, jv_string("access_token_valid"), jv_bool(valid));
	o = jv_object_set(o, jv_string("is_expired"), jv_bool(expired));
	o = jv_object_set(o, jv_string("can_auto_refresh"), jv_bool(refreshable));
	o = jv_object_set(o, jv_string("connected_reason"), jv_string(reason));
	if (*missing)
		o = jv_object_set(o, jv_string("missing_scopes"), scopes_array(missing));
	o = jv_object_set(o, jv_string("expires_at"), time_or_null(c->has_expiry, c->expires_at));
	o = jv_object_set(o, jv_string("refreshed_at"),
	    time_or_null(c->has_refreshed, c->refreshed_at));
	o = jv_object_set(o, jv_string("last_error"), str_or_null(c->last_error));
	free(req);
	free(missing);
	cx_oauth_provider_free(p);
	return o;
}

static jv cred_listing(const cred *c)
{
	jv o = jv_object();

	o = jv_object_set(o, jv_string("provider"), jv_string(c->provider));
	o = jv_object_set(o, jv_string("workspace"), jv_string(c->workspace));
	o = jv_object_set(o, jv_string("kind"), jv_string(c->kind));
	o = jv_object_set(o, jv_string("account_id"), str_or_null(c->account_id));
	o = jv_object_set(o, jv_string("username"), str_or_null(c->username));
	o = jv_object_set(o, jv_string("status"), jv_string(c->status));
	o = jv_object_set(o, jv_string("has_refresh_token"), jv_bool(c->refresh != NULL));
	o = jv_object_set(o, jv_string("key_id"), jv_string(c->key_id));
	o = jv_object_set(o, jv_string("created_at"), time_or_null(1, c->created_at));
	o = jv_object_set(o, jv_string("updated_at"), time_or_null(1, c->updated_at));
	o = jv_object_set(o, jv_string("expires_at"), time_or_null(c->has_expiry, c->expires_at));
	return o;
}

static const char sql_cred_all[] =
    "SELECT " CRED_COLUMNS " FROM oauth_credentials"
    " WHERE (?1 IS NULL OR provider = ?1) AND (?2 IS NULL OR workspace = ?2)"
    " ORDER BY provider, workspace";

static int each_cred(cx_store *s, const char *provider, const char *workspace,
    jv (*make)(const cred *c, int64_t now), void (*each)(jv row, void *ctx),
    void *ctx, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_cred_all, err);
	int64_t now = cx_clock_now();
	int rc;

	if (!st)
		return -1;
	cx_stmt_text(st, 1, provider);
	cx_stmt_text(st, 2, workspace);
	while ((rc = cx_stmt_step(st, err)) == 1) {
		cred c;

		cred_read(st, &c);
		each(make(&c, now), ctx);
		cred_free(&c);
	}
	cx_stmt_reset(st);
	return rc;
}

int cx_oauth_status(cx_store *s, const char *provider, const char *workspace,
    void (*each)(jv row, void *ctx), void *ctx, cx_err *err)
{
	return each_cred(s, provider, workspace, cred_status, each, ctx, err);
}

static jv listing_at(const cred *c, int64_t now)
{
	(void)now;
	return cred_listing(c);
}

int cx_oauth_list(cx_store *s, const char *provider, const char *workspace,
    void (*each)(jv row, void *ctx), void *ctx, cx_err *err)
{
	return each_cred(s, provider, workspace, listing_at, each, ctx, err);
}

/* The status line of one credential, read afresh. */
static jv status_of(cx_store *s, const char *provider, const char *workspace)
{
	cred c;
	cx_err e;
	jv out;

	if (cred_load(s, provider, workspace, &c, &e) != 1)
		return jv_null();
	out = cred_status(&c, cx_clock_now());
	cred_free(&c);
	return out;
}

/* Seals a token for field of the credential; the blob is the caller's. */
static int seal_field(const cx_tokenkeys *k, const char *provider,
    const char *workspace, const char *field, const char *plain,
    unsigned char **blob, size_t *len, cx_err *err)
{
	char *aad = aad_of(provider, workspace, field);
	int rc = cx_token_seal(k, aad, plain, strlen(plain), blob, len, err);

	free(aad);
	return rc;
}

static int open_field(const cx_tokenkeys *k, const cred *c, const char *field,
    const unsigned char *blob, size_t len, char **plain, cx_err *err)
{
	char *aad = aad_of(c->provider, c->workspace, field);
	int rc = cx_token_open(k, aad, blob, len, plain, err);

	free(aad);
	if (rc < 0) {
		char msg[sizeof err->msg];

		snprintf(msg, sizeof msg, "%s", err->msg);
		cx_err_set(err, CX_EXIT_CONFIG, "config: %s:%s: %s", c->provider,
		    c->workspace, msg);
	}
	return rc;
}

static const char sql_cred_upsert[] =
    "INSERT INTO oauth_credentials (provider, workspace, kind, account_id, username,"
    " scopes, access_token, refresh_token, key_id, expires_at, status, meta,"
    " generation, attempts, created_at, updated_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'ok', ?11, 1, 0, ?12, ?12)"
    " ON CONFLICT (provider, workspace) DO UPDATE SET kind = excluded.kind,"
    " account_id = excluded.account_id, username = excluded.username,"
    " scopes = excluded.scopes, access_token = excluded.access_token,"
    " refresh_token = excluded.refresh_token, key_id = excluded.key_id,"
    " expires_at = excluded.expires_at, status = 'ok', last_error = NULL,"
    " last_error_at = NULL, meta = excluded.meta, generation = generation + 1,"
    " created_at = excluded.created_at, updated_at = excluded.updated_at,"
    " refreshed_at = NULL";
static const char sql_lock_drop[] =
    "DELETE FROM oauth_refresh_locks WHERE provider = ?1 AND workspace = ?2";

typedef struct {
	const char *kind, *account_id, *username, *scopes, *meta;
	const char *access, *refresh;
} new_cred;

static int count(cx_store *s, const char *name, const char *provider,
    const char *result, cx_err *err)
{
	char *labels = cx_metrics_labels("provider", provider, "result", result, NULL);
	int rc = cx_metrics_add(s, name, labels, 1, err);

	free(labels);
	return rc;
}

/* Stores a new credential, its audit row and its counter in one
 * transaction. */
static int cred_store(cx_store *s, const cx_tokenkeys *k, const cx_oauth_provider *p,
    const char *workspace, const new_cred *n, int64_t expires_in, cx_err *err)
{
	unsigned char *ab = NULL, *rb = NULL;
	size_t al = 0, rl = 0;
	int64_t now = cx_clock_now();
	char *subject = subject_of(p->name, workspace);
	cx_audit_entry e = { .action = "token_issued", .subject = subject };
	cx_stmt *st;
	int rc = -1;

	e.detail = jv_null();
	if (seal_field(k, p->name, workspace, "access", n->access, &ab, &al, err) < 0 ||
	    (n->refresh && seal_field(k, p->name, workspace, "refresh", n->refresh,
	    &rb, &rl, err) < 0))
		goto out;
	if (cx_store_begin(s, err) < 0)
		goto out;
	if (!(st = cx_store_prepare(s, sql_cred_upsert, err)))
		goto fail;
	cx_stmt_text(st, 1, p->name);
	cx_stmt_text(st, 2, workspace);
	cx_stmt_text(st, 3, n->kind);
	cx_stmt_text(st, 4, n->account_id);
	cx_stmt_text(st, 5, n->username);
	cx_stmt_text(st, 6, n->scopes);
	cx_stmt_blob(st, 7, ab, al);
	if (rb)
		cx_stmt_blob(st, 8, rb, rl);
	else
		cx_stmt_null(st, 8);
	cx_stmt_text(st, 9, cx_tokenkeys_id(k));
	if (expires_in >= 0)
		cx_stmt_int(st, 10, now + expires_in);
	else
		cx_stmt_null(st, 10);
	cx_stmt_text(st, 11, n->meta ? n->meta : "{}");
	cx_stmt_int(st, 12, now);
	if (cx_stmt_run(st, err) < 0 || !(st = cx_store_prepare(s, sql_lock_drop, err)))
		goto fail;
	cx_stmt_text(st, 1, p->name);
	cx_stmt_text(st, 2, workspace);
	if (cx_stmt_run(st, err) < 0)
		goto fail;
	e.detail = jv_object();
	e.detail = jv_object_set(e.detail, jv_string("provider"), jv_string(p->name));
	e.detail = jv_object_set(e.detail, jv_string("workspace"), jv_string(workspace));
	e.detail = jv_object_set(e.detail, jv_string("kind"), jv_string(n->kind));
	e.detail = jv_object_set(e.detail, jv_string("account_id"), str_or_null(n->account_id));
	e.detail = jv_object_set(e.detail, jv_string("username"), audit_username(n->username));
	e.detail = jv_object_set(e.detail, jv_string("scopes"), scopes_array(n->scopes));
	e.detail = jv_object_set(e.detail, jv_string("has_refresh_token"),
	    jv_bool(n->refresh != NULL));
	e.detail = jv_object_set(e.detail, jv_string("expires_at"),
	    time_or_null(expires_in >= 0, now + expires_in));
	if (cx_audit_append(s, &e, err) < 0 ||
	    count(s, "cx_oauth_connections_total", p->name, "ok", err) < 0)
		goto fail;
	rc = cx_store_commit(s, err);
	goto out;
fail:
	cx_store_rollback(s);
out:
	jv_free(e.detail);
	free(ab);
	free(rb);
	free(subject);
	return rc;
}

/* Records a connection attempt that failed (audit + counter: refused for
 * 77, failed otherwise); err keeps the reason it already holds. -1. */
static int refuse(cx_store *s, const char *provider, const char *workspace,
    cx_err *err)
{
	char buf[48];
	const char *reason = cx_oauth_reason(err, buf);
	char *subject = workspace ? subject_of(provider, workspace) : NULL;
	cx_audit_entry e = { .action = "oauth_callback_refused", .subject = subject };
	cx_err e2;

	e.detail = jv_object_set(jv_object(), jv_string("reason"), jv_string(reason));
	e.detail = jv_object_set(e.detail, jv_string("provider"), jv_string(provider));
	if (workspace)
		e.detail = jv_object_set(e.detail, jv_string("workspace"), jv_string(workspace));
	e.detail = jv_object_set(e.detail, jv_string("exit"), jv_number(err->code));
	if (cx_store_begin(s, &e2) == 0) {
		if (cx_audit_append(s, &e, &e2) < 0 ||
		    count(s, "cx_oauth_connections_total", provider,
		    err->code == CX_EXIT_NOPERM ? "refused" : "failed", &e2) < 0)
			cx_store_rollback(s);
		else
			cx_store_commit(s, &e2);
	}
	jv_free(e.detail);
	free(subject);
	return -1;
}

/* ---- authorize and callback ------------------------------------------ */

static const char sql_state_prune[] =
    "DELETE FROM oauth_states WHERE expires_at < ?1";
static const char sql_state_add[] =
    "INSERT INTO oauth_states (state_hash, provider, workspace, redirect_uri, scopes,"
    " verifier, key_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

int cx_oauth_authorize(cx_store *s, const char *provider, const char *workspace,
    const char *scopes, char **url, cx_err *err)
{
	cx_oauth_provider *p = NULL;
	unsigned char raw[VERIFIER_BYTES], md[CX_SHA256_LEN];
	char hash[2 * CX_SHA256_LEN + 1];
	char *state = NULL, *verifier = NULL, *challenge = NULL, *scope = NULL;
	char *joined = NULL, *base = NULL, *aad = NULL, *subject = NULL;
	unsigned char *blob = NULL;
	size_t bloblen = 0;
	const char *redirect;
	cx_tokenkeys *keys = NULL;
	client c = { 0 };
	int64_t ttl, now = cx_clock_now();
	cx_audit_entry e = { .action = "oauth_authorize" };
	cx_stmt *st;
	int rc = -1;

	e.detail = jv_null();
	if (!workspace || !*workspace)
		return cx_err_set(err, CX_EXIT_USAGE, "usage: a workspace is required");
	if (cx_oauth_provider_open(provider, &p, err) < 0)
		return -1;
	if (config_seconds("CX_OAUTH_STATE_TTL_SECONDS", 600, &ttl, err) < 0 ||
	    client_load(p, &c, err) < 0 || cx_tokenkeys_load(&keys, err) < 0)
		goto out;
	if (!(redirect = cx_oauth_provider_setting(p, "REDIRECT_URI"))) {
		cx_err_set(err, CX_EXIT_CONFIG, "config: %s_REDIRECT_URI is not set", p->env);
		goto out;
	}
	scope = scopes_normalize(scopes ? scopes : default_scopes(p));
	if (!*scope) {
		if (scopes)
			cx_err_set(err, CX_EXIT_USAGE, "usage: --scopes names no scope");
		else
			cx_err_set(err, CX_EXIT_CONFIG, "config: %s_SCOPES is not set; set it "
			    "or give --scopes", p->env);
		goto out;
	}
	if (cx_oauth_provider_endpoint(p, CX_OAUTH_EP_AUTHORIZE, &base, err) < 0)
		goto out;
	if (cx_crypto_random(raw, STATE_BYTES) < 0) {
		cx_err_set(err, CX_EXIT_TEMPFAIL, "no random bytes for the state");
		goto out;
	}
	state = cx_crypto_base64url(raw, STATE_BYTES);
	cx_crypto_sha256_hex(state, strlen(state), hash);
	if (p->preset->flags & CX_OAUTH_PKCE) {
		if (cx_crypto_random(raw, VERIFIER_BYTES) < 0) {
			cx_err_set(err, CX_EXIT_TEMPFAIL, "no random bytes for the verifier");
			goto out;
		}
		verifier = cx_crypto_base64url(raw, VERIFIER_BYTES);
		cx_crypto_sha256(verifier, strlen(verifier), md);
		challenge = cx_crypto_base64url(md, sizeof md);
		aad = cx_xasprintf("state:%s", hash);
		if (cx_token_seal(keys, aad, verifier, strlen(verifier), &blob, &bloblen, err) < 0)
			goto out;
	}
	subject = subject_of(p->name, workspace);
	e.subject = subject;
	if (cx_store_begin(s, err) < 0)
		goto out;
	if (!(st = cx_store_prepare(s, sql_state_prune, err)))
		goto fail;
	cx_stmt_int(st, 1, now - STATE_KEEP_SECONDS);
	if (cx_stmt_run(st, err) < 0 || !(st = cx_store_prepare(s, sql_state_add, err)))
		goto fail;
	cx_stmt_text(st, 1, hash);
	cx_stmt_text(st, 2, p->name);
	cx_stmt_text(st, 3, workspace);
	cx_stmt_text(st, 4, redirect);
	cx_stmt_text(st, 5, scope);
	if (blob)
		cx_stmt_blob(st, 6, blob, bloblen);
	else
		cx_stmt_null(st, 6);
	cx_stmt_text(st, 7, cx_tokenkeys_id(keys));
	cx_stmt_int(st, 8, now);
	cx_stmt_int(st, 9, now + ttl);
	if (cx_stmt_run(st, err) < 0)
		goto fail;
	e.detail = jv_object();
	e.detail = jv_object_set(e.detail, jv_string("provider"), jv_string(p->name));
	e.detail = jv_object_set(e.detail, jv_string("workspace"), jv_string(workspace));
	e.detail = jv_object_set(e.detail, jv_string("scopes"), scopes_array(scope));
	e.detail = jv_object_set(e.detail, jv_string("pkce"), jv_bool(verifier != NULL));
	e.detail = jv_object_set(e.detail, jv_string("expires_at"), time_or_null(1, now + ttl));
	if (cx_audit_append(s, &e, err) < 0 || cx_store_commit(s, err) < 0)
		goto fail;
	joined = scopes_join(scope, p->preset->scope_sep);
	*url = cx_http_url_with(base, "response_type", "code", "client_id", c.id,
	    "redirect_uri", redirect, "scope", joined, "state", state,
	    "code_challenge", challenge,
	    "code_challenge_method", challenge ? "S256" : NULL,
	    "access_type", (p->preset->flags & CX_OAUTH_OFFLINE) ? "offline" : NULL,
	    "prompt", (p->preset->flags & CX_OAUTH_OFFLINE) ? "consent" : NULL, NULL);
	rc = 0;
	goto out;
fail:
	cx_store_rollback(s);
out:
	jv_free(e.detail);
	cx_crypto_wipe(raw, sizeof raw);
	cx_secret_free(state);
	cx_secret_free(verifier);
	free(challenge);
	free(scope);
	free(joined);
	free(base);
	free(aad);
	free(blob);
	free(subject);
	client_free(&c);
	cx_tokenkeys_free(keys);
	cx_oauth_provider_free(p);
	return rc;
}

typedef struct {
	char *provider, *workspace, *redirect_uri, *scopes;
	unsigned char *verifier;
	size_t verifier_len;
	int64_t expires_at;
	int used;
} pending;

static void pending_free(pending *st)
{
	free(st->provider);
	free(st->workspace);
	free(st->redirect_uri);
	free(st->scopes);
	free(st->verifier);
	memset(st, 0, sizeof *st);
}

static const char sql_state_get[] =
    "SELECT provider, workspace, redirect_uri, scopes, verifier, expires_at, used"
    " FROM oauth_states WHERE state_hash = ?1";
static const char sql_state_use[] =
    "UPDATE oauth_states SET used = 1, used_at = ?2, verifier = NULL"
    " WHERE state_hash = ?1 AND used = 0 AND expires_at > ?2 AND provider = ?3";

static int state_get(cx_store *s, const char *hash, pending *st, cx_err *err)
{
	cx_stmt *q = cx_store_prepare(s, sql_state_get, err);
	int rc;

	if (!q)
		return -1;
	cx_stmt_text(q, 1, hash);
	rc = cx_stmt_step(q, err);
	if (rc == 1) {
		memset(st, 0, sizeof *st);
		st->provider = col_str(q, 0);
		st->workspace = col_str(q, 1);
		st->redirect_uri = col_str(q, 2);
		st->scopes = col_str(q, 3);
		st->verifier = col_blob(q, 4, &st->verifier_len);
		st->expires_at = cx_stmt_col_int(q, 5);
		st->used = (int)cx_stmt_col_int(q, 6);
	}
	cx_stmt_reset(q);
	return rc;
}

/* Marks the state used, once: 1 when this call consumed it, 0 when it was
 * used or expired meanwhile. */
static int state_consume(cx_store *s, const char *hash, const char *provider,
    int64_t now, cx_err *err)
{
	cx_stmt *st;
	int used;

	if (cx_store_begin(s, err) < 0)
		return -1;
	if (!(st = cx_store_prepare(s, sql_state_use, err))) {
		cx_store_rollback(s);
		return -1;
	}
	cx_stmt_text(st, 1, hash);
	cx_stmt_int(st, 2, now);
	cx_stmt_text(st, 3, provider);
	if (cx_stmt_run(st, err) < 0) {
		cx_store_rollback(s);
		return -1;
	}
	used = cx_store_changes(s) == 1;
	if (cx_store_commit(s, err) < 0)
		return -1;
	return used;
}

/* A provider's error code from the redirect, reduced to a safe alphabet. */
static void safe_word(const char *in, char out[64])
{
	size_t n = 0;

	for (; in && *in && n < 63; in++)
		out[n++] = isalnum((unsigned char)*in) || *in == '_' || *in == '.' ? *in : '?';
	out[n] = '\0';
}

/* The grant of a code: the exchange, then Meta's long-lived token. */
static int exchange_code(cx_oauth_provider *p, const client *c, const pending *st,
    const char *code, const char *verifier, grant *g, cx_err *err)
{
	char *url = token_url(p, err), *form;
	int rc;

	if (!url)
		return -1;
	form = cx_http_form("grant_type", "authorization_code", "code", code,
	    "redirect_uri", st->redirect_uri, "code_verifier", verifier,
	    "client_id", c->id, "client_secret", form_secret(p, c), NULL);
	rc = token_call(p, c, url, form, "code_exchange_refused", 0, g, err);
	cx_secret_free(form);
	free(url);
	if (rc == 0 && (p->preset->flags & CX_OAUTH_LONG_LIVED)) {
		grant ll;

		rc = meta_exchange(p, c, g->access, "code_exchange_refused", 0, &ll, err);
		grant_free(g);
		if (rc == 0)
			*g = ll;
	}
	return rc;
}

/* RFC 9207: the redirect's iss must be the configured issuer when the
 * server sends one or advertises that it does; a difference is a mix-up
 * (a response from another server) and refused with 77. */
static int iss_check(cx_oauth_provider *p, const char *iss, cx_err *err)
{
	const char *issuer;
	int required;

	if (cx_oauth_provider_issuer(p, &issuer, &required, err) < 0)
		return -1;
	if (!issuer)
		return 0;
	if (!iss && required)
		return cx_err_set(err, CX_EXIT_NOPERM, "iss_missing: the redirect carries no "
		    "iss though the server advertises authorization_response_iss_parameter_"
		    "supported (RFC 9207); refused as a possible mix-up");
	if (iss && strcmp(iss, issuer) != 0)
		return cx_err_set(err, CX_EXIT_NOPERM, "iss_mismatch: the redirect's iss is "
		    "not %s_ISSUER (RFC 9207); refused as a possible mix-up", p->env);
	return 0;
}

int cx_oauth_callback(cx_store *s, const cx_oauth_redirect *r, jv *status,
    cx_err *err)
{
	cx_oauth_provider *p = NULL;
	unsigned char md[CX_SHA256_LEN];
	char hash[2 * CX_SHA256_LEN + 1], word[64];
	pending st = { 0 };
	cx_tokenkeys *keys = NULL;
	client c = { 0 };
	grant g = { 0 };
	identity id = { 0 };
	char *verifier = NULL, *aad = NULL, *req = NULL, *missing = NULL;
	const char *granted;
	int64_t now = cx_clock_now();
	int rc, known;

	if (r->provider && !cx_oauth_provider_known(r->provider))
		return cx_err_set(err, CX_EXIT_USAGE, "unknown_provider: '%s' is neither a "
		    "preset (x, google, meta) nor configured", r->provider);
	if (!r->state || !*r->state)
		return cx_err_set(err, r->error ? CX_EXIT_NOPERM : CX_EXIT_USAGE,
		    "%s: the redirect carries no state", r->error ? "authorization_denied" :
		    "usage");
	cx_crypto_sha256(r->state, strlen(r->state), md);
	cx_crypto_hex(md, sizeof md, hash);
	if ((known = state_get(s, hash, &st, err)) < 0)
		return -1;
	if (!known) {
		cx_err_set(err, CX_EXIT_NOPERM,
		    "state_unknown: no authorization was started with this state");
		return refuse(s, r->provider ? r->provider : "unknown", NULL, err);
	}
	if ((rc = cx_oauth_provider_open(st.provider, &p, err)) < 0)
		goto out;
	if ((rc = iss_check(p, r->iss, err)) < 0) {
		if (err->code == CX_EXIT_NOPERM) {
			state_consume(s, hash, st.provider, now, NULL);
			refuse(s, st.provider, st.workspace, err);
		}
		goto out;
	}
	if (r->error) {
		/* the user said no (or the provider failed): the state is spent */
		state_consume(s, hash, st.provider, now, NULL);
		safe_word(r->error, word);
		cx_err_set(err, CX_EXIT_NOPERM,
		    "authorization_denied: the provider redirected with error=%s", word);
		rc = refuse(s, st.provider, st.workspace, err);
		goto out;
	}
	if (!r->code || !*r->code) {
		rc = cx_err_set(err, CX_EXIT_USAGE, "usage: the redirect carries no code");
		goto out;
	}
	if (r->provider && strcmp(r->provider, st.provider) != 0) {
		cx_err_set(err, CX_EXIT_NOPERM,
		    "state_provider_mismatch: the state was issued for %s, not %s",
		    st.provider, r->provider ? r->provider : "?");
		rc = refuse(s, r->provider ? r->provider : st.provider, st.workspace, err);
		goto out;
	}
	/* configuration first, so a misconfigured run does not spend the state */
	if (client_load(p, &c, err) < 0 || cx_tokenkeys_load(&keys, err) < 0) {
		rc = -1;
		goto out;
	}
	if ((rc = state_consume(s, hash, st.provider, now, err)) < 0)
		goto out;
	if (rc == 0) {
		pending again;

		if (state_get(s, hash, &again, err) == 1) {
			st.used = again.used;
			pending_free(&again);
		}
		if (st.used)
			cx_err_set(err, CX_EXIT_NOPERM, "state_used: this state was already used");
		else
			cx_err_set(err, CX_EXIT_NOPERM, "state_expired: the authorization expired "
			    "(CX_OAUTH_STATE_TTL_SECONDS); start again with cx-oauth authorize");
		rc = refuse(s, st.provider, st.workspace, err);
		goto out;
	}
	if (st.verifier) {
		aad = cx_xasprintf("state:%s", hash);
		if ((rc = cx_token_open(keys, aad, st.verifier, st.verifier_len, &verifier,
		    err)) < 0)
			goto out;
	}
	if ((rc = exchange_code(p, &c, &st, r->code, verifier, &g, err)) < 0 ||
	    (rc = fetch_identity(p, &c, g.access, g.scope ? g.scope : st.scopes, &id,
	    err)) < 0) {
		refuse(s, st.provider, st.workspace, err);
		goto out;
	}
	granted = id.scopes ? id.scopes : g.scope ? g.scope : st.scopes;
	{
		char *norm = scopes_normalize(granted);

		free(g.scope);
		g.scope = norm;
	}
	req = required_scopes(p);
	missing = scopes_missing(g.scope, req);
	if (*missing) {
		cx_err_set(err, CX_EXIT_NOPERM,
		    "missing_scope: the grant lacks %s (granted: %s); nothing was stored",
		    missing, *g.scope ? g.scope : "none");
		rc = refuse(s, st.provider, st.workspace, err);
		goto out;
	}
	{
		new_cred n = { .kind = "user", .account_id = id.id, .username = id.username,
			.scopes = g.scope, .access = g.access, .refresh = g.refresh };

		rc = cred_store(s, keys, p, st.workspace, &n, g.expires_in, err);
	}
	if (rc == 0)
		*status = status_of(s, st.provider, st.workspace);
out:
	pending_free(&st);
	grant_free(&g);
	identity_free(&id);
	cx_secret_free(verifier);
	free(aad);
	free(req);
	free(missing);
	client_free(&c);
	cx_tokenkeys_free(keys);
	cx_oauth_provider_free(p);
	return rc < 0 ? -1 : 0;
}

/* ---- tokens and the refresh lock ------------------------------------- */

static const char sql_lock_get[] =
    "SELECT owner, expires_at FROM oauth_refresh_locks WHERE provider = ?1 AND workspace = ?2";
static const char sql_lock_take[] =
    "INSERT INTO oauth_refresh_locks (provider, workspace, owner, expires_at)"
    " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (provider, workspace) DO UPDATE SET"
    " owner = excluded.owner, expires_at = excluded.expires_at";
static const char sql_lock_release[] =
    "DELETE FROM oauth_refresh_locks WHERE provider = ?1 AND workspace = ?2 AND owner = ?3";
static const char sql_refresh_ok[] =
    "UPDATE oauth_credentials SET access_token = ?3, refresh_token = ?4, key_id = ?5,"
    " expires_at = ?6, scopes = coalesce(?7, scopes), status = 'ok', last_error = NULL,"
    " last_error_at = NULL, generation = generation + 1, attempts = attempts + 1,"
    " updated_at = ?8, refreshed_at = ?8 WHERE provider = ?1 AND workspace = ?2";
static const char sql_refresh_refused[] =
    "UPDATE oauth_credentials SET status = 'refresh_failed', last_error = ?3,"
    " last_error_at = ?4, attempts = attempts + 1, updated_at = ?4"
    " WHERE provider = ?1 AND workspace = ?2";
static const char sql_refresh_failed[] =
    "UPDATE oauth_credentials SET last_error = ?3, last_error_at = ?4,"
    " attempts = attempts + 1, updated_at = ?4 WHERE provider = ?1 AND workspace = ?2";

/* Whether another process holds a live lock on the credential. */
static int lock_held(cx_store *s, const cred *c, const char *me, int64_t now,
    cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_lock_get, err);
	int rc, held = 0;

	if (!st)
		return -1;
	cx_stmt_text(st, 1, c->provider);
	cx_stmt_text(st, 2, c->workspace);
	rc = cx_stmt_step(st, err);
	if (rc == 1)
		held = strcmp(cx_stmt_col_text(st, 0), me) != 0 && cx_stmt_col_int(st, 1) > now;
	cx_stmt_reset(st);
	return rc < 0 ? -1 : held;
}

static int lock_run(cx_store *s, const char *sql, const cred *c, const char *me,
    int64_t expires, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql, err);

	if (!st)
		return -1;
	cx_stmt_text(st, 1, c->provider);
	cx_stmt_text(st, 2, c->workspace);
	cx_stmt_text(st, 3, me);
	if (sql == sql_lock_take)
		cx_stmt_int(st, 4, expires);
	return cx_stmt_run(st, err);
}

/* Asks the provider for a new access token with what the credential holds
 * (refresh token, service-account key, or Meta's long-lived token). */
static int renew(cx_oauth_provider *p, const cx_tokenkeys *k, const cred *c,
    long timeout_ms, grant *g, cx_err *err)
{
	client cl = { 0 };
	char *secret = NULL, *url = NULL, *form = NULL;
	int rc = -1;

	memset(g, 0, sizeof *g);
	if (strcmp(c->kind, "service_account") == 0) {
		jv meta = jv_parse(c->meta ? c->meta : "{}");
		const char *sub = jv_get_kind(meta) == JV_KIND_OBJECT ?
		    cx_json_str(meta, "subject") : NULL;
		const char *uri = jv_get_kind(meta) == JV_KIND_OBJECT ?
		    cx_json_str(meta, "token_uri") : NULL;
		sa_key key;

		if (open_field(k, c, "refresh", c->refresh, c->refresh_len, &secret, err) == 0 &&
		    sa_key_parse(secret, &key, NULL, err) == 0) {
			url = sa_token_url(p, uri, err);
			rc = url ? sa_grant(p, &key, c->scopes, sub, url, "refresh_refused",
			    timeout_ms, g, err) : -1;
			sa_key_free(&key);
			if (rc == 0) {
				/* the key stays; it is sealed again with the new token */
				cx_secret_free(g->refresh);
				g->refresh = secret;
				secret = NULL;
			}
		}
		jv_free(meta);
		goto out;
	}
	if (client_load(p, &cl, err) < 0)
		goto out;
	if (p->preset->flags & CX_OAUTH_LONG_LIVED) {
		if (open_field(k, c, "access", c->access, c->access_len, &secret, err) == 0)
			rc = meta_exchange(p, &cl, secret, "refresh_refused", timeout_ms, g, err);
		goto out;
	}
	if (open_field(k, c, "refresh", c->refresh, c->refresh_len, &secret, err) < 0)
		goto out;
	if (!(url = token_url(p, err)))
		goto out;
	form = cx_http_form("grant_type", "refresh_token", "refresh_token", secret,
	    "client_id", cl.id, "client_secret", form_secret(p, &cl), NULL);
	rc = token_call(p, &cl, url, form, "refresh_refused", timeout_ms, g, err);
	if (rc == 0) {
		g->rotated = g->refresh != NULL;
		if (!g->refresh)
			g->refresh = cx_xstrdup(secret);   /* not rotated: keep it */
	}
out:
	cx_secret_free(form);
	cx_secret_free(secret);
	free(url);
	client_free(&cl);
	return rc;
}

static void bind_blob(cx_stmt *st, int idx, const unsigned char *b, size_t len)
{
	if (b)
		cx_stmt_blob(st, idx, b, len);
	else
		cx_stmt_null(st, idx);
}

/* Records the outcome of a refresh with its audit row and counter, and
 * releases the lock, in one transaction. */
static int refresh_record(cx_store *s, const cx_tokenkeys *k, const cred *c,
    const char *me, const grant *g, const cx_err *failure, cx_err *err)
{
	int64_t now = cx_clock_now();
	char *subject = subject_of(c->provider, c->workspace);
	cx_audit_entry e = { .subject = subject };
	unsigned char *ab = NULL, *rb = NULL;
	size_t al = 0, rl = 0;
	char buf[48];
	cx_stmt *st;
	int rc = -1;

	e.detail = jv_object();
	e.detail = jv_object_set(e.detail, jv_string("provider"), jv_string(c->provider));
	e.detail = jv_object_set(e.detail, jv_string("workspace"), jv_string(c->workspace));
	e.detail = jv_object_set(e.detail, jv_string("account_id"), str_or_null(c->account_id));
	if (!failure && (seal_field(k, c->provider, c->workspace, "access", g->access,
	    &ab, &al, err) < 0 || (g->refresh && seal_field(k, c->provider, c->workspace,
	    "refresh", g->refresh, &rb, &rl, err) < 0)))
		goto out;
	if (cx_store_begin(s, err) < 0)
		goto out;
	if (!failure) {
		e.action = "token_refreshed";
		if (!(st = cx_store_prepare(s, sql_refresh_ok, err)))
			goto fail;
		cx_stmt_text(st, 1, c->provider);
		cx_stmt_text(st, 2, c->workspace);
		cx_stmt_blob(st, 3, ab, al);
		bind_blob(st, 4, rb, rl);
		cx_stmt_text(st, 5, cx_tokenkeys_id(k));
		if (g->expires_in >= 0)
			cx_stmt_int(st, 6, now + g->expires_in);
		else
			cx_stmt_null(st, 6);
		if (g->scope) {
			char *norm = scopes_normalize(g->scope);

			cx_stmt_text(st, 7, norm);
			free(norm);
		} else {
			cx_stmt_null(st, 7);
		}
		cx_stmt_int(st, 8, now);
		e.detail = jv_object_set(e.detail, jv_string("expires_at"),
		    time_or_null(g->expires_in >= 0, now + g->expires_in));
		e.detail = jv_object_set(e.detail, jv_string("refresh_token_rotated"),
		    jv_bool(g->rotated));
	} else {
		const char *reason = cx_oauth_reason(failure, buf);
		char *last = cx_xasprintf("%s", failure->msg);

		e.action = "token_refresh_failed";
		st = cx_store_prepare(s, failure->code == CX_EXIT_NOPERM ?
		    sql_refresh_refused : sql_refresh_failed, err);
		if (!st) {
			free(last);
			goto fail;
		}
		cx_stmt_text(st, 1, c->provider);
		cx_stmt_text(st, 2, c->workspace);
		cx_stmt_text(st, 3, last);
		cx_stmt_int(st, 4, now);
		free(last);
		e.detail = jv_object_set(e.detail, jv_string("reason"), jv_string(reason));
		e.detail = jv_object_set(e.detail, jv_string("marked_refresh_failed"),
		    jv_bool(failure->code == CX_EXIT_NOPERM));
	}
	if (cx_stmt_run(st, err) < 0 ||
	    lock_run(s, sql_lock_release, c, me, 0, err) < 0 ||
	    cx_audit_append(s, &e, err) < 0 ||
	    count(s, "cx_oauth_refresh_total", c->provider, failure ? "failed" : "ok", err) < 0)
		goto fail;
	rc = cx_store_commit(s, err);
	goto out;
fail:
	cx_store_rollback(s);
out:
	jv_free(e.detail);
	free(ab);
	free(rb);
	free(subject);
	return rc;
}

int cx_oauth_token(cx_store *s, const char *provider, const char *workspace,
    char **token, cx_err *err)
{
	cx_oauth_provider *p = NULL;
	cx_tokenkeys *keys = NULL;
	int64_t skew, ttl, waited_until = 0, attempts0 = -1;
	char me[48];
	cred c = { 0 };
	grant g = { 0 };
	cx_err failure = { 0, "" };
	int rc = -1;

	*token = NULL;
	if (config_seconds("CX_REFRESH_SKEW_SECONDS", 300, &skew, err) < 0 ||
	    config_seconds("CX_REFRESH_LOCK_TTL_SECONDS", 30, &ttl, err) < 0 ||
	    cx_oauth_provider_open(provider, &p, err) < 0)
		return -1;
	if (cx_tokenkeys_load(&keys, err) < 0) {
		cx_oauth_provider_free(p);
		return -1;
	}
	if (ttl < 2)
		ttl = 2;
	owner_id(me);
	for (;;) {
		int64_t now;
		int held;

		if (cx_store_begin(s, err) < 0)
			goto out;
		rc = cred_load(s, provider, workspace, &c, err);
		if (rc <= 0) {
			cx_store_rollback(s);
			if (rc == 0)
				cx_err_set(err, CX_EXIT_NOPERM, "not_connected: no %s credential "
				    "for workspace %s (cx-oauth authorize)", provider, workspace);
			rc = -1;
			goto out;
		}
		rc = -1;
		now = cx_clock_now();
		if (is_revoked(&c)) {
			cx_store_rollback(s);
			cx_err_set(err, CX_EXIT_NOPERM, "revoked: the %s credential of %s was "
			    "revoked; connect again with cx-oauth authorize", provider, workspace);
			goto out;
		}
		if (c.access && (!c.has_expiry || c.expires_at - now > skew)) {
			cx_store_rollback(s);
			if (open_field(keys, &c, "access", c.access, c.access_len, token, err) == 0)
				rc = 0;
			goto out;
		}
		if (refresh_refused(&c)) {
			cx_store_rollback(s);
			cx_err_set(err, CX_EXIT_NOPERM, "refresh_failed: the provider refused "
			    "to refresh the %s credential of %s; connect again with cx-oauth "
			    "authorize", provider, workspace);
			goto out;
		}
		if (!can_refresh(p, &c, now)) {
			cx_store_rollback(s);
			if (c.access && !is_expired(&c, now)) {
				/* within the skew and nothing to renew it with: still good */
				if (open_field(keys, &c, "access", c.access, c.access_len, token, err) == 0)
					rc = 0;
				goto out;
			}
			cx_err_set(err, CX_EXIT_NOPERM, "expired_no_refresh: the %s token of "
			    "%s expired and cannot be refreshed; connect again", provider,
			    workspace);
			goto out;
		}
		if (attempts0 >= 0 && c.attempts != attempts0) {
			/* the refresh we waited for failed, and not for good */
			cx_store_rollback(s);
			cx_err_set(err, CX_EXIT_TEMPFAIL, "refresh_unavailable: another "
			    "process's refresh just failed (%s); try again later",
			    c.last_error ? c.last_error : "unknown");
			goto out;
		}
		if ((held = lock_held(s, &c, me, now, err)) < 0) {
			cx_store_rollback(s);
			goto out;
		}
		if (held && (!waited_until || cx_clock_mono_ms() < waited_until)) {
			cx_store_rollback(s);
			if (!waited_until) {
				/* CX_NOW may stand still: the wait is bounded in real time */
				waited_until = cx_clock_mono_ms() + ttl * 1000;
				attempts0 = c.attempts;
			}
			cred_free(&c);
			{
				unsigned char j;

				cx_crypto_random(&j, 1);
				sleep_ms(POLL_MIN_MS + j % POLL_JITTER_MS);
			}
			continue;
		}
		if (lock_run(s, sql_lock_take, &c, me, now + ttl, err) < 0 ||
		    cx_store_commit(s, err) < 0) {
			cx_store_rollback(s);
			goto out;
		}
		break;
	}
	/* the lock is ours: one request, bounded inside the lock's life */
	if (renew(p, keys, &c, (long)(ttl - 1) * 1000, &g, &failure) < 0) {
		if (failure.code == CX_EXIT_CONFIG || failure.code == CX_EXIT_USAGE) {
			/* ours to fix, not the credential's: release and report */
			if (cx_store_begin(s, err) == 0) {
				if (lock_run(s, sql_lock_release, &c, me, 0, err) < 0)
					cx_store_rollback(s);
				else
					cx_store_commit(s, err);
			}
			*err = failure;
			goto out;
		}
		if (refresh_record(s, keys, &c, me, NULL, &failure, err) == 0)
			*err = failure;
		goto out;
	}
	if (refresh_record(s, keys, &c, me, &g, NULL, err) < 0)
		goto out;
	*token = g.access;
	g.access = NULL;
	rc = 0;
out:
	grant_free(&g);
	cred_free(&c);
	cx_tokenkeys_free(keys);
	cx_oauth_provider_free(p);
	return rc;
}

/* ---- revoke, rotate, service accounts --------------------------------- */

static const char sql_revoke[] =
    "UPDATE oauth_credentials SET status = 'revoked', access_token = NULL,"
    " refresh_token = NULL, expires_at = NULL, updated_at = ?3"
    " WHERE provider = ?1 AND workspace = ?2";

/* RFC 7662 after RFC 7009: whether the server now calls the revoked
 * token inactive ("inactive", "active"), or NULL when it has no
 * introspection or did not answer. */
static const char *revoke_confirm(cx_oauth_provider *p, const client *cl,
    const char *token, const char *hint)
{
	cx_err ignored;
	char *url = NULL;
	int active;

	if (cx_oauth_provider_endpoint(p, CX_OAUTH_EP_INTROSPECT, &url, &ignored) < 0 || !url)
		return NULL;
	active = introspect(p, cl, url, token, hint, NULL, &ignored);
	free(url);
	return active < 0 ? NULL : active ? "active" : "inactive";
}

/* Best effort at the provider: "ok", "failed" or "skipped"; *confirmed
 * is what introspection says afterwards (NULL: not asked). */
static const char *revoke_upstream(cx_oauth_provider *p, const cx_tokenkeys *k,
    const cred *c, const char **confirmed, cx_err *why)
{
	client cl = { 0 };
	char *token = NULL, *url = NULL, *form = NULL;
	const char *field = c->refresh && strcmp(c->kind, "user") == 0 ? "refresh" : "access";
	const char *hint = strcmp(field, "refresh") == 0 ? "refresh_token" : "access_token";
	const unsigned char *blob = strcmp(field, "refresh") == 0 ? c->refresh : c->access;
	size_t len = strcmp(field, "refresh") == 0 ? c->refresh_len : c->access_len;
	cx_http_request req = { 0 };
	cx_http_response r;
	const char *out = "failed";

	*confirmed = NULL;
	if (!blob || strcmp(c->kind, "service_account") == 0)
		return "skipped";
	if (cx_oauth_provider_endpoint(p, CX_OAUTH_EP_REVOKE, &url, why) < 0)
		return "failed";
	if (!url)
		return "skipped";
	if (open_field(k, c, field, blob, len, &token, why) < 0 ||
	    client_load(p, &cl, why) < 0)
		goto done;
	req.url = url;
	if (p->preset->flags & CX_OAUTH_REVOKE_DELETE) {
		req.method = "DELETE";
		req.bearer = token;
	} else {
		form = cx_http_form("token", token, "token_type_hint", hint,
		    "client_id", cl.id, "client_secret", form_secret(p, &cl), NULL);
		req.body = form;
		req.body_len = strlen(form);
		req.content_type = CX_HTTP_FORM;
		client_auth(p, &cl, &req);
	}
	if (cx_http_do(&req, &r, why) == 0) {
		if (r.status >= 200 && r.status <= 299)
			out = "ok";
		else
			upstream_error(&r, "the revocation endpoint", "revoke_refused", why);
	}
	cx_http_response_free(&r);
	if (strcmp(out, "ok") == 0)
		*confirmed = revoke_confirm(p, &cl, token, hint);
done:
	cx_secret_free(token);
	cx_secret_free(form);
	free(url);
	client_free(&cl);
	return out;
}

int cx_oauth_revoke(cx_store *s, const char *provider, const char *workspace,
    int local_only, jv *result, cx_err *err)
{
	cx_oauth_provider *p = NULL;
	cx_tokenkeys *keys = NULL;
	const char *upstream = "skipped", *confirmed = NULL;
	cx_err why = { 0, "" };
	char *subject = NULL;
	cx_audit_entry e = { .action = "token_revoked" };
	cred c = { 0 };
	cx_stmt *st;
	int rc;

	e.detail = jv_null();
	if (cx_oauth_provider_open(provider, &p, err) < 0)
		return -1;
	if ((rc = cred_load(s, provider, workspace, &c, err)) <= 0) {
		if (rc == 0)
			cx_err_set(err, CX_EXIT_NOPERM, "not_connected: no %s credential for "
			    "workspace %s", provider, workspace);
		cx_oauth_provider_free(p);
		return -1;
	}
	rc = -1;
	if (!local_only && !is_revoked(&c)) {
		if (cx_tokenkeys_load(&keys, err) < 0)
			goto out;
		upstream = revoke_upstream(p, keys, &c, &confirmed, &why);
	}
	subject = subject_of(provider, workspace);
	e.subject = subject;
	rc = -1;
	if (cx_store_begin(s, err) < 0)
		goto out;
	if (!(st = cx_store_prepare(s, sql_revoke, err)))
		goto fail;
	cx_stmt_text(st, 1, provider);
	cx_stmt_text(st, 2, workspace);
	cx_stmt_int(st, 3, cx_clock_now());
	if (cx_stmt_run(st, err) < 0 || !(st = cx_store_prepare(s, sql_lock_drop, err)))
		goto fail;
	cx_stmt_text(st, 1, provider);
	cx_stmt_text(st, 2, workspace);
	if (cx_stmt_run(st, err) < 0)
		goto fail;
	e.detail = jv_object();
	e.detail = jv_object_set(e.detail, jv_string("provider"), jv_string(provider));
	e.detail = jv_object_set(e.detail, jv_string("workspace"), jv_string(workspace));
	e.detail = jv_object_set(e.detail, jv_string("account_id"), str_or_null(c.account_id));
	e.detail = jv_object_set(e.detail, jv_string("upstream"), jv_string(upstream));
	if (confirmed)
		e.detail = jv_object_set(e.detail, jv_string("introspection"),
		    jv_string(confirmed));
	if (why.msg[0]) {
		char buf[48];

		e.detail = jv_object_set(e.detail, jv_string("upstream_reason"),
		    jv_string(cx_oauth_reason(&why, buf)));
	}
	if (cx_audit_append(s, &e, err) < 0 || cx_store_commit(s, err) < 0)
		goto fail;
	*result = jv_object();
	*result = jv_object_set(*result, jv_string("provider"), jv_string(provider));
	*result = jv_object_set(*result, jv_string("workspace"), jv_string(workspace));
	*result = jv_object_set(*result, jv_string("revoked"), jv_true());
	*result = jv_object_set(*result, jv_string("upstream"), jv_string(upstream));
	if (confirmed)
		*result = jv_object_set(*result, jv_string("introspection"), jv_string(confirmed));
	if (why.msg[0])
		*result = jv_object_set(*result, jv_string("upstream_error"), jv_string(why.msg));
	rc = 0;
	goto out;
fail:
	cx_store_rollback(s);
out:
	jv_free(e.detail);
	free(subject);
	cred_free(&c);
	cx_tokenkeys_free(keys);
	cx_oauth_provider_free(p);
	return rc;
}

static const char sql_rotate_creds[] =
    "SELECT " CRED_COLUMNS " FROM oauth_credentials ORDER BY provider, workspace";
static const char sql_rotate_cred[] =
    "UPDATE oauth_credentials SET access_token = ?3, refresh_token = ?4, key_id = ?5"
    " WHERE provider = ?1 AND workspace = ?2";
static const char sql_rotate_states[] =
    "SELECT state_hash, verifier FROM oauth_states WHERE verifier IS NOT NULL";
static const char sql_rotate_state[] =
    "UPDATE oauth_states SET verifier = ?2, key_id = ?3 WHERE state_hash = ?1";

/* Opens blob under old and seals it under new for the same aad. */
static int reseal(const cx_tokenkeys *old, const cx_tokenkeys *new_keys,
    const char *aad, const unsigned char *blob, size_t len, unsigned char **out,
    size_t *outlen, cx_err *err)
{
	char *plain = NULL;
	int rc;

	*out = NULL;
	*outlen = 0;
	if (!blob)
		return 0;
	if (cx_token_open(old, aad, blob, len, &plain, err) < 0)
		return -1;
	rc = cx_token_seal(new_keys, aad, plain, strlen(plain), out, outlen, err);
	cx_secret_free(plain);
	return rc;
}

static int rotate_creds(cx_store *s, const cx_tokenkeys *old,
    const cx_tokenkeys *new_keys, int64_t *n, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_rotate_creds, err);
	cred *all = NULL;
	size_t count_rows = 0, cap = 0;
	int rc;

	if (!st)
		return -1;
	while ((rc = cx_stmt_step(st, err)) == 1) {
		if (count_rows == cap)
			all = cx_xrealloc(all, (cap = cap ? cap * 2 : 8) * sizeof *all);
		cred_read(st, &all[count_rows++]);
	}
	cx_stmt_reset(st);
	for (size_t i = 0; rc == 0 && i < count_rows; i++) {
		cred *c = &all[i];
		unsigned char *ab = NULL, *rb = NULL;
		size_t al = 0, rl = 0;
		char *aa = aad_of(c->provider, c->workspace, "access");
		char *ra = aad_of(c->provider, c->workspace, "refresh");

		if (reseal(old, new_keys, aa, c->access, c->access_len, &ab, &al, err) < 0 ||
		    reseal(old, new_keys, ra, c->refresh, c->refresh_len, &rb, &rl, err) < 0 ||
		    !(st = cx_store_prepare(s, sql_rotate_cred, err))) {
			char msg[sizeof err->msg];

			snprintf(msg, sizeof msg, "%s", err->msg);
			cx_err_set(err, CX_EXIT_CONFIG, "config: %s:%s: %s", c->provider,
			    c->workspace, msg);
			rc = -1;
		} else {
			cx_stmt_text(st, 1, c->provider);
			cx_stmt_text(st, 2, c->workspace);
			bind_blob(st, 3, ab, al);
			bind_blob(st, 4, rb, rl);
			cx_stmt_text(st, 5, cx_tokenkeys_id(new_keys));
			rc = cx_stmt_run(st, err);
			(*n)++;
		}
		free(ab);
		free(rb);
		free(aa);
		free(ra);
	}
	for (size_t i = 0; i < count_rows; i++)
		cred_free(&all[i]);
	free(all);
	return rc;
}

static int rotate_states(cx_store *s, const cx_tokenkeys *old,
    const cx_tokenkeys *new_keys, int64_t *n, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_rotate_states, err);
	pending *all = NULL;
	char **hashes = NULL;
	size_t rows = 0, cap = 0;
	int rc;

	if (!st)
		return -1;
	while ((rc = cx_stmt_step(st, err)) == 1) {
		if (rows == cap) {
			cap = cap ? cap * 2 : 8;
			all = cx_xrealloc(all, cap * sizeof *all);
			hashes = cx_xrealloc(hashes, cap * sizeof *hashes);
		}
		memset(&all[rows], 0, sizeof *all);
		hashes[rows] = col_str(st, 0);
		all[rows].verifier = col_blob(st, 1, &all[rows].verifier_len);
		rows++;
	}
	cx_stmt_reset(st);
	for (size_t i = 0; rc == 0 && i < rows; i++) {
		unsigned char *b = NULL;
		size_t bl = 0;
		char *aad = cx_xasprintf("state:%s", hashes[i]);

		if (reseal(old, new_keys, aad, all[i].verifier, all[i].verifier_len, &b, &bl,
		    err) < 0 || !(st = cx_store_prepare(s, sql_rotate_state, err))) {
			rc = -1;
		} else {
			cx_stmt_text(st, 1, hashes[i]);
			bind_blob(st, 2, b, bl);
			cx_stmt_text(st, 3, cx_tokenkeys_id(new_keys));
			rc = cx_stmt_run(st, err);
			(*n)++;
		}
		free(b);
		free(aad);
	}
	for (size_t i = 0; i < rows; i++) {
		pending_free(&all[i]);
		free(hashes[i]);
	}
	free(all);
	free(hashes);
	return rc;
}

int cx_oauth_rotate_key(cx_store *s, const cx_tokenkeys *new_keys, jv *result,
    cx_err *err)
{
	cx_tokenkeys *old = NULL;
	cx_audit_entry e = { .action = "token_key_rotated" };
	int64_t creds = 0, states = 0;
	int rc = -1;

	e.detail = jv_null();
	if (cx_tokenkeys_load(&old, err) < 0)
		return -1;
	if (strcmp(cx_tokenkeys_id(old), cx_tokenkeys_id(new_keys)) == 0) {
		cx_tokenkeys_free(old);
		return cx_err_set(err, CX_EXIT_USAGE,
		    "usage: the new key is the current CX_TOKEN_KEY (key id %s)",
		    cx_tokenkeys_id(old));
	}
	if (cx_store_begin(s, err) < 0)
		goto out;
	if (rotate_creds(s, old, new_keys, &creds, err) < 0 ||
	    rotate_states(s, old, new_keys, &states, err) < 0)
		goto fail;
	e.detail = jv_object();
	e.detail = jv_object_set(e.detail, jv_string("from_key_id"),
	    jv_string(cx_tokenkeys_id(old)));
	e.detail = jv_object_set(e.detail, jv_string("to_key_id"),
	    jv_string(cx_tokenkeys_id(new_keys)));
	e.detail = jv_object_set(e.detail, jv_string("credentials"), jv_number((double)creds));
	e.detail = jv_object_set(e.detail, jv_string("states"), jv_number((double)states));
	if (cx_audit_append(s, &e, err) < 0 || cx_store_commit(s, err) < 0)
		goto fail;
	*result = jv_object();
	*result = jv_object_set(*result, jv_string("rotated"), jv_number((double)creds));
	*result = jv_object_set(*result, jv_string("states"), jv_number((double)states));
	*result = jv_object_set(*result, jv_string("from_key_id"),
	    jv_string(cx_tokenkeys_id(old)));
	*result = jv_object_set(*result, jv_string("key_id"),
	    jv_string(cx_tokenkeys_id(new_keys)));
	rc = 0;
	goto out;
fail:
	cx_store_rollback(s);
out:
	jv_free(e.detail);
	cx_tokenkeys_free(old);
	return rc;
}

int cx_oauth_service_account(cx_store *s, const char *provider,
    const char *workspace, const char *scopes, const char *subject, jv *status,
    cx_err *err)
{
	cx_oauth_provider *p = NULL;
	cx_tokenkeys *keys = NULL;
	char *json = NULL, *token_uri = NULL, *url = NULL, *scope = NULL, *meta = NULL;
	sa_key key = { 0 };
	grant g = { 0 };
	jv m;
	int rc = -1, got;

	if (!workspace || !*workspace || !scopes)
		return cx_err_set(err, CX_EXIT_USAGE, "usage: a workspace and scopes are required");
	if (cx_oauth_provider_open(provider, &p, err) < 0)
		return -1;
	if (!(p->preset->flags & CX_OAUTH_SERVICE_ACCOUNTS)) {
		cx_oauth_provider_free(p);
		return cx_err_set(err, CX_EXIT_USAGE,
		    "usage: service accounts are Google's (--provider google)");
	}
	if (cx_tokenkeys_load(&keys, err) < 0)
		goto out;
	got = cx_secret_get("CX_GOOGLE_SERVICE_ACCOUNT_KEY", &json, err);
	if (got == 0)
		cx_err_set(err, CX_EXIT_CONFIG, "config: CX_GOOGLE_SERVICE_ACCOUNT_KEY (or "
		    "CX_GOOGLE_SERVICE_ACCOUNT_KEY_FILE) is not set");
	if (got <= 0 || sa_key_parse(json, &key, &token_uri, err) < 0)
		goto out;
	scope = scopes_normalize(scopes);
	url = sa_token_url(p, token_uri, err);
	if (!url)
		goto out;
	if (sa_grant(p, &key, scope, subject, url, "service_account_refused", 0, &g,
	    err) < 0) {
		if (err->code == CX_EXIT_NOPERM)
			refuse(s, p->name, workspace, err);
		goto out;
	}
	{
		/* the sealed secret is the key alone, not the whole file */
		jv k = jv_object();
		char *sealed;

		k = jv_object_set(k, jv_string("type"), jv_string("service_account"));
		k = jv_object_set(k, jv_string("client_email"), jv_string(key.email));
		k = jv_object_set(k, jv_string("private_key"), jv_string(key.private_key));
		if (key.key_id)
			k = jv_object_set(k, jv_string("private_key_id"), jv_string(key.key_id));
		sealed = cx_json_dump(k);
		m = jv_object();
		if (subject)
			m = jv_object_set(m, jv_string("subject"), jv_string(subject));
		if (token_uri)
			m = jv_object_set(m, jv_string("token_uri"), jv_string(token_uri));
		meta = cx_json_dump(m);
		{
			new_cred n = { .kind = "service_account", .account_id = key.email,
				.username = subject ? subject : key.email,
				.scopes = g.scope ? g.scope : scope, .meta = meta,
				.access = g.access, .refresh = sealed };

			rc = cred_store(s, keys, p, workspace, &n, g.expires_in, err);
		}
		cx_secret_free(sealed);
	}
	if (rc == 0)
		*status = status_of(s, p->name, workspace);
out:
	cx_secret_free(json);
	free(token_uri);
	free(url);
	free(scope);
	free(meta);
	sa_key_free(&key);
	grant_free(&g);
	cx_tokenkeys_free(keys);
	cx_oauth_provider_free(p);
	return rc;
}
