/* s3uploads.h: the S3 multipart uploads begun and not yet completed or
 * aborted (table s3_uploads), so that a later run of the same object and
 * content resumes them. Strings returned are new (free()). */
#ifndef CX_S3UPLOADS_H
#define CX_S3UPLOADS_H

#include <stdint.h>

#include <jv.h>

#include "err.h"
#include "store.h"

typedef struct {
	const char *endpoint, *bucket, *key;
	const char *sha256;         /* hex, of the whole file */
	int64_t size, part_size;
	const char *tenant;
} cx_s3_upload_of;

/* The upload begun for u (its endpoint, bucket, key and sha256, by its
 * tenant): 1 with *upload_id and *part_size, 0 when there is none. */
int cx_s3_uploads_find(cx_store *s, const cx_s3_upload_of *u, char **upload_id,
    int64_t *part_size, cx_err *err);
/* Records upload_id for u, in a transaction of its own (none may be open):
 * once it returns, a killed run leaves it for the next. */
int cx_s3_uploads_record(cx_store *s, const cx_s3_upload_of *u, const char *upload_id,
    cx_err *err);
/* Forgets upload_id (completed or aborted); in the caller's transaction
 * when one is open. */
int cx_s3_uploads_forget(cx_store *s, const char *upload_id, cx_err *err);
/* The uploads of tenant for endpoint, bucket and key (sha256 NULL: of any
 * content): *out an array of upload ids, the 4 oldest (each costs its
 * caller a request). */
int cx_s3_uploads_of_object(cx_store *s, const cx_s3_upload_of *u, jv *out, cx_err *err);

#endif
