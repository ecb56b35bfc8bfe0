/* subscriptions.h: where integrations want trigger events delivered
 * (migration 008), and their Standard Webhooks signing secrets
 * "whsec_<base64 of 24 random bytes>", sealed at rest under CX_TOKEN_KEY
 * (tokencrypt.h). The newest secret signs; during a rotation the previous
 * one signs too until its grace ends. Every change is audited
 * (subscription_* actions, subject "subscription:<id>", detail with
 * subscription_id, integration_id, tenant, event) in its transaction.
 *
 * Functions named _in run inside the caller's transaction. Strings passed
 * in stay the caller's; results are the caller's (secrets: cx_secret_free);
 * rows handed to each() are the callback's. */
#ifndef CX_SUBSCRIPTIONS_H
#define CX_SUBSCRIPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include <jv.h>

#include "err.h"
#include "store.h"
#include "tokencrypt.h"

#define CX_SUBSCRIPTION_ID_LEN 21   /* "sub_" + 16 hex + NUL */

/* Whether url is an absolute http or https URL without credentials;
 * whether type is an event type of SPEC §5. 0 with err (CX_EXIT_USAGE). */
int cx_subscriptions_valid_url(const char *url, cx_err *err);
int cx_subscriptions_valid_event(const char *type, cx_err *err);

/* Subscribes integration_id (active, with scope trigger:<event>; else
 * CX_EXIT_NOPERM) to event at url: *id, and *secret when secret is not
 * NULL. origin "hook" or "cli". Audited subscription_created. */
int cx_subscriptions_create_in(cx_store *s, const cx_tokenkeys *keys,
    const char *integration_id, const char *event, const char *url,
    const char *origin, const char *actor, const char *correlation_id,
    char **id, char **secret, cx_err *err);
int cx_subscriptions_create(cx_store *s, const cx_tokenkeys *keys,
    const char *integration_id, const char *event, const char *url,
    const char *origin, const char *actor, char **id, char **secret,
    cx_err *err);
/* Deletes subscription id; when integration_id is not NULL it must own it
 * (else *found = 0, as for an unknown id). Audited subscription_deleted. */
int cx_subscriptions_delete_in(cx_store *s, const char *id,
    const char *integration_id, const char *actor, const char *correlation_id,
    int *found, cx_err *err);
int cx_subscriptions_delete(cx_store *s, const char *id, const char *actor,
    cx_err *err);
/* A new secret for id; older ones keep signing for grace seconds. */
int cx_subscriptions_rotate_secret(cx_store *s, const cx_tokenkeys *keys,
    const char *id, int64_t grace, const char *actor, char **secret,
    cx_err *err);
/* Disables id (410 Gone, failing too long) with reason; audited
 * subscription_disabled by actor. */
int cx_subscriptions_disable_in(cx_store *s, const char *id, const char *reason,
    const char *actor, const char *correlation_id, cx_err *err);
/* Disables every active subscription of integration_id (it is revoked),
 * each audited subscription_disabled; their ids are appended to *ids. */
int cx_subscriptions_disable_all_in(cx_store *s, const char *integration_id,
    const char *reason, const char *actor, const char *correlation_id, jv *ids,
    cx_err *err);

/* Subscriptions (of integration_id, NULL: all) by id, never a secret:
 * {subscription_id, integration_id, tenant, event, target_url, origin,
 *  state, state_reason, created_at, secrets_active}. */
int cx_subscriptions_list(cx_store *s, const char *integration_id,
    void (*each)(jv row, void *ctx), void *ctx, cx_err *err);
/* Active subscriptions of an active integration for tenant and event, as
 * the list's rows. */
int cx_subscriptions_matching(cx_store *s, const char *tenant, const char *event,
    void (*each)(jv row, void *ctx), void *ctx, cx_err *err);
/* The secrets that sign for id now, newest first: *n of them in *secrets
 * (each "whsec_..."; free each with cx_secret_free, then the array). */
int cx_subscriptions_secrets(cx_store *s, const cx_tokenkeys *keys,
    const char *id, int64_t now, char ***secrets, size_t *n, cx_err *err);

/* Seals every stored secret again under new_keys (cx-oauth rotate-key, in
 * the caller's transaction): *n of them. One that does not open under old
 * is CX_EXIT_CONFIG naming its subscription. */
int cx_subscriptions_reseal_all(cx_store *s, const cx_tokenkeys *old,
    const cx_tokenkeys *new_keys, int64_t *n, cx_err *err);

#endif
