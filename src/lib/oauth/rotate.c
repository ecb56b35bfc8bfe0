/* rotate.c: cx_oauth_rotate_key, every sealed token, verifier and trigger
 * subscription secret sealed again under a new key, with its audit row, in
 * one transaction. */
#include <string.h>

#include "audit.h"
#include "exit.h"
#include "oauth.h"
#include "oauthflow.h"
#include "subscriptions.h"

int cx_oauth_rotate_key(cx_store *s, const cx_tokenkeys *new_keys, jv *result,
    cx_err *err)
{
	cx_tokenkeys *old = NULL;
	cx_audit_entry e = { .action = "token_key_rotated" };
	int64_t creds = 0, states = 0, secrets = 0;
	int rc = -1;

	e.detail = jv_null();
	if (cx_tokenkeys_load(&old, err) < 0)
		return -1;
	if (strcmp(cx_tokenkeys_id(old), cx_tokenkeys_id(new_keys)) == 0) {
		cx_tokenkeys_free(old);
		return cx_err_set(err, CX_EXIT_USAGE,
		    "usage: the new key is the current CX_TOKEN_KEY (key id %s)",
		    cx_tokenkeys_id(old));
	}
	if (cx_store_begin(s, err) < 0)
		goto out;
	if (cx_cred_reseal_all(s, old, new_keys, &creds, &states, err) < 0 ||
	    cx_subscriptions_reseal_all(s, old, new_keys, &secrets, err) < 0)
		goto fail;
	e.detail = jv_object();
	e.detail = jv_object_set(e.detail, jv_string("from_key_id"),
	    jv_string(cx_tokenkeys_id(old)));
	e.detail = jv_object_set(e.detail, jv_string("to_key_id"),
	    jv_string(cx_tokenkeys_id(new_keys)));
	e.detail = jv_object_set(e.detail, jv_string("credentials"),
	    jv_number((double)creds));
	e.detail = jv_object_set(e.detail, jv_string("states"), jv_number((double)states));
	e.detail = jv_object_set(e.detail, jv_string("subscription_secrets"),
	    jv_number((double)secrets));
	if (cx_audit_append(s, &e, err) < 0 || cx_store_commit(s, err) < 0)
		goto fail;
	*result = jv_object();
	*result = jv_object_set(*result, jv_string("rotated"), jv_number((double)creds));
	*result = jv_object_set(*result, jv_string("states"), jv_number((double)states));
	*result = jv_object_set(*result, jv_string("subscription_secrets"),
	    jv_number((double)secrets));
	*result = jv_object_set(*result, jv_string("from_key_id"),
	    jv_string(cx_tokenkeys_id(old)));
	*result = jv_object_set(*result, jv_string("key_id"),
	    jv_string(cx_tokenkeys_id(new_keys)));
	rc = 0;
	goto out;
fail:
	cx_store_rollback(s);
out:
	jv_free(e.detail);
	cx_tokenkeys_free(old);
	return rc;
}
