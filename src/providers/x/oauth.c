/* x/oauth.c: X's OAuth preset (OAuth 2.0 with PKCE, confidential client)
 * and the API base every X call uses. */
#include "config.h"
#include "url.h"
#include "xoauth.h"

const cx_oauth_preset cx_x_oauth = {
	.name = "x", .env = "CX_X",
	.authorize_url = "https://x.com/i/oauth2/authorize",
	.token_url = "https://api.x.com/2/oauth2/token",
	.api_base = "https://api.x.com", .identity_path = "/2/users/me",
	.identity_wrap = "data", .id_field = "id", .name_fields = "username",
	.default_scopes = "tweet.read tweet.write users.read offline.access",
	.required_scopes = "tweet.write", .scope_sep = ' ',
	.auth = CX_OAUTH_AUTH_BASIC, .pkce = 1,
};

char *cx_x_api_base(void)
{
	return cx_url_base(cx_config_get("CX_X_API_BASE", cx_x_oauth.api_base));
}
