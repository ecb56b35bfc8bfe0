/* google/oauth.c: Google's OAuth preset, and its service accounts: the
 * key file read, a JWT signed RS256 with its private key, the JWT bearer
 * grant. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "exit.h"
#include "googleoauth.h"
#include "http.h"
#include "json.h"
#include "oauth2.h"
#include "xalloc.h"

#define JWT_LIFETIME 3600

typedef struct {
	char *email, *private_key, *key_id;
} google_key;

static void google_key_free(google_key *k)
{
	free(k->email);
	cx_secret_free(k->private_key);
	free(k->key_id);
	memset(k, 0, sizeof *k);
}

static int google_key_parse(const char *json, google_key *k, char **token_uri,
    cx_err *err)
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
	k->email = cx_oauth2_take_string(v, "client_email");
	k->private_key = cx_oauth2_take_secret(v, "private_key");
	k->key_id = cx_oauth2_take_string(v, "private_key_id");
	if (token_uri)
		*token_uri = cx_oauth2_take_string(v, "token_uri");
	if (!type || strcmp(type, "service_account") != 0 || !k->email || !k->private_key) {
		jv_free(v);
		google_key_free(k);
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
static int jwt_sign(const google_key *k, const char *scopes, const char *subject,
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

/* The key alone, as it is sealed (not the whole file). */
static char *google_key_sealed(const google_key *key)
{
	jv k = jv_object();

	k = jv_object_set(k, jv_string("type"), jv_string("service_account"));
	k = jv_object_set(k, jv_string("client_email"), jv_string(key->email));
	k = jv_object_set(k, jv_string("private_key"), jv_string(key->private_key));
	if (key->key_id)
		k = jv_object_set(k, jv_string("private_key_id"), jv_string(key->key_id));
	return cx_json_dump(k);
}

static int sa_key_parse(const char *json, cx_oauth_sa_key *out, cx_err *err)
{
	google_key key;

	memset(out, 0, sizeof *out);
	if (google_key_parse(json, &key, &out->token_uri, err) < 0)
		return -1;
	out->account = cx_xstrdup(key.email);
	out->sealed = google_key_sealed(&key);
	google_key_free(&key);
	return 0;
}

/* The JWT bearer grant (RFC 7523) with an assertion signed by the key. */
static int sa_grant(const cx_oauth_provider *p, const char *sealed, const char *scopes,
    const char *subject, const char *url, const char *refused, long timeout_ms,
    cx_oauth_grant *g, cx_err *err)
{
	google_key key;
	char *jwt = NULL, *form;
	int rc;

	if (google_key_parse(sealed, &key, NULL, err) < 0)
		return -1;
	rc = jwt_sign(&key, scopes, subject, url, cx_clock_now(), &jwt, err);
	google_key_free(&key);
	if (rc < 0)
		return -1;
	form = cx_http_form("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer",
	    "assertion", jwt, NULL);
	rc = cx_oauth2_token_call(p, NULL, url, form, refused, timeout_ms, g, err);
	cx_secret_free(form);
	cx_secret_free(jwt);
	return rc;
}

static const cx_oauth_service_accounts service_accounts = {
	.key_setting = "CX_GOOGLE_SERVICE_ACCOUNT_KEY",
	.key_parse = sa_key_parse,
	.grant = sa_grant,
};

const cx_oauth_preset cx_google_oauth = {
	.name = "google", .env = "CX_GOOGLE",
	.authorize_url = "https://accounts.google.com/o/oauth2/v2/auth",
	.token_url = "https://oauth2.googleapis.com/token",
	.api_base = "https://www.googleapis.com", .identity_path = "/oauth2/v3/userinfo",
	.id_field = "sub", .name_fields = "email",
	.default_scopes = "openid email https://www.googleapis.com/auth/calendar.readonly",
	.required_scopes = "", .scope_sep = ' ', .auth = CX_OAUTH_AUTH_POST, .pkce = 1,
	/* offline: a refresh token, asked for again on every consent */
	.authorize_extra = { "access_type", "offline", "prompt", "consent" },
	.service_account = &service_accounts,
};
