/* dns.h: TXT and CNAME lookups (`cx email check-domain`) through the
 * system resolver, or one server given as IPv4:PORT. Each query waits at
 * most CX_DNS_TIMEOUT_SECONDS per try, CX_DNS_TRIES tries, and reads one
 * answer of at most CX_DNS_MAX_ANSWER bytes (over TCP when the UDP answer
 * was truncated). A name that does not exist, or has no record of the type,
 * is an empty answer, not an error.
 *
 * A cx_dns is the caller's: cx_dns_close. Strings and arrays returned are
 * new: free() them, jv_free() them. */
#ifndef CX_DNS_H
#define CX_DNS_H

#include <jv.h>

#include "err.h"

#define CX_DNS_TIMEOUT_SECONDS 3
#define CX_DNS_TRIES 2
#define CX_DNS_MAX_ANSWER 65535

typedef struct cx_dns cx_dns;

/* server: "IPv4:PORT" (CX_DNS_SERVER), or NULL for the system's resolver
 * configuration. -1 with err (CX_EXIT_CONFIG) when server is malformed or
 * the resolver cannot be set up. */
int cx_dns_open(const char *server, cx_dns **out, cx_err *err);
void cx_dns_close(cx_dns *d);

/* The TXT records of name, each one string (its character-strings joined
 * as RFC 7208 3.3 says; bytes outside printable ASCII as '?'): *out a new
 * array. -1 with err (CX_EXIT_UNAVAILABLE) when no server answers or it
 * fails (SERVFAIL, REFUSED). */
int cx_dns_txt(cx_dns *d, const char *name, jv *out, cx_err *err);
/* The target of name's CNAME record, without the final dot: *target a new
 * string, or NULL when name has none. -1 with err as cx_dns_txt. */
int cx_dns_cname(cx_dns *d, const char *name, char **target, cx_err *err);

#endif
