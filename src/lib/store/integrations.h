/* integrations.h: automation integrations (Zapier, Make, generic) and their
 * API keys (migration 008). A key "cxk_<key_id>_<secret>" is shown once and
 * kept as its SHA-256; a call finds its key by key_id and compares hashes in
 * constant time. A rotated key works until its grace ends; a revoked
 * integration's keys stop at once. Every change is audited (integration_*
 * actions, subject "integration:<id>", detail with integration_id, tenant)
 * in the transaction that makes it.
 *
 * Functions named _in run inside a transaction the caller began (cx-ingest
 * serve's writer); the others open their own. Strings passed in stay the
 * caller's; strings and jv results are the caller's (cx_integration_free,
 * keys with cx_secret_free); rows handed to each() are the callback's. */
#ifndef CX_INTEGRATIONS_H
#define CX_INTEGRATIONS_H

#include <stdint.h>

#include <jv.h>

#include "err.h"
#include "store.h"

#define CX_INTEGRATION_ID_LEN 21    /* "int_" + 16 hex + NUL */

typedef struct {
	char id[CX_INTEGRATION_ID_LEN];
	char *tenant, *kind, *name, *scopes, *state;
} cx_integration;

void cx_integration_free(cx_integration *in);

/* Whether kind is zapier, make or generic; whether scopes is a non-empty
 * space-separated list of action:<name> and trigger:<type>. 0 with err
 * (CX_EXIT_USAGE) when not. */
int cx_integrations_valid_kind(const char *kind, cx_err *err);
int cx_integrations_valid_scopes(const char *scopes, cx_err *err);
/* Whether the integration's scopes hold scope exactly ("action:create_lead"). */
int cx_integrations_has_scope(const cx_integration *in, const char *scope);

/* Creates an active integration of tenant with one key: *id (a new string)
 * and *api_key (free with cx_secret_free). Audited integration_created. */
int cx_integrations_create(cx_store *s, const char *tenant, const char *kind,
    const char *name, const char *scopes, const char *actor, char **id,
    char **api_key, cx_err *err);
/* A new key for id; every older key expires grace seconds from now (0: at
 * once). Audited integration_key_rotated. An unknown or revoked id is
 * CX_EXIT_SOME_FAILED. */
int cx_integrations_rotate(cx_store *s, const char *id, int64_t grace,
    const char *actor, char **api_key, cx_err *err);
/* As cx_integrations_rotate at time now: the previous key expires at
 * now + grace, which the caller may show. */
int cx_integrations_rotate_at(cx_store *s, const char *id, int64_t now,
    int64_t grace, const char *actor, char **api_key, cx_err *err);
/* Revokes id for good: its keys expire now and its subscriptions are
 * disabled. Audited integration_revoked. */
int cx_integrations_revoke(cx_store *s, const char *id, const char *actor,
    cx_err *err);
/* Sets an integration active again after cx disabled it (refused calls).
 * Audited integration_enabled. A revoked one stays revoked (usage error). */
int cx_integrations_enable(cx_store *s, const char *id, const char *actor,
    cx_err *err);
/* Integrations (of tenant, NULL: all) by id, never a secret:
 * {integration_id, tenant, kind, name, scopes:[...], state, state_reason,
 *  created_at, last_used_at, key_created_at, key_age_seconds, keys_active}. */
int cx_integrations_list(cx_store *s, const char *tenant,
    void (*each)(jv row, void *ctx), void *ctx, cx_err *err);
/* One integration by id: 1 found, 0 not, -1 error. */
int cx_integrations_get(cx_store *s, const char *id, cx_integration *out,
    cx_err *err);

/* The integration whose unexpired key is api_key (any text; a malformed
 * one is simply not found): 1 found (out filled, whatever its state: the
 * caller refuses a revoked or disabled one), 0 not, -1 error. Reads only. */
int cx_integrations_authenticate_in(cx_store *s, const char *api_key,
    int64_t now, cx_integration *out, cx_err *err);
/* An accepted call: last_used_at = now, the refused-call streak forgotten. */
int cx_integrations_accepted_in(cx_store *s, const char *id, int64_t now,
    cx_err *err);
/* A refused call of a known integration (403, 422, 429...): counts it in
 * the streak (a streak older than window seconds starts again); at
 * threshold the integration is disabled, audited integration_disabled with
 * the reason, and *disabled set to 1. */
int cx_integrations_rejected_in(cx_store *s, const char *id, int64_t now,
    int64_t threshold, int64_t window, int *disabled, cx_err *err);

#endif
