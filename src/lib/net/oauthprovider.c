/* oauthprovider.c: the provider handle over a preset (the presets live
 * in src/providers/) or a generic provider from CX_OAUTH_<NAME>_*,
 * endpoint resolution and the server metadata (OpenID discovery, RFC
 * 8414), fetched once per handle. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "exit.h"
#include "http.h"
#include "json.h"
#include "oauthprovider.h"
#include "url.h"
#include "xalloc.h"

#define NAME_MAX_LEN 40
#define METADATA_MAX_BODY (256 * 1024)

/* Any RFC 6749 server: every endpoint from settings or metadata, the
 * identity from OpenID userinfo when the grant has openid. */
static const cx_oauth_preset generic = {
	.id_field = "sub", .name_fields = "preferred_username email name",
	.default_scopes = "", .required_scopes = "", .scope_sep = ' ',
	.auth = CX_OAUTH_AUTH_BASIC, .pkce = 1,
};

int cx_oauth_provider_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > NAME_MAX_LEN || !isalnum((unsigned char)name[0]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
			return 0;
	return 1;
}

static void env_of(const char *name, char out[64])
{
	size_t n = (size_t)snprintf(out, 64, "CX_OAUTH_");

	for (; *name && n < 63; name++)
		out[n++] = isalnum((unsigned char)*name) ? (char)toupper((unsigned char)*name) : '_';
	out[n] = '\0';
}

static const char *setting_in(const char *env, const char *what)
{
	char name[128];

	snprintf(name, sizeof name, "%s_%s", env, what);
	return cx_config_get(name, NULL);
}

int cx_oauth_provider_configured(const char *name)
{
	char env[64];

	if (!cx_oauth_provider_name_valid(name))
		return 0;
	env_of(name, env);
	return setting_in(env, "ISSUER") || setting_in(env, "AUTHORIZE_URL") ||
	    setting_in(env, "TOKEN_URL");
}

const char *cx_oauth_provider_setting(const cx_oauth_provider *p, const char *what)
{
	return setting_in(p->env, what);
}

int cx_oauth_provider_open(const cx_oauth_preset *pre, const char *name,
    cx_oauth_provider **out, cx_err *err)
{
	cx_oauth_provider *p;
	const char *m;

	*out = NULL;
	p = cx_xcalloc(1, sizeof *p);
	p->name = cx_xstrdup(pre ? pre->name : name);
	p->preset = pre ? pre : &generic;
	p->generic = !pre;
	if (pre)
		snprintf(p->env, sizeof p->env, "%s", pre->env);
	else
		env_of(name, p->env);
	p->auth = p->preset->auth;
	p->metadata = jv_null();
	if ((m = cx_oauth_provider_setting(p, "AUTH_METHOD"))) {
		if (strcmp(m, "client_secret_basic") == 0) {
			p->auth = CX_OAUTH_AUTH_BASIC;
		} else if (strcmp(m, "client_secret_post") == 0) {
			p->auth = CX_OAUTH_AUTH_POST;
		} else if (strcmp(m, "none") == 0) {
			p->auth = CX_OAUTH_AUTH_NONE;
		} else {
			cx_err_set(err, CX_EXIT_CONFIG, "config: %s_AUTH_METHOD wants "
			    "client_secret_basic, client_secret_post or none", p->env);
			cx_oauth_provider_free(p);
			return -1;
		}
	}
	*out = p;
	return 0;
}

void cx_oauth_provider_free(cx_oauth_provider *p)
{
	if (!p)
		return;
	free(p->name);
	jv_free(p->metadata);
	free(p);
}

/* text with every "{v}" replaced by the Graph API version. */
static char *expand(const char *text)
{
	const char *v = cx_config_get("CX_GRAPH_API_VERSION", "v24.0");
	const char *at = strstr(text, "{v}");
	char *head, *out;

	if (!at)
		return cx_xstrdup(text);
	head = cx_xstrndup(text, (size_t)(at - text));
	out = cx_xasprintf("%s%s%s", head, v, at + 3);
	free(head);
	return out;
}

char *cx_oauth_provider_api_url(const cx_oauth_provider *p, const char *path)
{
	const char *b = cx_oauth_provider_setting(p, "API_BASE");
	char *base, *tail, *out;

	if (!b && p->preset->api_base_setting)
		b = cx_config_get(p->preset->api_base_setting, NULL);
	base = cx_url_base(b ? b : p->preset->api_base ? p->preset->api_base : "");
	tail = expand(path);
	out = cx_xasprintf("%s%s", base, tail);
	free(base);
	free(tail);
	return out;
}

/* ---- server metadata ------------------------------------------------- */

/* One metadata document: 1 with *doc, 0 when the server has none there
 * (404 and other 4xx), -1 with err. */
static int metadata_get(const char *url, jv *doc, cx_err *err)
{
	cx_http_request req = { .url = url, .max_body = METADATA_MAX_BODY,
		.headers = (const char *const[]){ "Accept: application/json", NULL } };
	cx_http_response r;
	char *where = cx_url_for_log(url);
	int rc = 1;

	*doc = jv_invalid();
	if (cx_http_do(&req, &r, err) < 0) {
		char msg[sizeof err->msg];

		snprintf(msg, sizeof msg, "%s", err->msg);
		rc = cx_err_set(err, CX_EXIT_TEMPFAIL, "upstream_unreachable: %s", msg);
	} else if (r.status >= 400 && r.status <= 499) {
		rc = 0;
	} else if (r.status < 200 || r.status > 299) {
		rc = cx_err_set(err, CX_EXIT_TEMPFAIL, "upstream_unavailable: the metadata "
		    "at %s answered HTTP %ld", where, r.status);
	} else if (jv_get_kind(*doc = cx_http_json(&r)) != JV_KIND_OBJECT) {
		jv_free(*doc);
		*doc = jv_invalid();
		rc = cx_err_set(err, CX_EXIT_CONFIG, "config: the metadata at %s is not a "
		    "JSON object", where);
	}
	cx_http_response_free(&r);
	free(where);
	return rc;
}

/* RFC 8414 §3: the well-known segment goes between host and path. */
static char *rfc8414_url(const char *issuer)
{
	const char *host = strstr(issuer, "://");
	const char *path = host ? strchr(host + 3, '/') : NULL;
	char *head;
	char *out;

	if (!path)
		return cx_xasprintf("%s/.well-known/oauth-authorization-server", issuer);
	head = cx_xstrndup(issuer, (size_t)(path - issuer));
	out = cx_xasprintf("%s/.well-known/oauth-authorization-server%s", head,
	    strcmp(path, "/") == 0 ? "" : path);
	free(head);
	return out;
}

static int metadata_fetch(cx_oauth_provider *p, cx_err *err)
{
	const char *issuer = cx_oauth_provider_setting(p, "ISSUER");
	char *base, *url;
	const char *named;
	int rc;

	if (p->fetched)
		return 0;
	if (!issuer) {
		p->fetched = 1;
		return 0;
	}
	base = cx_url_base(issuer);
	url = cx_xasprintf("%s/.well-known/openid-configuration", base);
	rc = metadata_get(url, &p->metadata, err);
	free(url);
	if (rc == 0) {
		url = rfc8414_url(base);
		rc = metadata_get(url, &p->metadata, err);
		free(url);
	}
	free(base);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return cx_err_set(err, CX_EXIT_CONFIG, "config: %s_ISSUER %s has no "
		    "metadata (neither OpenID discovery nor RFC 8414)", p->env, issuer);
	named = cx_json_str(p->metadata, "issuer");
	if (!named || strcmp(named, issuer) != 0) {
		/* OpenID Discovery §4.3, RFC 8414 §3.3: a mix-up otherwise */
		cx_err_set(err, CX_EXIT_CONFIG, "config: the metadata of %s_ISSUER %s names "
		    "another issuer (%s)", p->env, issuer, named ? named : "none");
		jv_free(p->metadata);
		p->metadata = jv_null();
		return -1;
	}
	p->fetched = 1;
	return 0;
}

/* ---- endpoints ------------------------------------------------------- */

static char *preset_token_url(const cx_oauth_provider *p)
{
	if (p->preset->token_url)
		return cx_xstrdup(p->preset->token_url);
	return p->preset->token_path ? cx_oauth_provider_api_url(p, p->preset->token_path) : NULL;
}

/* X and Google revoke beside their token endpoint (".../token" ->
 * ".../revoke"). */
static char *beside_token(const char *token)
{
	const char *slash = strrchr(token, '/');
	char *head, *out;

	if (!slash || strcmp(slash, "/token") != 0)
		return NULL;
	head = cx_xstrndup(token, (size_t)(slash - token));
	out = cx_xasprintf("%s/revoke", head);
	free(head);
	return out;
}

static const struct {
	const char *setting, *metadata;
	int required;
} endpoint_names[] = {
	[CX_OAUTH_EP_AUTHORIZE] = { "AUTHORIZE_URL", "authorization_endpoint", 1 },
	[CX_OAUTH_EP_TOKEN] = { "TOKEN_URL", "token_endpoint", 1 },
	[CX_OAUTH_EP_REVOKE] = { "REVOKE_URL", "revocation_endpoint", 0 },
	[CX_OAUTH_EP_INTROSPECT] = { "INTROSPECT_URL", "introspection_endpoint", 0 },
	[CX_OAUTH_EP_IDENTITY] = { "USERINFO_URL", "userinfo_endpoint", 0 },
};

static char *preset_endpoint(cx_oauth_provider *p, cx_oauth_endpoint which)
{
	const cx_oauth_preset *pre = p->preset;
	char *token, *out;

	if (p->generic)
		return NULL;
	switch (which) {
	case CX_OAUTH_EP_AUTHORIZE:
		return expand(pre->authorize_url);
	case CX_OAUTH_EP_TOKEN:
		return preset_token_url(p);
	case CX_OAUTH_EP_REVOKE:
		if (pre->revoke_path)
			return cx_oauth_provider_api_url(p, pre->revoke_path);
		if (cx_oauth_provider_endpoint(p, CX_OAUTH_EP_TOKEN, &token, NULL) < 0 || !token)
			return NULL;
		out = beside_token(token);
		free(token);
		return out;
	case CX_OAUTH_EP_IDENTITY:
		return cx_oauth_provider_api_url(p, pre->identity_path);
	case CX_OAUTH_EP_INTROSPECT:
		break;
	}
	return NULL;
}

int cx_oauth_provider_endpoint(cx_oauth_provider *p, cx_oauth_endpoint which,
    char **url, cx_err *err)
{
	const char *set = cx_oauth_provider_setting(p, endpoint_names[which].setting);
	cx_err ignored;
	const char *found;

	*url = NULL;
	if (!err)
		err = &ignored;
	if (set) {
		*url = which == CX_OAUTH_EP_AUTHORIZE ? expand(set) : cx_xstrdup(set);
		return 0;
	}
	if ((*url = preset_endpoint(p, which)))
		return 0;
	if (metadata_fetch(p, err) < 0)
		return -1;
	found = jv_get_kind(p->metadata) == JV_KIND_OBJECT ?
	    cx_json_str(p->metadata, endpoint_names[which].metadata) : NULL;
	if (found && *found) {
		*url = cx_xstrdup(found);
		return 0;
	}
	if (endpoint_names[which].required)
		return cx_err_set(err, CX_EXIT_CONFIG, "config: %s_%s is not set (nor %s_ISSUER "
		    "with a %s in its metadata)", p->env, endpoint_names[which].setting, p->env,
		    endpoint_names[which].metadata);
	return 0;
}

int cx_oauth_provider_issuer(cx_oauth_provider *p, const char **issuer,
    int *required, cx_err *err)
{
	jv flag;

	*issuer = cx_oauth_provider_setting(p, "ISSUER");
	*required = 0;
	if (!*issuer)
		return 0;
	if (metadata_fetch(p, err) < 0)
		return -1;
	flag = jv_object_get(jv_copy(p->metadata), jv_string(
	    "authorization_response_iss_parameter_supported"));
	*required = jv_get_kind(flag) == JV_KIND_TRUE;
	jv_free(flag);
	return 0;
}
