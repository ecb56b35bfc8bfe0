/* Unit tests of the ses route's rules (snshook.h): which URLs are on the
 * SNS certificate host, with and without CX_SNS_CERT_HOST, and the exact
 * string SNS signs for each message type; and that the registry lists the
 * e-mail routes. Prints TAP lines; tests/run counts them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snshook.h"
#include "webhooks.h"

#include "tap.h"

static void test_default_host(void)
{
	static const struct { const char *url; int ok; const char *what; } cases[] = {
		{ "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem", 1,
		  "sns.<region>.amazonaws.com over https" },
		{ "https://SNS.EU-WEST-3.AMAZONAWS.COM/x.pem", 1, "in any case" },
		{ "https://sns.us-east-1.amazonaws.com:443/x.pem", 1, "with port 443 spelled out" },
		{ "https://sns.us-east-1.amazonaws.com:8443/x.pem", 0, "not on another port" },
		{ "http://sns.us-east-1.amazonaws.com/x.pem", 0, "not over http" },
		{ "https://u@sns.us-east-1.amazonaws.com/x.pem", 0, "not with user info" },
		{ "https://sns.amazonaws.com/x.pem", 0, "not without a region" },
		{ "https://sns.a.b.amazonaws.com/x.pem", 0, "not with two labels for the region" },
		{ "https://sns.us_east.amazonaws.com/x.pem", 0, "not with a label DNS forbids" },
		{ "https://sns.us-east-1.amazonaws.com.evil.example/x.pem", 0,
		  "not under another domain" },
		{ "https://evil.example/sns.us-east-1.amazonaws.com/x.pem", 0,
		  "not with the name in the path" },
		{ "https://sns.cn-north-1.amazonaws.com.cn/x.pem", 0,
		  "not China's domain (set CX_SNS_CERT_HOST)" },
		{ "not a url", 0, "not a malformed URL" },
	};
	char what[128];

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		snprintf(what, sizeof what, "default certificate host: %s", cases[i].what);
		check(sns_cert_host_ok(NULL, cases[i].url) == cases[i].ok, what);
	}
}

static void test_set_host(void)
{
	check(sns_cert_host_ok("localhost:8443", "https://localhost:8443/c.pem"),
	    "CX_SNS_CERT_HOST host:port: that host and port");
	check(!sns_cert_host_ok("localhost:8443", "https://localhost/c.pem") &&
	    !sns_cert_host_ok("localhost:8443", "https://127.0.0.1:8443/c.pem"),
	    "CX_SNS_CERT_HOST host:port: not another port or host");
	check(sns_cert_host_ok("certs.example", "https://certs.example/c.pem") &&
	    sns_cert_host_ok("certs.example", "https://CERTS.example:443/c.pem"),
	    "CX_SNS_CERT_HOST host: port 443");
	check(!sns_cert_host_ok("certs.example", "https://sns.us-east-1.amazonaws.com/c.pem"),
	    "CX_SNS_CERT_HOST replaces the AWS pattern");
}

static void check_signed(const char *msg, const char *want, const char *what)
{
	jv m = jv_parse(msg);
	cx_buf b = { NULL, 0, 0 };
	int rc = sns_string_to_sign(m, &b);

	cx_buf_add(&b, "", 1);
	if (want)
		check_str(rc == 0 ? b.s : NULL, want, what);
	else
		check(rc < 0, what);
	free(b.s);
	jv_free(m);
}

static void test_string_to_sign(void)
{
	check_signed("{\"Type\":\"Notification\",\"MessageId\":\"m\",\"TopicArn\":\"t\","
	    "\"Subject\":\"s\",\"Message\":\"a\\nb\\u00e9\",\"Timestamp\":\"ts\","
	    "\"SignatureVersion\":\"1\",\"Signature\":\"x\",\"SigningCertURL\":\"u\","
	    "\"UnsubscribeURL\":\"x\"}",
	    "Message\na\nb\xc3\xa9\nMessageId\nm\nSubject\ns\nTimestamp\nts\nTopicArn\nt\n"
	    "Type\nNotification\n", "a Notification, with its Subject, values unescaped");
	check_signed("{\"Type\":\"Notification\",\"MessageId\":\"m\",\"TopicArn\":\"t\","
	    "\"Message\":\"{}\",\"Timestamp\":\"ts\"}",
	    "Message\n{}\nMessageId\nm\nTimestamp\nts\nTopicArn\nt\nType\nNotification\n",
	    "a Notification without a Subject");
	check_signed("{\"Type\":\"SubscriptionConfirmation\",\"MessageId\":\"m\",\"Token\":\"k\","
	    "\"TopicArn\":\"t\",\"Message\":\"hi\",\"SubscribeURL\":\"s\",\"Timestamp\":\"ts\"}",
	    "Message\nhi\nMessageId\nm\nSubscribeURL\ns\nTimestamp\nts\nToken\nk\nTopicArn\nt\n"
	    "Type\nSubscriptionConfirmation\n", "a SubscriptionConfirmation");
	check_signed("{\"Type\":\"UnsubscribeConfirmation\",\"MessageId\":\"m\",\"Token\":\"k\","
	    "\"TopicArn\":\"t\",\"Message\":\"bye\",\"SubscribeURL\":\"s\",\"Timestamp\":\"ts\","
	    "\"Subject\":\"ignored\"}",
	    "Message\nbye\nMessageId\nm\nSubscribeURL\ns\nTimestamp\nts\nToken\nk\nTopicArn\nt\n"
	    "Type\nUnsubscribeConfirmation\n", "an UnsubscribeConfirmation, Subject not signed");
	check_signed("{\"Type\":\"SubscriptionConfirmation\",\"MessageId\":\"m\","
	    "\"TopicArn\":\"t\",\"Message\":\"hi\",\"SubscribeURL\":\"s\",\"Timestamp\":\"ts\"}",
	    NULL, "a confirmation without its Token cannot be checked");
	check_signed("{\"Type\":\"Notification\",\"MessageId\":1,\"TopicArn\":\"t\","
	    "\"Message\":\"{}\",\"Timestamp\":\"ts\"}",
	    NULL, "a key that is not a string cannot be checked");
}

static void test_registry(void)
{
	static const char *const routes[] = { "ses", "sendgrid", "mailgun",
		"sendgrid-inbound", "mailgun-inbound" };
	const cx_webhook_source *src;
	int all = 1;

	for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
		all &= cx_webhooks_find(routes[i], &src, NULL) >= 0 && src->verify &&
		    src->refused && src->load && src->unload;
	check(all, "the registry serves every e-mail route, each with its checks");
}

int main(void)
{
	test_default_host();
	test_set_host();
	test_string_to_sign();
	test_registry();
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
