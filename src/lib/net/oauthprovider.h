/* oauthprovider.h: who cx-oauth talks to, and the OAuth preset interface.
 * A provider is a preset (a cx_oauth_preset object exported by a provider
 * module under src/providers/, found by name in src/providers/presets.h)
 * or a generic RFC 6749 server named by the user and configured by
 * CX_OAUTH_<NAME>_* (NAME upper-cased, every other character than a letter
 * or digit as "_"). Both open into the same handle, read by the same flows
 * in src/lib/oauth. Settings are CX_<P>_<WHAT> for a preset (CX_X_TOKEN_URL)
 * and CX_OAUTH_<NAME>_<WHAT> otherwise.
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
 * cx_oauth_provider_free; URLs handed out are new (free them). Presets are
 * static data: nobody frees them. */
#ifndef CX_OAUTHPROVIDER_H
#define CX_OAUTHPROVIDER_H

#include <jv.h>

#include "err.h"

typedef struct cx_oauth_provider cx_oauth_provider;
typedef struct cx_oauth_client cx_oauth_client;     /* oauth2.h */
typedef struct cx_oauth_grant cx_oauth_grant;       /* oauth2.h */

typedef enum {
	CX_OAUTH_AUTH_BASIC,        /* client_secret_basic */
	CX_OAUTH_AUTH_POST,         /* client_secret_post */
	CX_OAUTH_AUTH_NONE,         /* a public client: client_id only */
} cx_oauth_auth;

typedef enum {
	CX_OAUTH_REVOKE_FORM,       /* RFC 7009: POST token + hint, client auth */
	CX_OAUTH_REVOKE_DELETE,     /* DELETE with the token as bearer */
} cx_oauth_revoke_style;

typedef enum {
	CX_OAUTH_EP_AUTHORIZE,
	CX_OAUTH_EP_TOKEN,
	CX_OAUTH_EP_REVOKE,
	CX_OAUTH_EP_INTROSPECT,
	CX_OAUTH_EP_IDENTITY,       /* the preset's identity call, or OpenID userinfo */
} cx_oauth_endpoint;

/* A service account's key file, as the flows keep it (strings are new:
 * free with cx_oauth_sa_key_free; sealed is a secret). */
typedef struct {
	char *account;              /* who the grant is for (client_email) */
	char *sealed;               /* what is stored sealed: the key alone */
	char *token_uri;            /* where its grant goes, or NULL */
} cx_oauth_sa_key;

/* Server-to-server grants without a user (Google's JWT bearer). */
typedef struct {
	const char *key_setting;    /* the secret holding the key file */
	/* Reads a key file (config errors: 78). */
	int (*key_parse)(const char *json, cx_oauth_sa_key *k, cx_err *err);
	/* One grant at url with a key as key_parse's sealed; subject may be
	 * NULL; a refusal is 77 with reason refused. */
	int (*grant)(const cx_oauth_provider *p, const char *sealed, const char *scopes,
	    const char *subject, const char *url, const char *refused, long timeout_ms,
	    cx_oauth_grant *g, cx_err *err);
} cx_oauth_service_accounts;

/* An OAuth preset: what a provider module must give so the flows can run
 * against its platform. Data where it can be data:
 *   name, env        the --provider name and the settings' prefix ("CX_X");
 *   endpoints        authorize_url ("{v}": CX_GRAPH_API_VERSION), token_url
 *                    or api_base + token_path, revoke_path (NULL: beside the
 *                    token URL), api_base (api_base_setting, when set, is a
 *                    second setting that overrides it);
 *   identity call    api_base + identity_path, the object under
 *                    identity_wrap, id_field, name_fields (first one wins);
 *   scopes           default_scopes, required_scopes, scope_sep (between
 *                    scopes in the authorize URL);
 *   client auth      auth; pkce; authorize_extra (name, value pairs added
 *                    to the authorize URL); revoke (the request's style).
 * Optional hooks, NULL when the platform has no such step:
 *   exchange         a grant's token for a long-lived one; a preset with it
 *                    has no refresh tokens: its access token is renewed by
 *                    exchange before it expires (Meta's fb_exchange_token);
 *   granted_scopes   the scopes really granted, asked of the API with the
 *                    new token (Meta's /me/permissions), space-separated;
 *   service_account  server-to-server grants (Google's JWT bearer). */
typedef struct cx_oauth_preset {
	const char *name, *env;
	const char *authorize_url;
	const char *token_url;
	const char *token_path;
	const char *revoke_path;
	const char *api_base, *api_base_setting, *identity_path;
	const char *identity_wrap;
	const char *id_field, *name_fields;
	const char *default_scopes, *required_scopes;
	char scope_sep;
	cx_oauth_auth auth;
	int pkce;
	const char *authorize_extra[4];
	cx_oauth_revoke_style revoke;
	int (*exchange)(cx_oauth_provider *p, const cx_oauth_client *c, const char *token,
	    const char *refused, long timeout_ms, cx_oauth_grant *g, cx_err *err);
	int (*granted_scopes)(const cx_oauth_provider *p, const char *token, char **out,
	    cx_err *err);
	const cx_oauth_service_accounts *service_account;
} cx_oauth_preset;

struct cx_oauth_provider {
	char *name;
	char env[64];                   /* "CX_X", "CX_OAUTH_ACME" */
	const cx_oauth_preset *preset;
	int generic;
	cx_oauth_auth auth;
	jv metadata;                    /* the server's; jv_null() until fetched */
	int fetched;
};

/* Whether name is a valid generic provider name (letters, digits, ".",
 * "_", "-") with settings (_ISSUER, _AUTHORIZE_URL or _TOKEN_URL). */
int cx_oauth_provider_configured(const char *name);
/* Whether name may name a generic provider. */
int cx_oauth_provider_name_valid(const char *name);

/* The handle for preset, or, when preset is NULL, the generic provider
 * name (the caller has checked it with cx_oauth_provider_name_valid).
 * Reads _AUTH_METHOD (78 when it is not one of the three). No network. */
int cx_oauth_provider_open(const cx_oauth_preset *preset, const char *name,
    cx_oauth_provider **p, cx_err *err);
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
