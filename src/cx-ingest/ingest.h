/* ingest.h: what the parts of cx-ingest share: the routes it serves (the
 * webhook sources of webhooks.h), serve's histograms (histogram.c), and
 * the entry points of its subcommands. */
#ifndef CX_INGEST_H
#define CX_INGEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "err.h"
#include "opts.h"
#include "store.h"

/* The routes of a comma-separated list of names as a set of route indexes
 * (NULL: every route); an unknown name is a usage error. */
int ingest_routes_parse(const char *list, unsigned *set, cx_err *err);
/* The name and the bit of the automation API (/actions/, /make/hooks/,
 * /integrations/me, /hooks, /triggers/) in a set of routes. */
#define INGEST_ACTIONS_ROUTE "actions"
#define INGEST_ACTIONS_BIT (1u << 31)
/* The address of --listen's HOST:PORT ([v6]:PORT too); a bad one is a
 * usage error. */
int ingest_resolve_listen(const char *listen, struct sockaddr_storage *addr,
    socklen_t *len, cx_err *err);
/* Whether route i is in set. */
int ingest_route_served(unsigned set, int i);
/* Whether a route in set belongs to the source_index-th source. */
int ingest_routes_use(unsigned set, size_t source_index);

/* A histogram kept in memory (at most 16 bounds). */
typedef struct {
	double sum;
	uint64_t count, buckets[16];
} histogram;

/* Counts v in h, whose n bucket bounds are bounds. */
void observe(histogram *h, const double *bounds, size_t n, double v);
/* Writes h as Prometheus text (HELP, TYPE, buckets, sum, count). */
void write_histogram(FILE *out, const char *name, const char *help,
    const histogram *h, const double *bounds, size_t n);

/* A pending counter delta: name{labels} += n, in a list the caller owns
 * (deltas_free). */
typedef struct delta {
	char *name, *labels;
	int64_t n;
	struct delta *next;
} delta;

/* Adds n to name{labels} in *list. */
void deltas_add(delta **list, const char *name, const char *labels, int64_t n);
/* Writes the list's deltas inside the caller's transaction. */
int deltas_flush(cx_store *s, const delta *list, cx_err *err);
void deltas_free(delta *list);

int ingest_serve(int argc, char **argv);
extern const cx_cmd ingest_serve_cmd;

#endif
