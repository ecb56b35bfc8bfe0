/* Unit tests of Standard Webhooks signing (stdwebhooks.h): the official
 * test vector, several secrets during a rotation, verification of one of
 * several signatures, refusals that never show the secret. Prints TAP
 * lines; tests/run counts them. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "exit.h"
#include "stdwebhooks.h"

#include "tap.h"

#define VEC_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define VEC_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define VEC_TS 1614265330
#define VEC_BODY "{\"test\": 2432232314}"
#define VEC_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
#define OTHER_SECRET "whsec_c2Vjb25kIHNlY3JldCBmb3Igcm90YXRpb24="

/* The header for body under secrets, or "(error)". Static storage. */
static const char *sign(const char *const *secrets, size_t n, const char *body)
{
	static char out[1024];
	cx_err err = { 0, "" };
	char *h = NULL;

	if (cx_stdwebhooks_sign(secrets, n, VEC_ID, VEC_TS, body, strlen(body), &h, &err) < 0)
		return "(error)";
	snprintf(out, sizeof out, "%s", h);
	free(h);
	return out;
}

static int verify(const char *const *secrets, size_t n, const char *body, const char *header)
{
	return cx_stdwebhooks_verify(secrets, n, VEC_ID, VEC_TS, body, strlen(body), header);
}

static void test_vector(void)
{
	const char *one[] = { VEC_SECRET };

	check_str(sign(one, 1, VEC_BODY), VEC_SIG, "the official Standard Webhooks vector");
	check(verify(one, 1, VEC_BODY, VEC_SIG) == 1, "the vector's signature verifies");
	check(verify(one, 1, "{\"test\": 2432232315}", VEC_SIG) == 0,
	    "another body does not verify");
	check(cx_stdwebhooks_verify(one, 1, VEC_ID, VEC_TS + 1, VEC_BODY, strlen(VEC_BODY),
	    VEC_SIG) == 0, "another timestamp does not verify");
	check(cx_stdwebhooks_verify(one, 1, "msg_other", VEC_TS, VEC_BODY, strlen(VEC_BODY),
	    VEC_SIG) == 0, "another webhook-id does not verify");
}

static void test_rotation(void)
{
	const char *two[] = { VEC_SECRET, OTHER_SECRET };
	const char *other[] = { OTHER_SECRET };
	char want[256], header[256];

	snprintf(want, sizeof want, "%s %s", VEC_SIG, sign(other, 1, VEC_BODY));
	check_str(sign(two, 2, VEC_BODY), want, "two secrets give two signatures, space-separated");
	snprintf(header, sizeof header, "%s", want);
	check(verify(other, 1, VEC_BODY, header) == 1, "the second signature verifies alone");
	check(verify(two, 2, VEC_BODY, VEC_SIG) == 1, "either secret verifies a single signature");
	snprintf(header, sizeof header, "v2,abc %s v1a,%s", VEC_SIG, VEC_SIG + 3);
	check(verify(two, 1, VEC_BODY, header) == 1,
	    "tokens that are not v1 are ignored, the v1 one verifies");
	snprintf(header, sizeof header, "v1a,%s", VEC_SIG + 3);
	check(verify(two, 2, VEC_BODY, header) == 0, "a token that is not v1, alone, does not verify");
	check(verify(two, 2, VEC_BODY, "v1,!!!! v1, v1,AAAA") == 0,
	    "garbage and short signatures do not verify");
	check(verify(two, 2, VEC_BODY, "") == 0, "an empty header does not verify");
	check(verify(two, 2, VEC_BODY, NULL) == 0, "no header does not verify");
}

static void test_bad_secrets(void)
{
	const char *bad[] = { VEC_SECRET, "whsec_not base64 at all!" };
	const char *bare[] = { "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" };
	const char *empty[] = { "whsec_" };
	cx_err err = { 0, "" };
	char *h = NULL;

	check(cx_stdwebhooks_sign(bad, 2, VEC_ID, VEC_TS, "x", 1, &h, &err) == -1 &&
	    err.code == CX_EXIT_DATAERR && strstr(err.msg, "secret 2") &&
	    !strstr(err.msg, "base64 at all") && !h,
	    "a bad secret is an error naming its position, not its text");
	err.code = 0;
	check(cx_stdwebhooks_sign(bare, 1, VEC_ID, VEC_TS, "x", 1, &h, &err) == -1 &&
	    err.code == CX_EXIT_DATAERR && !strstr(err.msg, "MfKQ"),
	    "a secret without whsec_ is refused without showing it");
	check(cx_stdwebhooks_sign(empty, 1, VEC_ID, VEC_TS, "x", 1, &h, &err) == -1,
	    "an empty secret is refused");
	check(cx_stdwebhooks_sign(bad, 0, VEC_ID, VEC_TS, "x", 1, &h, &err) == -1,
	    "no secret at all is refused");
	check(verify(bad + 1, 1, VEC_BODY, VEC_SIG) == 0, "a bad secret verifies nothing");
	check(verify(bad, 2, VEC_BODY, VEC_SIG) == 1,
	    "a bad secret beside a good one does not stop verification");
}

static void test_new_secret(void)
{
	cx_err err = { 0, "" };
	char *a = NULL, *b = NULL;
	const char *pair[2];
	int ok = cx_stdwebhooks_new_secret(&a, &err) == 0 &&
	    cx_stdwebhooks_new_secret(&b, &err) == 0;

	check(ok && strncmp(a, "whsec_", 6) == 0 && strlen(a) == 6 + 32,
	    "a new secret is whsec_ and the base64 of 24 bytes");
	check(ok && strcmp(a, b) != 0, "two new secrets differ");
	pair[0] = a;
	pair[1] = b;
	check(ok && strcmp(sign(pair, 1, VEC_BODY), "(error)") != 0 &&
	    verify(pair, 1, VEC_BODY, sign(pair, 1, VEC_BODY)) == 1 &&
	    verify(pair + 1, 1, VEC_BODY, sign(pair, 1, VEC_BODY)) == 0,
	    "a new secret signs and verifies, and another does not verify it");
	cx_secret_free(a);
	cx_secret_free(b);
}

int main(void)
{
	test_vector();
	test_rotation();
	test_bad_secrets();
	test_new_secret();
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
