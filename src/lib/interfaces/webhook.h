/* webhook.h: the webhook source interface of `cx-ingest serve` (and
 * `cx-ingest store`).
 *
 * A webhook source is what one platform's deliveries need at cx-ingest's
 * door. An implementation is a cx_webhook_source:
 *   - routes: its path segments under /webhooks/; each is also the provider
 *     name its deliveries are stored under;
 *   - secrets: the env names (and *_FILE) of what it verifies with; load
 *     reads them once, when one of its routes is served, into *keys, which
 *     unload wipes and frees; no secrets: load NULL;
 *   - handshake: a GET on a route (a subscription challenge): the text to
 *     answer 200 with, borrowed from the request, or NULL for 403
 *     verification_failed; no handshake: NULL;
 *   - verify: a POST: whether the delivery is authentic (a signature over
 *     the raw body, or headers that name a live channel); it may replace
 *     the body with the one to store. 1 accepted, 0 refused (401 with
 *     `refused` as error code, counted in
 *     cx_webhook_signature_failures_total; or, when verify set the
 *     request's `forbidden`, 403 with that error code, not counted: the
 *     sender is authentic or unknown but not one cx takes deliveries
 *     from), -1 with err when the store failed (503). It gets the store
 *     only when needs_store is set, and holds it alone for the call;
 *   - signature_header: the header verify checks (kept with the delivery,
 *     and checked by `cx-ingest store` when given), or NULL.
 * The dedupe id: the inbox stores every authentic delivery; cx-parse's
 * share/cx/parsers/<route>.jq gives each event of it a dedupe_key from the
 * platform's ids (a source whose platform posts no body, like Google's
 * channel notifications, stores one verify builds from the headers, with
 * what the key needs), and cx-dedupe keys on that.
 * Sources are listed in src/providers/webhooks.c; they never call the
 * registry or a tool.
 * Everything a request hands over is borrowed. */
#ifndef CX_WEBHOOK_H
#define CX_WEBHOOK_H

#include <stddef.h>

#include "err.h"
#include "store.h"

/* One request, as the server shows it to a source. */
typedef struct cx_webhook_request {
	/* A header or query argument by name, or NULL (borrowed). */
	const char *(*header)(const struct cx_webhook_request *r, const char *name);
	const char *(*query)(const struct cx_webhook_request *r, const char *name);
	void *ctx;             /* the server's */
	char *body;            /* the raw body, NULL when empty; the request's */
	size_t len;
	const char *forbidden; /* verify's: see above (a static string) */
} cx_webhook_request;

typedef struct {
	const char *const *routes;          /* ends with NULL */
	const char *const *secrets;         /* env names, ends with NULL */
	const char *signature_header;
	const char *refused;                /* error code of a refused POST */
	int needs_store;
	int (*load)(void **keys, cx_err *err);
	void (*unload)(void *keys);
	const char *(*handshake)(const cx_webhook_request *r, const void *keys);
	int (*verify)(cx_webhook_request *r, const void *keys, cx_store *store,
	    cx_err *err);
} cx_webhook_source;

#endif
