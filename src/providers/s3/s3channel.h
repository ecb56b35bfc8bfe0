/* s3channel.h: cx-publish's s3 channel (cx_s3_channel): a file backed up
 * to an S3 bucket, verified by SHA-256, resumable. channel.c checks items
 * and reads the settings, filehash.c hashes the file once, transfer.c sends
 * it. Structures filled here own their strings; release them with the
 * matching _free. */
#ifndef CX_S3CHANNEL_H
#define CX_S3CHANNEL_H

#include <signal.h>
#include <stdint.h>

#include <jv.h>

#include "channel.h"
#include "crypto.h"
#include "err.h"
#include "s3.h"

#define CX_S3_MIN_PART (5LL * 1024 * 1024)
#define CX_S3_MAX_PART (5LL * 1024 * 1024 * 1024)
#define CX_S3_MAX_PARTS 10000

extern const cx_channel cx_s3_channel;

/* A tenant's settings: CX_S3_ENDPOINT, _REGION, _ACCESS_KEY_ID,
 * _SECRET_ACCESS_KEY, _PATH_STYLE and _PART_SIZE, each NAME_<TENANT> first. */
typedef struct {
	cx_s3_client client;        /* points into the strings below */
	char *endpoint, *region, *access_key, *secret_key;
	int64_t part_size;
	int64_t concurrency;        /* CX_S3_CONCURRENCY: parts in flight at once */
} cx_s3_settings;

/* -1 with *code (AUTH_FAILED: no keys; VALIDATION_FAILED: a bad setting)
 * and err (CX_EXIT_CONFIG). */
int cx_s3_settings_load(const char *tenant, cx_s3_settings *out, const char **code,
    cx_err *err);
void cx_s3_settings_free(cx_s3_settings *s);

/* A file hashed in one pass: the whole and each part of part_size. */
typedef struct {
	int64_t size, part_size;
	int parts;                  /* at least 1 */
	char sha256[2 * CX_SHA256_LEN + 1];
	unsigned char whole[CX_SHA256_LEN];
	unsigned char (*part)[CX_SHA256_LEN];
} cx_s3_file_hash;

/* Reads fd from its start in bounded memory; stops early (1) when *stop
 * is set (stop may be NULL). -1 with err (CX_EXIT_DATAERR when the file
 * needs more than 10000 parts or changed while it was read). */
int cx_s3_hash_file(int fd, int64_t part_size, const volatile sig_atomic_t *stop,
    cx_s3_file_hash *h, cx_err *err);
void cx_s3_file_hash_free(cx_s3_file_hash *h);
/* x-amz-checksum-sha256 values (new strings): of part i (0-based), of the
 * whole file, and S3's composite of a multipart upload ("<base64>-<parts>"). */
char *cx_s3_part_checksum(const cx_s3_file_hash *h, int i);
char *cx_s3_whole_checksum(const cx_s3_file_hash *h);
char *cx_s3_composite_checksum(const cx_s3_file_hash *h);

/* The item's fields (an object, not consumed) as the channel needs them:
 * -1 with *problem and err (CX_EXIT_DATAERR). */
int cx_s3_check_fields(jv f, const char **problem, cx_err *err);
/* The header lines of the item's metadata, and x-amz-meta-sha256 (a
 * NULL-terminated array; free with cx_s3_lines_free). */
char **cx_s3_meta_lines(jv f, const char *sha256_hex);
void cx_s3_lines_free(char **lines);

void cx_s3_transfer(cx_channel_transfer *t);
int cx_s3_reconcile(cx_channel_recon *run, jv item, char **ref, cx_err *err);
int cx_s3_settled(cx_store *s, jv item, const cx_channel_call *call, const char *state,
    const char *provider_ref, cx_err *err);

#endif
