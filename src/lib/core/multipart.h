/* multipart.h: HTML form bodies as a list of fields: multipart/form-data
 * (RFC 7578 over RFC 2046's multipart syntax; CRLF line ends, bare LF
 * tolerated) and application/x-www-form-urlencoded. Parsing is bounded:
 * at most CX_FORM_MAX_PARTS fields, CX_FORM_MAX_HEADER bytes of headers a
 * part, and nothing is read past the body given.
 * Errors are CX_EXIT_DATAERR with a message that quotes no content.
 * Everything a cx_form holds is its own; cx_form_free releases it. */
#ifndef CX_MULTIPART_H
#define CX_MULTIPART_H

#include <stddef.h>

#include "err.h"

#define CX_FORM_MAX_PARTS 256
#define CX_FORM_MAX_HEADER 8192
#define CX_FORM_MAX_BOUNDARY 70   /* RFC 2046 */

typedef struct {
	char *name;            /* the field's name */
	char *filename;        /* a file part's file name; NULL for a text field */
	char *content_type;    /* the part's Content-Type, NULL when it has none */
	char *data;            /* the value's bytes (NUL-terminated, may hold NULs) */
	size_t len;
} cx_form_field;

typedef struct {
	cx_form_field *fields;
	size_t n;
} cx_form;

/* The boundary parameter of a multipart/form-data Content-Type (token or
 * quoted string, 1 to 70 characters): a new string, or NULL with err when
 * content_type is not multipart/form-data or names no usable boundary. */
char *cx_multipart_boundary(const char *content_type, cx_err *err);
/* The fields of a multipart/form-data body with that boundary, in order.
 * 0, or -1 with err (and form empty). */
int cx_multipart_parse(const char *body, size_t len, const char *boundary,
    cx_form *form, cx_err *err);
/* The fields of an application/x-www-form-urlencoded body ("+" is a space,
 * %XX a byte). 0, or -1 with err (and form empty). */
int cx_form_urlencoded_parse(const char *body, size_t len, cx_form *form,
    cx_err *err);
/* The last field called name, or NULL. */
const cx_form_field *cx_form_get(const cx_form *form, const char *name);
void cx_form_free(cx_form *form);

#endif
