/* parse.h: what the parts of cx-parse share: a run, its batches, the
 * delivery being mapped (map.c), and the reader of raw bodies that
 * --provider reads from stdin (bodies.c); main.c holds the command line
 * and the loop over batches. jv values handed to parse_map_body are
 * consumed. */
#ifndef CX_PARSE_H
#define CX_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include <jv.h>

#include "json.h"
#include "ndjson.h"
#include "store.h"

#define TENANTS_CACHED 64

/* One provider's mapping, compiled on first use; jq NULL: no parser file. */
typedef struct {
	char *name;
	cx_jq *jq;
} parse_mapping;

/* A counter increment waiting for the batch's transaction. */
typedef struct {
	const char *metric;
	char *channel, *type;
	int64_t n;
} parse_counter;

typedef struct {
	char *channel, *account, *tenant;
} parse_tenant;

/* One batch: its output lines (each ending in \n), counters and a cache of
 * tenant lookups (a mapping changed meanwhile is seen by the next batch). */
typedef struct {
	cx_buf out;
	parse_counter *counters;
	int ncounters, capcounters;
	parse_tenant tenants[TENANTS_CACHED];
	int ntenants;
	long lines;
	size_t in_bytes;
} parse_batch;

typedef struct {
	cx_store *store;
	parse_mapping **parsers;    /* pointers, so a parser stays put as the list grows */
	int nparsers, unknown_cached;
	long errors;      /* parse errors and bad input over the parse_run */
	int fatal;        /* exit status that stops the run, 0 while going */
	int discard;      /* the current batch must not be written */
	cx_err err;       /* why it stopped */
} parse_run;

/* The delivery being mapped: what every event and error of one body shares. */
typedef struct {
	parse_run *R;
	parse_batch *b;
	const char *label;   /* provider for metrics labels: its name, or "unknown" */
	jv provider, inbox_id, correlation_id, received_at, source;
	long line;           /* --provider: input line where the body ended */
	long events, errors;
} parse_delivery;

/* --provider: raw lines of stdin, fed to a jv_parser one at a time so that
 * after invalid JSON the reading can start again at a line boundary. */
typedef struct {
	int fd;
	char *buf;
	size_t cap, start, end, max_line;
	long lineno;
	int eof, overlong, finished;
	jv_parser *jp;
	const parse_mapping *p;
	jv provider;
	int skipping;        /* after bad input: drop lines up to one starting with { */
	int pending;         /* the parser holds part of a value */
	size_t body_bytes;   /* bytes fed since the last complete value */
	/* What the parser was fed, read as far as separator_guard needs. */
	int depth, in_string, escaped, in_scalar, after_value;
} parse_body_reader;

/* map.c: the object keys every line uses (made once per run); the parser
 * of a provider (NULL with R->err when its file does not compile; jq NULL
 * when there is none) and whether a name can be one; a batch (full,
 * committed: its counters in one transaction, cleared); the mapping of one
 * body (consumed) into events and errors; an error of a delivery that
 * never became one; the end of a delivery; a new correlation id and the
 * time now as jv; one batch's worth of NDJSON lines (1 when the batch has
 * lines, 0 at the end, -1 on a read error); and what a run holds, freed. */
void parse_keys_init(void);
const parse_mapping *parse_parser_for(parse_run *R, const char *name);
int parse_provider_name_ok(const char *s);
int parse_batch_full(const parse_batch *b);
int parse_batch_commit(parse_run *R, parse_batch *b, cx_err *err);
void parse_batch_clear(parse_batch *b);
void parse_map_body(parse_delivery *d, const parse_mapping *p, jv body);
void parse_error_str(parse_delivery *d, const char *path, const char *reason);
void parse_delivery_free(parse_delivery *d);
jv parse_correlation_id(void);
jv parse_now(void);
int parse_read_lines(parse_run *R, cx_ndjson_reader *r, parse_batch *b);
void parse_run_free(parse_run *R);

/* bodies.c: the reader of raw bodies on fd 0 (lines up to max_line bytes),
 * and one batch's worth of its bodies: 1 when the batch has lines, 0 at
 * the end, -1 on a read error. */
void parse_bodies_open(parse_body_reader *br, size_t max_line, const char *provider);
void parse_bodies_close(parse_body_reader *br);
int parse_read_bodies(parse_run *R, parse_body_reader *br, parse_batch *b);

#endif
