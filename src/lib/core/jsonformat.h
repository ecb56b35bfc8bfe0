/* jsonformat.h: the string formats of jsonschema.h ("format": email,
 * date-time, uri). Each reads s[0..len) (not NUL-terminated, not kept) and
 * returns 1 when it has the format, else 0; nothing is allocated. */
#ifndef CX_JSONFORMAT_H
#define CX_JSONFORMAT_H

#include <stddef.h>

/* A plain addr-spec: a dot-atom local part (at most 64 bytes), '@', and a
 * host name of at least two labels (UTF-8 in either let through). */
int cx_jsonformat_email(const char *s, size_t len);
/* An RFC 3339 date-time: 2026-12-06T20:57:17(.fraction)(Z|+hh:mm|-hh:mm),
 * T and Z in either case, days checked against the month, second 60 let
 * through for leap seconds. */
int cx_jsonformat_date_time(const char *s, size_t len);
/* An RFC 3986 URI: a scheme, ':', then only characters a URI may hold, with
 * complete percent escapes, and after "//" a non-empty authority (except
 * for file:). */
int cx_jsonformat_uri(const char *s, size_t len);

#endif
