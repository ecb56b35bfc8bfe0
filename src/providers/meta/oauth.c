/* meta/oauth.c: Meta's OAuth preset (Facebook Login, Graph API): the
 * long-lived token exchange (fb_exchange_token) in place of refresh
 * tokens, the granted permissions from /me/permissions, revocation as a
 * DELETE of the permissions with the token as bearer. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "exit.h"
#include "http.h"
#include "json.h"
#include "metaoauth.h"
#include "oauth2.h"
#include "xalloc.h"

/* Meta's granted permissions, space-separated. */
static int meta_permissions(const cx_oauth_provider *p, const char *token,
    char **out, cx_err *err)
{
	char *url = cx_oauth_provider_api_url(p, "/{v}/me/permissions");
	cx_http_response r;
	jv body, data;
	jv granted = jv_string("");
	int rc = cx_oauth2_api_get(url, token, &r, "the permissions endpoint", err);

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

/* Meta: a short-lived user token for a long-lived one, or a long-lived
 * one for a fresh one before it expires. */
static int meta_exchange(cx_oauth_provider *p, const cx_oauth_client *c,
    const char *token, const char *refused, long timeout_ms, cx_oauth_grant *g,
    cx_err *err)
{
	char *url = cx_oauth2_token_url(p, err);
	char *form;
	int rc;

	if (!url)
		return -1;
	form = cx_http_form("grant_type", "fb_exchange_token", "client_id", c->id,
	    "client_secret", c->secret, "fb_exchange_token", token, NULL);
	rc = cx_oauth2_token_call(p, c, url, form, refused, timeout_ms, g, err);
	cx_secret_free(form);
	free(url);
	return rc;
}

const cx_oauth_preset cx_meta_oauth = {
	.name = "meta", .env = "CX_META",
	.authorize_url = "https://www.facebook.com/{v}/dialog/oauth",
	.token_path = "/{v}/oauth/access_token", .revoke_path = "/{v}/me/permissions",
	.api_base = "https://graph.facebook.com", .api_base_setting = "CX_GRAPH_API_BASE",
	.identity_path = "/{v}/me?fields=id,name",
	.id_field = "id", .name_fields = "name",
	.default_scopes = "pages_show_list pages_messaging instagram_basic "
	    "instagram_manage_messages",
	.required_scopes = "", .scope_sep = ',', .auth = CX_OAUTH_AUTH_POST,
	.revoke = CX_OAUTH_REVOKE_DELETE,
	.exchange = meta_exchange, .granted_scopes = meta_permissions,
};
