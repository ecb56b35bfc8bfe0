/* s3.h: a blocking client of S3 and S3-compatible servers (AWS, MinIO...)
 * over libcurl: objects (HEAD, PUT streamed from a file range) and
 * multipart uploads with SHA-256 checksums, signed with AWS Signature V4
 * (libcurl's, service "s3"). Every request carries x-amz-content-sha256,
 * the hex SHA-256 of its real payload, and its query written canonically
 * (sorted, "=" in every parameter), since libcurl signs the query as
 * written. Answers are read with bounded memory.
 *
 * A failed operation returns -1 and fills a cx_s3_error: status 0 when no
 * answer came (err->msg says why, sent whether the request may have reached
 * the server), else S3's status with its error Code and Message. The
 * client's strings are the caller's. Strings returned through out
 * parameters are new (free()); jv values follow jv's rule (the caller owns
 * what is returned). */
#ifndef CX_S3_H
#define CX_S3_H

#include <stddef.h>
#include <stdint.h>

#include <jv.h>

#include "err.h"

#define CX_S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct {
	const char *endpoint;       /* "https://host[:port]" (no path) */
	const char *region;
	const char *access_key;
	const char *secret_key;
	int path_style;             /* endpoint/bucket/key, else bucket.host/key */
	long timeout_ms;            /* requests without a body; 0: cx_http's */
} cx_s3_client;

typedef struct {
	long status;                /* 0: no answer */
	int sent;                   /* no answer, but the request may have gone out */
	char code[64];              /* S3's error Code ("" when none) */
	char message[160];          /* S3's Message, one line ("" when none) */
} cx_s3_error;

/* A request body: len bytes of the file fd from offset (len 0: empty),
 * with the hex SHA-256 of those bytes and, when set, their
 * x-amz-checksum-sha256 (base64). */
typedef struct {
	int fd;
	int64_t offset, len;
	const char *sha256_hex;
	const char *checksum;
} cx_s3_body;

/* What HeadObject tells; strings "" when not answered. */
typedef struct {
	int exists;
	int64_t size;
	char etag[80];
	char checksum[80];          /* x-amz-checksum-sha256 (checksum mode) */
	char meta_sha256[72];       /* x-amz-meta-sha256 */
} cx_s3_head;

/* HeadObject with x-amz-checksum-mode ENABLED: 0 with out->exists 0 on 404. */
int cx_s3_head_object(const cx_s3_client *c, const char *bucket, const char *key,
    cx_s3_head *out, cx_s3_error *e, cx_err *err);
/* PutObject of body with headers ("Name: value", NULL-terminated, may be
 * NULL) and content_type (NULL: application/octet-stream); *etag the ETag. */
int cx_s3_put_object(const cx_s3_client *c, const char *bucket, const char *key,
    const cx_s3_body *body, const char *content_type, const char *const *headers,
    char **etag, cx_s3_error *e, cx_err *err);
/* CreateMultipartUpload with x-amz-checksum-algorithm SHA256. */
int cx_s3_create_upload(const cx_s3_client *c, const char *bucket, const char *key,
    const char *content_type, const char *const *headers, char **upload_id,
    cx_s3_error *e, cx_err *err);
/* UploadPart number n (1..10000); body->checksum is required. */
int cx_s3_upload_part(const cx_s3_client *c, const char *bucket, const char *key,
    const char *upload_id, int n, const cx_s3_body *body, char **etag, cx_s3_error *e,
    cx_err *err);
/* ListParts, every page: *parts an array of {n, etag, size, checksum}
 * (checksum "" when none), at most 10000. */
int cx_s3_list_parts(const cx_s3_client *c, const char *bucket, const char *key,
    const char *upload_id, jv *parts, cx_s3_error *e, cx_err *err);
/* CompleteMultipartUpload of parts (not consumed: an array of {n, etag,
 * checksum}, ascending); *etag the object's ETag. */
int cx_s3_complete_upload(const cx_s3_client *c, const char *bucket, const char *key,
    const char *upload_id, jv parts, char **etag, cx_s3_error *e, cx_err *err);
/* AbortMultipartUpload (a 404 NoSuchUpload counts as done). */
int cx_s3_abort_upload(const cx_s3_client *c, const char *bucket, const char *key,
    const char *upload_id, cx_s3_error *e, cx_err *err);

/* --- pieces, exposed for their tests --------------------------------------- */

/* The URL of key in bucket (NULL key: the bucket), with query (already
 * canonical, without "?"; NULL: none). */
char *cx_s3_url(const cx_s3_client *c, const char *bucket, const char *key,
    const char *query);
/* key percent-encoded as S3 signs a path: all but letters, digits, "-._~"
 * and "/". */
char *cx_s3_escape_key(const char *key);
/* A canonical query from name, value pairs ending with a NULL name (values
 * NULL: the pair is left out): sorted by name, each encoded, "=" always. */
char *cx_s3_query(const char *name, ...) __attribute__((sentinel));
/* An S3 XML answer (at most len bytes) as an object: "root" the root
 * element's name, each leaf child of the root as a string member, and each
 * child with children as an object of its own leaf children, appended to
 * an array under its name (the Parts of ListParts). Namespace prefixes are
 * dropped; deeper elements are ignored. jv_invalid() when it is not XML. */
jv cx_s3_xml_parse(const char *xml, size_t len);
/* The XML body of CompleteMultipartUpload for parts (not consumed). */
char *cx_s3_complete_xml(jv parts);

#endif
