/* ingest.h: what the parts of cx-ingest share: the providers it accepts,
 * body checks, and the entry points of its subcommands. */
#ifndef CX_INGEST_H
#define CX_INGEST_H

#include <stddef.h>

#include "err.h"
#include "opts.h"

/* How a provider's deliveries are authenticated. */
typedef enum {
	INGEST_AUTH_META,            /* X-Hub-Signature-256 over the body */
	INGEST_AUTH_GOOGLE_CHANNEL,  /* X-Goog-* headers against the watch table */
} ingest_auth;

typedef struct {
	const char *name;       /* path segment and provider name */
	ingest_auth auth;
} ingest_provider;

/* The provider called name, or NULL. */
const ingest_provider *ingest_provider_find(const char *name);

/* The providers of a comma-separated list of names as a set (NULL: every
 * provider); an unknown name is a usage error. */
int ingest_routes_parse(const char *list, unsigned *set, cx_err *err);
/* Whether provider p is in set. */
int ingest_route_served(unsigned set, const ingest_provider *p);
/* Whether a provider in set authenticates with auth. */
int ingest_routes_need(unsigned set, ingest_auth auth);

/* Meta's app secrets (current and previous), read once. */
typedef struct {
	char *secret, *previous, *verify_token;
} ingest_secrets;

int ingest_secrets_load(ingest_secrets *s, cx_err *err);
void ingest_secrets_free(ingest_secrets *s);

int ingest_serve(int argc, char **argv);
extern const cx_cmd ingest_serve_cmd;

#endif
