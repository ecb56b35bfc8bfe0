/* oauthprovider.h: who cx-oauth talks to. A provider is a preset (x,
 * google, meta: endpoints, scopes, client authentication, the identity
 * call and extra grant steps, as data) or a generic RFC 6749 server named
 * by the user and configured by CX_OAUTH_<NAME>_* (NAME upper-cased, every
 * other character than a letter or digit as "_"). Both are the same
 * struct, read by the same flow in oauth.c. Settings are CX_<P>_<WHAT> for
 * a preset (CX_X_TOKEN_URL) and CX_OAUTH_<NAME>_<WHAT> otherwise.
 *
 * Endpoints resolve in one order: the setting (<...>_TOKEN_URL), then the
 * preset's default, then the server's metadata when <...>_ISSUER is set
 * (OpenID discovery at ISSUER/.well-known/openid-configuration, else RFC
 * 8414's /.well-known/oauth-authorization-server). Metadata is fetched at
 * most once per provider handle, i.e. once per run and only when a run
 * needs an endpoint the settings do not give; nothing is cached across
 * runs, so a server's new metadata is seen on the next run.
 *
 * cx_oauth_provider_open returns a handle the caller frees with
 * cx_oauth_provider_free; URLs handed out are new (free them). */
#ifndef CX_OAUTHPROVIDER_H
#define CX_OAUTHPROVIDER_H

#include <jv.h>

#include "err.h"

enum {
	CX_OAUTH_PKCE = 1,          /* S256 code challenge */
	CX_OAUTH_OFFLINE = 2,       /* Google: access_type=offline&prompt=consent */
	CX_OAUTH_LONG_LIVED = 4,    /* Meta: fb_exchange_token, no refresh token */
	CX_OAUTH_PERMISSIONS = 8,   /* Meta: granted scopes from /me/permissions */
	CX_OAUTH_SERVICE_ACCOUNTS = 16, /* Google: JWT bearer grant */
	CX_OAUTH_REVOKE_DELETE = 32, /* Meta: revoke is DELETE with the token as bearer */
};

typedef enum {
	CX_OAUTH_AUTH_BASIC,        /* client_secret_basic */
	CX_OAUTH_AUTH_POST,         /* client_secret_post */
	CX_OAUTH_AUTH_NONE,         /* a public client: client_id only */
} cx_oauth_auth;

typedef enum {
	CX_OAUTH_EP_AUTHORIZE,
	CX_OAUTH_EP_TOKEN,
	CX_OAUTH_EP_REVOKE,
	CX_OAUTH_EP_INTROSPECT,
	CX_OAUTH_EP_IDENTITY,       /* the preset's identity call, or OpenID userinfo */
} cx_oauth_endpoint;

/* The data of a preset; a generic provider uses the all-NULL one. */
typedef struct {
	const char *name, *env;         /* env: the settings' prefix, "CX_X" */
	const char *authorize_url;      /* "{v}": the Graph API version */
	const char *token_url;          /* NULL: API base + token_path */
	const char *token_path;
	const char *revoke_path;        /* at the API base; NULL: beside the token URL */
	const char *api_base, *identity_path;
	const char *identity_wrap;      /* the identity object is under this key */
	const char *id_field, *name_fields;   /* name_fields: first one present wins */
	const char *default_scopes, *required_scopes;
	char scope_sep;                 /* between scopes in the authorize URL */
	cx_oauth_auth auth;
	int flags;
} cx_oauth_preset;

typedef struct {
	char *name;
	char env[64];                   /* "CX_X", "CX_OAUTH_ACME" */
	const cx_oauth_preset *preset;
	int generic;
	cx_oauth_auth auth;
	jv metadata;                    /* the server's; jv_null() until fetched */
	int fetched;
} cx_oauth_provider;

/* Whether name is a preset, or a generic name with settings (_ISSUER,
 * _AUTHORIZE_URL or _TOKEN_URL). */
int cx_oauth_provider_known(const char *name);

/* The handle for name: a preset, or a generic provider when name is a
 * valid one (letters, digits, ".", "_", "-"; 64 usage otherwise). Reads
 * _AUTH_METHOD (78 when it is not one of the three). No network. */
int cx_oauth_provider_open(const char *name, cx_oauth_provider **p, cx_err *err);
void cx_oauth_provider_free(cx_oauth_provider *p);

/* The setting <env>_<what>, or NULL. */
const char *cx_oauth_provider_setting(const cx_oauth_provider *p, const char *what);

/* The endpoint's URL in *url, or NULL when the provider has none (revoke,
 * introspect, identity are optional; authorize and token are 78 when
 * missing). May fetch the metadata: 75 transport or 5xx, 78 when the
 * document is not the issuer's. */
int cx_oauth_provider_endpoint(cx_oauth_provider *p, cx_oauth_endpoint which,
    char **url, cx_err *err);

/* The issuer cx expects in an authorization response (RFC 9207), or NULL
 * when none is configured; *required when the server advertises
 * authorization_response_iss_parameter_supported. */
int cx_oauth_provider_issuer(cx_oauth_provider *p, const char **issuer,
    int *required, cx_err *err);

/* An API URL of a preset: its base (<env>_API_BASE overrides) + path, with
 * "{v}" replaced by CX_GRAPH_API_VERSION. */
char *cx_oauth_provider_api_url(const cx_oauth_provider *p, const char *path);

#endif
