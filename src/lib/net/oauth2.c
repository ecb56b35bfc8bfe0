/* oauth2.c: the OAuth 2 wire protocol (RFC 6749 and friends) with no
 * SQL: the client and its authentication, the token endpoint and the
 * grant it answers, upstream errors, introspection (RFC 7662), the
 * identity call, revocation (RFC 7009), scope strings. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "crypto.h"
#include "exit.h"
#include "http.h"
#include "json.h"
#include "oauth2.h"
#include "xalloc.h"

/* The client's id and, unless it is a public client (auth none), its
 * secret. */
int cx_oauth_client_load(const cx_oauth_provider *p, cx_oauth_client *c,
    cx_err *err)
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
const char *cx_oauth_client_form_secret(const cx_oauth_provider *p,
    const cx_oauth_client *c)
{
	return p->auth == CX_OAUTH_AUTH_POST ? c->secret : NULL;
}

/* HTTP Basic for client_secret_basic. */
void cx_oauth_client_auth(const cx_oauth_provider *p, const cx_oauth_client *c,
    cx_http_request *req)
{
	if (c && p->auth == CX_OAUTH_AUTH_BASIC) {
		req->basic_user = c->basic_id;
		req->basic_password = c->basic_secret;
	}
}

void cx_oauth_client_free(cx_oauth_client *c)
{
	cx_secret_free(c->secret);
	free(c->basic_id);
	cx_secret_free(c->basic_secret);
	memset(c, 0, sizeof *c);
}

/* The words of in (separated by any of seps) joined by spaces; with
 * granted, only those that granted lacks. */
static char *scope_words(const char *in, const char *seps, const char *granted)
{
	jv out = jv_string("");
	char *s;

	while (*in) {
		size_t n;

		in += strspn(in, seps);
		n = strcspn(in, seps);
		if (n && !(granted && cx_oauth_scope_has(granted, in, n))) {
			if (jv_string_length_bytes(jv_copy(out)) > 0)
				out = jv_string_append_str(out, " ");
			out = jv_string_append_buf(out, in, (int)n);
		}
		in += n;
	}
	s = cx_xstrdup(jv_string_value(out));
	jv_free(out);
	return s;
}

/* Scopes given with spaces or commas, as one space-separated string. */
char *cx_oauth_scopes_normalize(const char *in)
{
	return scope_words(in, " ,\t\n", NULL);
}

char *cx_oauth_scopes_join(const char *scopes, char sep)
{
	char *s = cx_xstrdup(scopes);

	for (char *p = s; *p; p++)
		if (*p == ' ')
			*p = sep;
	return s;
}

int cx_oauth_scope_has(const char *scopes, const char *one, size_t n)
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
char *cx_oauth_scopes_missing(const char *granted, const char *required)
{
	return scope_words(required, " ", granted);
}

jv cx_oauth_scopes_array(const char *scopes)
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
char *cx_oauth2_take_secret(jv obj, const char *key)
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

char *cx_oauth2_take_string(jv obj, const char *key)
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

/* A transport failure (err already set by http) as a reasoned 75. */
int cx_oauth2_transport_error(cx_err *err)
{
	char msg[sizeof err->msg];

	snprintf(msg, sizeof msg, "%s", err->msg);
	return cx_err_set(err, CX_EXIT_TEMPFAIL, "upstream_unreachable: %s", msg);
}

/* A non-2xx answer: 400/401 are refusals (77, reason refused); 429, 5xx and
 * the rest are temporary (75). */
int cx_oauth2_upstream_error(const cx_http_response *r, const char *what,
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

void cx_oauth_grant_free(cx_oauth_grant *g)
{
	cx_secret_free(g->access);
	cx_secret_free(g->refresh);
	free(g->scope);
	memset(g, 0, sizeof *g);
}

/* POSTs form to the token endpoint and reads a token response into g.
 * timeout_ms 0: http's default. */
int cx_oauth2_token_call(const cx_oauth_provider *p, const cx_oauth_client *c,
    const char *url, const char *form, const char *refused, long timeout_ms,
    cx_oauth_grant *g, cx_err *err)
{
	cx_http_request req = { .url = url, .body = form, .body_len = strlen(form),
		.content_type = CX_HTTP_FORM, .timeout_ms = timeout_ms };
	cx_http_response r;
	jv body, ei;
	int rc = 0;

	memset(g, 0, sizeof *g);
	g->expires_in = -1;
	cx_oauth_client_auth(p, c, &req);
	if (cx_http_do(&req, &r, err) < 0) {
		cx_http_response_free(&r);
		return cx_oauth2_transport_error(err);
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
		rc = cx_oauth2_upstream_error(&r, "the token endpoint", refused, err);
		jv_free(body);
		cx_http_response_free(&r);
		return rc;
	}
	g->access = cx_oauth2_take_secret(body, "access_token");
	g->refresh = cx_oauth2_take_secret(body, "refresh_token");
	g->scope = cx_oauth2_take_string(body, "scope");
	ei = jv_object_get(jv_copy(body), jv_string("expires_in"));
	if (jv_get_kind(ei) == JV_KIND_NUMBER)
		g->expires_in = (int64_t)jv_number_value(ei);
	else if (jv_get_kind(ei) == JV_KIND_STRING)
		g->expires_in = strtoll(jv_string_value(ei), NULL, 10);
	jv_free(ei);
	jv_free(body);
	cx_http_response_free(&r);
	if (!g->access || !*g->access) {
		cx_oauth_grant_free(g);
		return cx_err_set(err, CX_EXIT_TEMPFAIL,
		    "upstream_unavailable: the token endpoint answered without an access_token");
	}
	return 0;
}

void cx_oauth_identity_free(cx_oauth_identity *id)
{
	free(id->id);
	free(id->username);
	free(id->scopes);
	memset(id, 0, sizeof *id);
}

int cx_oauth2_api_get(const char *url, const char *token, cx_http_response *r,
    const char *what, cx_err *err)
{
	cx_http_request req = { .url = url, .bearer = token,
		.headers = (const char *const[]){ "Accept: application/json", NULL } };

	if (cx_http_do(&req, r, err) < 0) {
		cx_http_response_free(r);
		return cx_oauth2_transport_error(err);
	}
	if (r->status == 429 || r->status >= 500) {
		cx_oauth2_upstream_error(r, what, "identity_failed", err);
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

/* RFC 7662: asks the server whether token is active. 1 active, 0 not,
 * -1 with err; *answer (when given) is the server's object. */
int cx_oauth2_introspect(const cx_oauth_provider *p, const cx_oauth_client *c,
    const char *url, const char *token, const char *hint, jv *answer, cx_err *err)
{
	char *form = cx_http_form("token", token, "token_type_hint", hint,
	    "client_id", c->id, "client_secret", cx_oauth_client_form_secret(p, c), NULL);
	cx_http_request req = { .url = url, .body = form, .body_len = strlen(form),
		.content_type = CX_HTTP_FORM,
		.headers = (const char *const[]){ "Accept: application/json", NULL } };
	cx_http_response r;
	jv body = jv_invalid(), active;
	int rc;

	cx_oauth_client_auth(p, c, &req);
	if (cx_http_do(&req, &r, err) < 0) {
		rc = cx_oauth2_transport_error(err);
	} else if (r.status < 200 || r.status > 299) {
		rc = cx_oauth2_upstream_error(&r, "the introspection endpoint",
		    "introspection_refused", err);
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

		out = cx_oauth2_take_string(obj, key);
		free(key);
		keys += n;
		keys += strspn(keys, " ");
	}
	return out;
}

/* A generic server without userinfo: the introspection's sub and
 * username, or no identity at all when it has no introspection either. */
static int identity_by_introspection(cx_oauth_provider *p, const cx_oauth_client *c,
    const char *token, cx_oauth_identity *id, cx_err *err)
{
	char *url = NULL;
	jv answer = jv_null();
	int rc;

	if (cx_oauth_provider_endpoint(p, CX_OAUTH_EP_INTROSPECT, &url, err) < 0)
		return -1;
	if (!url)
		return 0;
	rc = cx_oauth2_introspect(p, c, url, token, "access_token", &answer, err);
	free(url);
	if (rc == 0)
		cx_err_set(err, CX_EXIT_NOPERM, "identity_failed: the introspection "
		    "endpoint says the new access token is not active");
	if (rc == 1) {
		id->id = cx_oauth2_take_string(answer, "sub");
		id->username = take_first(answer, "username preferred_username");
	}
	jv_free(answer);
	return rc == 1 ? 0 : -1;
}

/* Who the token belongs to: the preset's identity call (X /2/users/me,
 * Google userinfo, Meta /me and its permissions); for a generic server
 * OpenID userinfo when the grant has openid, else its introspection. */
int cx_oauth2_identity(cx_oauth_provider *p, const cx_oauth_client *c,
    const char *token, const char *granted, cx_oauth_identity *id, cx_err *err)
{
	char *url = NULL;
	cx_http_response r;
	jv body, obj;
	int rc;

	memset(id, 0, sizeof *id);
	if (p->generic && !cx_oauth_scope_has(granted, "openid", 6))
		return identity_by_introspection(p, c, token, id, err);
	if (cx_oauth_provider_endpoint(p, CX_OAUTH_EP_IDENTITY, &url, err) < 0)
		return -1;
	if (!url)
		return identity_by_introspection(p, c, token, id, err);
	rc = cx_oauth2_api_get(url, token, &r, "the identity endpoint", err);
	free(url);
	if (rc < 0)
		return -1;
	body = cx_http_json(&r);
	cx_http_response_free(&r);
	obj = p->preset->identity_wrap && jv_get_kind(body) == JV_KIND_OBJECT ?
	    jv_object_get(jv_copy(body), jv_string(p->preset->identity_wrap)) : jv_copy(body);
	if (jv_get_kind(obj) == JV_KIND_OBJECT) {
		id->id = cx_oauth2_take_string(obj, p->preset->id_field);
		id->username = take_first(obj, p->preset->name_fields);
	}
	jv_free(obj);
	jv_free(body);
	if (!id->id || !*id->id) {
		cx_oauth_identity_free(id);
		return cx_err_set(err, CX_EXIT_NOPERM,
		    "identity_failed: the identity endpoint answered without an account id");
	}
	if (p->preset->granted_scopes &&
	    p->preset->granted_scopes(p, token, &id->scopes, err) < 0) {
		cx_oauth_identity_free(id);
		return -1;
	}
	return 0;
}

/* The token endpoint's URL, or NULL with err (78 when there is none). */
char *cx_oauth2_token_url(cx_oauth_provider *p, cx_err *err)
{
	char *url = NULL;

	cx_oauth_provider_endpoint(p, CX_OAUTH_EP_TOKEN, &url, err);
	return url;
}

int cx_oauth2_revoke(const cx_oauth_provider *p, const cx_oauth_client *cl,
    const char *url, const char *token, const char *hint, cx_err *why)
{
	cx_http_request req = { 0 };
	cx_http_response r;
	char *form = NULL;
	int rc = -1;

	req.url = url;
	if (p->preset->revoke == CX_OAUTH_REVOKE_DELETE) {
		req.method = "DELETE";
		req.bearer = token;
	} else {
		form = cx_http_form("token", token, "token_type_hint", hint,
		    "client_id", cl->id, "client_secret", cx_oauth_client_form_secret(p, cl),
		    NULL);
		req.body = form;
		req.body_len = strlen(form);
		req.content_type = CX_HTTP_FORM;
		cx_oauth_client_auth(p, cl, &req);
	}
	if (cx_http_do(&req, &r, why) == 0) {
		if (r.status >= 200 && r.status <= 299)
			rc = 0;
		else
			cx_oauth2_upstream_error(&r, "the revocation endpoint", "revoke_refused",
			    why);
	}
	cx_http_response_free(&r);
	cx_secret_free(form);
	return rc;
}
