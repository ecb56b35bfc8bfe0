/* sns.c: the ses route: Amazon SNS messages over HTTP(S), which is how SES
 * reports sends, deliveries, bounces and complaints.
 *
 * A message is stored only once all of this holds:
 *   - its TopicArn is listed in CX_SNS_TOPIC_ARNS (else 403 topic_not_allowed,
 *     checked first, so no unknown topic makes cx fetch anything);
 *   - its Timestamp lies between now - (3600 s + tolerance) and now +
 *     tolerance (CX_WEBHOOK_TOLERANCE_SECONDS): SNS keeps a message's
 *     Timestamp when it retries, and retries an HTTP(S) endpoint for at most
 *     an hour; a replay inside that hour is a duplicate cx-dedupe drops;
 *   - SigningCertURL is https on the certificate host (CX_SNS_CERT_HOST:
 *     host[:port] exactly; unset: any sns.<region>.amazonaws.com on 443);
 *   - the certificate found there (at most 16 KiB, 10 s, over TLS checked
 *     against CX_CA_FILE, else the system's store) is valid now, not
 *     self-signed, and chains up to the trusted certificates as far as its
 *     issuers are at hand (SNS serves the leaf alone, without Amazon's
 *     intermediate: the trust is in the host it came from), and its RSA
 *     key verifies Signature: SHA1withRSA for SignatureVersion
 *     1, SHA256withRSA for 2, over the message type's string to sign.
 * Good certificates are kept in memory by URL for the life of the process.
 * A SubscriptionConfirmation that passes is confirmed by a GET of its
 * SubscribeURL (same host rule) and audited (sns_subscription_confirmed);
 * an UnsubscribeConfirmation is only stored. The body is stored as SNS
 * posted it. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "audit.h"
#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "emailhooks.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "pubkey.h"
#include "snshook.h"
#include "url.h"
#include "xalloc.h"

#define CERT_MAX_BYTES (16 * 1024)
#define FETCH_TIMEOUT_MS 10000
#define CACHE_SLOTS 8
#define SNS_RETRY_SECONDS 3600

typedef struct {
	char *url;
	cx_pubkey *key;
} cached_cert;

typedef struct {
	char *topics;           /* CX_SNS_TOPIC_ARNS, NULL when unset */
	char *cert_host;        /* CX_SNS_CERT_HOST, NULL: the AWS pattern */
	int64_t tolerance;
	pthread_mutex_t lock;   /* guards the cache */
	cached_cert cache[CACHE_SLOTS];
	size_t next;            /* the slot the next certificate takes */
} sns_keys;

static const char *const settings[] = { "CX_SNS_TOPIC_ARNS", "CX_SNS_CERT_HOST", NULL };

static void sns_unload(void *keys)
{
	sns_keys *k = keys;

	if (!k)
		return;
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		free(k->cache[i].url);
		cx_pubkey_free(k->cache[i].key);
	}
	pthread_mutex_destroy(&k->lock);
	free(k->topics);
	free(k->cert_host);
	free(k);
}

static int sns_load(void **keys, cx_err *err)
{
	sns_keys *k = cx_xcalloc(1, sizeof *k);
	const char *topics = cx_config_get(settings[0], NULL);
	const char *host = cx_config_get(settings[1], NULL);

	pthread_mutex_init(&k->lock, NULL);
	k->topics = topics ? cx_xstrdup(topics) : NULL;
	k->cert_host = host ? cx_xstrdup(host) : NULL;
	if (email_hook_tolerance(&k->tolerance, err) < 0) {
		sns_unload(k);
		return -1;
	}
	*keys = k;
	return 0;
}

/* Whether arn is one of the comma- or space-separated topics. */
static int topic_allowed(const char *topics, const char *arn)
{
	size_t n = strlen(arn);

	for (const char *p = topics; p && *p;) {
		size_t len;

		p += strspn(p, ", \t\n");
		len = strcspn(p, ", \t\n");
		if (len && len == n && memcmp(p, arn, n) == 0)
			return 1;
		p += len;
	}
	return 0;
}

/* Whether host is sns.<one label>.amazonaws.com (any case). */
static int aws_sns_host(const char *host)
{
	static const char suffix[] = ".amazonaws.com";
	size_t n = strlen(host), s = sizeof suffix - 1;
	const char *label;

	if (n <= 4 + s || strncasecmp(host, "sns.", 4) != 0 ||
	    strcasecmp(host + n - s, suffix) != 0)
		return 0;
	label = host + 4;
	for (const char *c = label; c < host + n - s; c++)
		if (!(*c == '-' || (*c >= '0' && *c <= '9') ||
		    ((*c | 0x20) >= 'a' && (*c | 0x20) <= 'z')))
			return 0;
	return 1;
}

int sns_cert_host_ok(const char *cert_host, const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL;
	int ok = 0;

	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_NO_USER &&
	    strcmp(scheme, "https") == 0) {
		if (!cert_host) {
			ok = aws_sns_host(host) && strcmp(port, "443") == 0;
		} else {
			char *want = strchr(cert_host, ':') ? cx_xstrdup(cert_host) :
			    cx_xasprintf("%s:443", cert_host);
			char *got = cx_xasprintf("%s:%s", host, port);

			ok = strcasecmp(want, got) == 0;
			free(want);
			free(got);
		}
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(user);
	curl_url_cleanup(u);
	return ok;
}

int sns_string_to_sign(jv msg, cx_buf *out)
{
	const char *type = cx_json_str(msg, "Type");
	int notification = type && strcmp(type, "Notification") == 0;
	static const char *const note[] = { "Message", "MessageId", "Subject",
		"Timestamp", "TopicArn", "Type", NULL };
	static const char *const confirm[] = { "Message", "MessageId",
		"SubscribeURL", "Timestamp", "Token", "TopicArn", "Type", NULL };

	for (const char *const *key = notification ? note : confirm; *key; key++) {
		jv v = jv_object_get(jv_copy(msg), jv_string(*key));

		if (jv_get_kind(v) != JV_KIND_STRING) {
			jv_free(v);
			if (notification && strcmp(*key, "Subject") == 0)
				continue;
			return -1;
		}
		cx_buf_add(out, *key, strlen(*key));
		cx_buf_add(out, "\n", 1);
		cx_buf_add(out, jv_string_value(v), (size_t)jv_string_length_bytes(jv_copy(v)));
		cx_buf_add(out, "\n", 1);
		jv_free(v);
	}
	return 0;
}

/* The key of the certificate at url, fetched and checked now: a new key,
 * or NULL (logged). */
static cx_pubkey *fetch_key(const char *url)
{
	cx_http_request req = { .url = url, .timeout_ms = FETCH_TIMEOUT_MS,
		.max_body = CERT_MAX_BYTES };
	cx_http_response resp;
	cx_err err = { 0, "" };
	cx_pubkey *key = NULL;
	char *shown = cx_url_for_log(url);

	if (cx_http_do(&req, &resp, &err) < 0)
		cx_log_warn("ses: signing certificate %s: %s", shown, err.msg);
	else if (resp.status != 200)
		cx_log_warn("ses: signing certificate %s: HTTP %ld", shown, resp.status);
	else if (!(key = cx_pubkey_from_cert(resp.body, resp.len,
	    cx_config_get("CX_CA_FILE", NULL), 0, &err)))
		cx_log_warn("ses: signing certificate %s: %s", shown, err.msg);
	else if (strcmp(cx_pubkey_type(key), "RSA") != 0) {
		cx_log_warn("ses: signing certificate %s: not an RSA key", shown);
		cx_pubkey_free(key);
		key = NULL;
	}
	cx_http_response_free(&resp);
	free(shown);
	return key;
}

/* Whether sig is the signature of data by the certificate at url (from
 * the cache, else fetched into it). */
static int signed_by(sns_keys *k, const char *url, const char *digest,
    const cx_buf *data, const unsigned char *sig, size_t siglen)
{
	cx_pubkey *key = NULL;
	int ok;

	pthread_mutex_lock(&k->lock);
	for (size_t i = 0; i < CACHE_SLOTS && !key; i++)
		if (k->cache[i].url && strcmp(k->cache[i].url, url) == 0)
			key = k->cache[i].key;
	if (!key && (key = fetch_key(url))) {
		cached_cert *slot = &k->cache[k->next];

		free(slot->url);
		cx_pubkey_free(slot->key);
		slot->url = cx_xstrdup(url);
		slot->key = key;
		k->next = (k->next + 1) % CACHE_SLOTS;
	}
	ok = key && cx_pubkey_verify(key, digest, data->s, data->len, sig, siglen);
	pthread_mutex_unlock(&k->lock);
	return ok;
}

/* Whether the message's Timestamp is inside the window SNS may deliver
 * it in. */
static int sns_fresh(const sns_keys *k, const char *ts)
{
	int64_t t, now = cx_clock_now();

	return ts && cx_clock_parse_rfc3339(ts, &t) == 0 &&
	    t >= now - SNS_RETRY_SECONDS - k->tolerance && t <= now + k->tolerance;
}

/* Whether the message is signed by SNS as its SignatureVersion says. */
static int sns_signed(sns_keys *k, jv msg)
{
	const char *version = cx_json_str(msg, "SignatureVersion");
	const char *sig64 = cx_json_str(msg, "Signature");
	const char *url = cx_json_str(msg, "SigningCertURL");
	const char *digest = !version ? NULL : strcmp(version, "1") == 0 ? "sha1" :
	    strcmp(version, "2") == 0 ? "sha256" : NULL;
	cx_buf data = { NULL, 0, 0 };
	unsigned char *sig = NULL;
	size_t siglen = 0;
	int ok = 0;

	if (!digest || !sig64 || !url)
		cx_log_warn("ses: no SignatureVersion 1 or 2, Signature or SigningCertURL");
	else if (!sns_cert_host_ok(k->cert_host, url))
		cx_log_warn("ses: SigningCertURL is not https on the certificate host");
	else if (sns_string_to_sign(msg, &data) < 0)
		cx_log_warn("ses: a field the signature covers is missing");
	else if (!(sig = cx_crypto_unbase64(sig64, &siglen)))
		cx_log_warn("ses: Signature is not base64");
	else if (!(ok = signed_by(k, url, digest, &data, sig, siglen)))
		cx_log_warn("ses: the signature does not verify");
	free(sig);
	free(data.s);
	return ok;
}

/* Confirms a subscription by a GET of its SubscribeURL, and audits it:
 * 1, 0 (logged), -1 with err when the store failed. */
static int confirm_subscription(const sns_keys *k, jv msg, cx_store *store,
    cx_err *err)
{
	const char *url = cx_json_str(msg, "SubscribeURL");
	const char *topic = cx_json_str(msg, "TopicArn");
	cx_http_request req = { .url = url, .timeout_ms = FETCH_TIMEOUT_MS };
	cx_http_response resp;
	cx_audit_entry e = { "sns_subscription_confirmed", NULL, NULL, topic, jv_null() };
	char *shown;
	int ok;

	if (!sns_cert_host_ok(k->cert_host, url)) {
		cx_log_warn("ses: SubscribeURL is not https on the certificate host");
		return 0;
	}
	shown = cx_url_for_log(url);
	ok = cx_http_do(&req, &resp, err) == 0 && resp.status == 200;
	if (!ok && resp.status)
		cx_log_warn("ses: confirming the subscription at %s: HTTP %ld", shown,
		    resp.status);
	else if (!ok)
		cx_log_warn("ses: confirming the subscription at %s: %s", shown, err->msg);
	cx_http_response_free(&resp);
	e.detail = jv_object_set(jv_object_set(jv_object(), jv_string("topic_arn"),
	    jv_string(topic)), jv_string("subscribe_url"), jv_string(shown));
	free(shown);
	if (!ok) {
		jv_free(e.detail);
		return 0;
	}
	if (cx_store_begin(store, err) < 0 || cx_audit_append(store, &e, err) < 0 ||
	    cx_store_commit(store, err) < 0) {
		cx_store_rollback(store);
		return -1;
	}
	return 1;
}

static int sns_verify(cx_webhook_request *r, const void *keys, cx_store *store,
    cx_err *err)
{
	sns_keys *k = (sns_keys *)keys;
	jv msg = r->body ? jv_parse_sized(r->body, (int)r->len) : jv_invalid();
	const char *type = jv_get_kind(msg) == JV_KIND_OBJECT ?
	    cx_json_str(msg, "Type") : NULL;
	const char *topic = type ? cx_json_str(msg, "TopicArn") : NULL;
	int notification = type && strcmp(type, "Notification") == 0;
	int subscribe = type && strcmp(type, "SubscriptionConfirmation") == 0;
	int ok = 0;

	if (!notification && !subscribe &&
	    !(type && strcmp(type, "UnsubscribeConfirmation") == 0))
		cx_log_warn("ses: not an SNS message");
	else if (!topic || !topic_allowed(k->topics, topic)) {
		cx_log_warn("ses: topic not in CX_SNS_TOPIC_ARNS");
		r->forbidden = "topic_not_allowed";
	} else if (!sns_fresh(k, cx_json_str(msg, "Timestamp")))
		cx_log_warn("ses: Timestamp outside the window SNS delivers in");
	else if (sns_signed(k, msg))
		ok = subscribe ? confirm_subscription(k, msg, store, err) : 1;
	jv_free(msg);
	return ok;
}

static const char *const routes[] = { "ses", NULL };

const cx_webhook_source ses_webhook = {
	.routes = routes,
	.secrets = settings,
	.refused = "bad_signature",
	.needs_store = 1,
	.load = sns_load,
	.unload = sns_unload,
	.verify = sns_verify,
};
