/* oauth2.h: the OAuth 2 wire protocol (RFC 6749, 7009, 7662; OpenID
 * userinfo) for the flows in src/lib/oauth and the preset hooks of the
 * provider modules. No SQL here: the flows store what these calls return.
 *
 * Failures set err->code (69 an endpoint that does not answer OAuth, 75
 * transport or upstream 5xx/429, 77 a refusal, 78 configuration) and start
 * err->msg with a reason code ("refresh_refused: ..."). Tokens in returned
 * structs are secrets: the *_free functions wipe them. Returned strings are
 * new; strings passed in stay the caller's. */
#ifndef CX_OAUTH2_H
#define CX_OAUTH2_H

#include <stddef.h>
#include <stdint.h>

#include <jv.h>

#include "err.h"
#include "http.h"
#include "oauthprovider.h"

/* The client: its id and, unless it is a public client, its secret. */
struct cx_oauth_client {
	const char *id;
	char *secret;
	char *basic_id, *basic_secret;   /* form-encoded for HTTP Basic */
};

/* A token endpoint's answer. */
struct cx_oauth_grant {
	char *access, *refresh, *scope;
	int64_t expires_in;            /* < 0: not given */
	int rotated;                   /* the provider sent a new refresh token */
};

/* Who a token belongs to. */
typedef struct {
	char *id, *username, *scopes;   /* scopes: as granted_scopes found them */
} cx_oauth_identity;

/* <env>_CLIENT_ID and (unless auth none) <env>_CLIENT_SECRET: 78 unset. */
int cx_oauth_client_load(const cx_oauth_provider *p, cx_oauth_client *c, cx_err *err);
/* The client's secret in the form for client_secret_post; NULL otherwise. */
const char *cx_oauth_client_form_secret(const cx_oauth_provider *p,
    const cx_oauth_client *c);
/* HTTP Basic for client_secret_basic. */
void cx_oauth_client_auth(const cx_oauth_provider *p, const cx_oauth_client *c,
    cx_http_request *req);
void cx_oauth_client_free(cx_oauth_client *c);

/* Scope strings: normalize takes spaces or commas and gives one
 * space-separated string; join separates with sep; has tells whether the
 * n bytes at one are a scope of scopes; missing gives the scopes of
 * required that granted lacks ("" if none); array a jv array. */
char *cx_oauth_scopes_normalize(const char *in);
char *cx_oauth_scopes_join(const char *scopes, char sep);
int cx_oauth_scope_has(const char *scopes, const char *one, size_t n);
char *cx_oauth_scopes_missing(const char *granted, const char *required);
jv cx_oauth_scopes_array(const char *scopes);

/* The string at key of obj, copied (NULL when absent); take_secret wipes
 * the jv's own copy, take_string also takes a number. */
char *cx_oauth2_take_secret(jv obj, const char *key);
char *cx_oauth2_take_string(jv obj, const char *key);

/* A transport failure (err already set by http) as a reasoned 75. */
int cx_oauth2_transport_error(cx_err *err);
/* A non-2xx answer of what: 400/401 are refusals (77, reason refused);
 * 429, 5xx and the rest are temporary (75). -1. */
int cx_oauth2_upstream_error(const cx_http_response *r, const char *what,
    const char *refused, cx_err *err);

/* The token endpoint's URL, or NULL with err (78 when there is none). */
char *cx_oauth2_token_url(cx_oauth_provider *p, cx_err *err);
/* POSTs form to the token endpoint url (c NULL: no client auth) and reads
 * the answer into *g (free with cx_oauth_grant_free); a 400/401 is 77 with
 * reason refused. timeout_ms 0: http's default. */
int cx_oauth2_token_call(const cx_oauth_provider *p, const cx_oauth_client *c,
    const char *url, const char *form, const char *refused, long timeout_ms,
    cx_oauth_grant *g, cx_err *err);
void cx_oauth_grant_free(cx_oauth_grant *g);

/* GET url with token as bearer; *r on success (free it). A 4xx is 77
 * identity_failed. */
int cx_oauth2_api_get(const char *url, const char *token, cx_http_response *r,
    const char *what, cx_err *err);
/* RFC 7662: 1 when the server calls token active, 0 not, -1 with err;
 * *answer (when given) is the server's object. */
int cx_oauth2_introspect(const cx_oauth_provider *p, const cx_oauth_client *c,
    const char *url, const char *token, const char *hint, jv *answer, cx_err *err);
/* Who token belongs to: the preset's identity call (and its
 * granted_scopes hook); for a generic server OpenID userinfo when granted
 * has openid, else its introspection (no identity when it has none). */
int cx_oauth2_identity(cx_oauth_provider *p, const cx_oauth_client *c,
    const char *token, const char *granted, cx_oauth_identity *id, cx_err *err);
void cx_oauth_identity_free(cx_oauth_identity *id);

/* Revokes token at url in the preset's style: 0 when the server took it,
 * -1 with why. */
int cx_oauth2_revoke(const cx_oauth_provider *p, const cx_oauth_client *cl,
    const char *url, const char *token, const char *hint, cx_err *why);

#endif
