/* formdata.h: builds a multipart/form-data body (RFC 7578) from text fields
 * and file parts, in the order they are added, under a random boundary
 * that occurs in none of the parts. (Reading such a body is multipart.h's.)
 *
 * A cx_formdata copies what it is given; cx_formdata_finish hands the body
 * and its Content-Type to the caller (free both with free()) and frees the
 * builder, as cx_formdata_free does on any other path. */
#ifndef CX_FORMDATA_H
#define CX_FORMDATA_H

#include <stddef.h>

#include "err.h"

typedef struct cx_formdata cx_formdata;

cx_formdata *cx_formdata_new(void);
void cx_formdata_free(cx_formdata *f);
/* A text field NAME=VALUE (UTF-8). A name repeats when added again. */
void cx_formdata_field(cx_formdata *f, const char *name, const char *value);
/* A file part: LEN bytes of DATA under FILENAME, of CONTENT_TYPE
 * (application/octet-stream when NULL). */
void cx_formdata_file(cx_formdata *f, const char *name, const char *filename,
    const char *content_type, const void *data, size_t len);
/* The body (*body, *len bytes, NUL after them) and *content_type
 * ("multipart/form-data; boundary=..."); frees f. -1 with err when no
 * random boundary could be drawn. */
int cx_formdata_finish(cx_formdata *f, char **body, size_t *len, char **content_type,
    cx_err *err);

#endif
