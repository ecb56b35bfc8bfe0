/* transfer.c: the s3 channel's transfer (s3channel.h): hash the file, look
 * at the object (an object already there with the same SHA-256 is not sent
 * again), send it in one PUT or as a multipart upload that a later run
 * resumes (s3_uploads), then look again: the size and checksum S3 has must
 * be those of the file. Every request of it may be sent twice without harm:
 * a PUT or a part carries the same bytes again, and a completed upload is
 * found by the HEAD that follows. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "exit.h"
#include "json.h"
#include "log.h"
#include "s3channel.h"
#include "s3uploads.h"
#include "xalloc.h"

/* Abort requests made while the engine's transaction is open are short. */
#define SETTLE_TIMEOUT_MS 10000

typedef struct {
	cx_channel_transfer *t;
	cx_channel_result *r;
	jv f;                       /* the item's fields */
	const char *bucket, *key;
	cx_s3_settings set;
	int fd;
	cx_s3_file_hash h;
	char **meta;                /* x-amz-meta-* lines */
	char *etag;
	char *upload_id;            /* a multipart upload still open */
	int skipped;
} s3_item;

/* --- verdicts ------------------------------------------------------------- */

/* S3's refusals that are no fault of the item or the keys. */
static int is_transient(const cx_s3_error *e)
{
	static const char *const codes[] = { "SlowDown", "InternalError", "ServiceUnavailable",
		"RequestTimeout", "OperationAborted", "RequestTimeTooSkewed", NULL };

	for (const char *const *c = codes; *c; c++)
		if (strcmp(e->code, *c) == 0)
			return 1;
	return e->status >= 500 || e->status == 429 || e->status == 200 || e->status == 409;
}

/* The verdict on a failed request: err says what happened. */
static void judge_s3(cx_channel_result *r, const cx_s3_error *e, const cx_err *err)
{
	if (e->status == 0) {
		cx_channel_set(r, CX_CHANNEL_RETRY, e->sent ? "CONNECTION_LOST" : "CONNECT_FAILED",
		    "%s", err->msg);
		r->upstream_failure = 1;
	} else if (is_transient(e)) {
		cx_channel_set(r, CX_CHANNEL_RETRY, e->status == 429 || !strcmp(e->code, "SlowDown") ?
		    "RATE_LIMITED" : "UPSTREAM_ERROR", "%s", err->msg);
		r->upstream_failure = e->status >= 500;
	} else if (e->status == 403 || !strcmp(e->code, "AuthorizationHeaderMalformed")) {
		cx_channel_set(r, CX_CHANNEL_FAILED, "AUTH_FAILED", "%s", err->msg);
	} else if (e->status == 404) {
		cx_channel_set(r, CX_CHANNEL_FAILED, "NOT_FOUND", "%s", err->msg);
	} else if (e->status == 400) {
		cx_channel_set(r, CX_CHANNEL_FAILED, "VALIDATION_FAILED", "%s", err->msg);
	} else {
		cx_channel_set(r, CX_CHANNEL_FAILED, "REJECTED", "%s", err->msg);
	}
}

/* --- the object ----------------------------------------------------------- */

/* Whether what HEAD tells is the file: its size, and its SHA-256 as S3's
 * checksum (of a single PUT, or composite of the parts) or as the
 * x-amz-meta-sha256 cx set. -1: the checksum S3 has is another. */
static int same_object(const s3_item *it, const cx_s3_head *hd)
{
	char *whole, *composite;
	int same = 0;

	if (!hd->exists || hd->size != it->h.size)
		return 0;
	if (hd->checksum[0]) {
		whole = cx_s3_whole_checksum(&it->h);
		composite = cx_s3_composite_checksum(&it->h);
		if (strcmp(hd->checksum, whole) == 0 || strcmp(hd->checksum, composite) == 0)
			same = 1;
		/* a whole object's checksum tells; a composite one of parts of
		 * another size cannot be compared, so the SHA-256 cx set decides */
		else if (!strchr(hd->checksum, '-'))
			same = -1;
		free(whole);
		free(composite);
		if (same)
			return same;
	}
	if (strcmp(hd->meta_sha256, it->h.sha256) == 0)
		return 1;
	return hd->checksum[0] ? -1 : 0;
}

static int head(s3_item *it, cx_s3_head *hd)
{
	cx_s3_error e;
	cx_err err = { 0 };

	if (cx_s3_head_object(&it->set.client, it->bucket, it->key, hd, &e, &err) == 0)
		return 0;
	judge_s3(it->r, &e, &err);
	return -1;
}

static int put_whole(s3_item *it)
{
	cx_s3_body b = { it->fd, 0, it->h.size, it->h.sha256, NULL };
	char *sum = cx_s3_whole_checksum(&it->h);
	cx_s3_error e;
	cx_err err = { 0 };
	int rc;

	b.checksum = sum;
	rc = cx_s3_put_object(&it->set.client, it->bucket, it->key, &b,
	    cx_json_str(it->f, "content_type"), (const char *const *)it->meta, &it->etag, &e,
	    &err);
	if (rc < 0)
		judge_s3(it->r, &e, &err);
	free(sum);
	return rc;
}

/* --- multipart ------------------------------------------------------------ */

static cx_s3_upload_of upload_of(const s3_item *it)
{
	return (cx_s3_upload_of){ it->set.endpoint, it->bucket, it->key, it->h.sha256,
		it->h.size, it->h.part_size, it->t->tenant };
}

/* Aborts the open upload and forgets it (an upload refused for good). */
static void abandon(s3_item *it)
{
	cx_s3_error e;
	cx_err err = { 0 };

	if (cx_s3_abort_upload(&it->set.client, it->bucket, it->key, it->upload_id, &e,
	    &err) == 0)
		cx_s3_uploads_forget(it->t->s, it->upload_id, &err);
	free(it->upload_id);
	it->upload_id = NULL;
}

/* The parts an upload begun before already has (an array, possibly empty);
 * an upload S3 no longer knows, or of another part size, is forgotten. */
static int resume(s3_item *it, jv *have)
{
	cx_s3_upload_of u = upload_of(it);
	cx_s3_error e;
	cx_err err = { 0 };
	int64_t size;
	int found = cx_s3_uploads_find(it->t->s, &u, &it->upload_id, &size, &err);

	*have = jv_array();
	if (found < 0) {
		cx_channel_set(it->r, CX_CHANNEL_RETRY, "UPSTREAM_ERROR", "%s", err.msg);
		return -1;
	}
	if (!found)
		return 0;
	if (size != it->h.part_size) {
		abandon(it);
		return 0;
	}
	jv_free(*have);
	if (cx_s3_list_parts(&it->set.client, it->bucket, it->key, it->upload_id, have, &e,
	    &err) == 0)
		return 0;
	*have = jv_array();
	if (e.status == 404 && strcmp(e.code, "NoSuchUpload") == 0) {
		cx_s3_uploads_forget(it->t->s, it->upload_id, &err);
		free(it->upload_id);
		it->upload_id = NULL;
		return 0;
	}
	/* a server without ListParts (s3rver): the upload begins anew */
	if (e.status == 405 || e.status == 501) {
		abandon(it);
		return 0;
	}
	judge_s3(it->r, &e, &err);
	return -1;
}

/* A new upload, recorded at once (committed: a kill -9 keeps it). */
static int begin_upload(s3_item *it)
{
	cx_s3_upload_of u = upload_of(it);
	cx_s3_error e;
	cx_err err = { 0 };

	if (cx_s3_create_upload(&it->set.client, it->bucket, it->key,
	    cx_json_str(it->f, "content_type"), (const char *const *)it->meta, &it->upload_id,
	    &e, &err) < 0) {
		judge_s3(it->r, &e, &err);
		return -1;
	}
	if (cx_s3_uploads_record(it->t->s, &u, it->upload_id, &err) < 0) {
		cx_channel_set(it->r, CX_CHANNEL_RETRY, "UPSTREAM_ERROR", "%s", err.msg);
		abandon(it);
		return -1;
	}
	return 0;
}

/* The ETag of part i (0-based) when have lists it with the file's bytes. */
static const char *part_there(const s3_item *it, jv have, int i, const char *sum)
{
	int64_t len = i < it->h.parts - 1 ? it->h.part_size :
	    it->h.size - (int64_t)i * it->h.part_size;
	const char *etag = NULL;

	jv_array_foreach(have, k, p) {
		jv n = jv_object_get(jv_copy(p), jv_string("n"));
		jv size = jv_object_get(jv_copy(p), jv_string("size"));

		(void)k;
		if (!etag && jv_number_value(n) == i + 1 && jv_number_value(size) == (double)len &&
		    cx_json_str(p, "checksum") && strcmp(cx_json_str(p, "checksum"), sum) == 0)
			etag = cx_json_str(p, "etag");
		jv_free(n);
		jv_free(size);
		jv_free(p);
	}
	return etag;
}

/* The parts of one upload, sent by up to CX_S3_CONCURRENCY threads, each
 * taking the next part to send; the first refusal stops them all. Threads
 * touch no jv: what ListParts found is read before they start. */
typedef struct {
	s3_item *it;
	pthread_mutex_t mu;
	int next;                   /* the next part to look at */
	int failed;                 /* a part was refused, or a stop asked */
	int sent;                   /* parts done (sent or there) */
	char **sum;                 /* each part's x-amz-checksum-sha256 */
	char **etag;                /* each part's ETag, once done */
	cx_s3_error e;              /* the first refusal */
	cx_err err;
} part_pool;

/* Sends part i; 0, or -1 with the pool's refusal set. */
static int send_part(part_pool *pp, int i)
{
	s3_item *it = pp->it;
	int64_t off = (int64_t)i * it->h.part_size;
	char hex[2 * CX_SHA256_LEN + 1], *etag = NULL;
	cx_s3_body b = { it->fd, off, i < it->h.parts - 1 ? it->h.part_size :
		it->h.size - off, hex, pp->sum[i] };
	cx_s3_error e;
	cx_err err = { 0, "" };

	cx_crypto_hex(it->h.part[i], CX_SHA256_LEN, hex);
	if (cx_s3_upload_part(&it->set.client, it->bucket, it->key, it->upload_id, i + 1, &b,
	    &etag, &e, &err) < 0) {
		pthread_mutex_lock(&pp->mu);
		if (!pp->failed) {
			pp->failed = 1;
			pp->e = e;
			pp->err = err;
		}
		pthread_mutex_unlock(&pp->mu);
		return -1;
	}
	pthread_mutex_lock(&pp->mu);
	pp->etag[i] = etag;
	pp->sent++;
	pthread_mutex_unlock(&pp->mu);
	return 0;
}

static void *part_worker(void *arg)
{
	part_pool *pp = arg;
	s3_item *it = pp->it;

	for (;;) {
		int i;

		pthread_mutex_lock(&pp->mu);
		while (pp->next < it->h.parts && pp->etag[pp->next])
			pp->next++;
		i = pp->failed || pp->next >= it->h.parts ? -1 : pp->next++;
		if (i >= 0 && it->t->stop && *it->t->stop) {
			pp->failed = 2;
			i = -1;
		}
		pthread_mutex_unlock(&pp->mu);
		if (i < 0 || send_part(pp, i) < 0)
			return NULL;
	}
}

/* Sends the parts have lacks, up to CX_S3_CONCURRENCY at once; *done the
 * parts for Complete. */
static int send_parts(s3_item *it, jv have, jv *done)
{
	part_pool pp = { .it = it };
	pthread_t th[16];
	int n = 0, rc = 0;

	pthread_mutex_init(&pp.mu, NULL);
	pp.sum = cx_xcalloc((size_t)it->h.parts, sizeof *pp.sum);
	pp.etag = cx_xcalloc((size_t)it->h.parts, sizeof *pp.etag);
	for (int i = 0; i < it->h.parts; i++) {
		const char *there;

		pp.sum[i] = cx_s3_part_checksum(&it->h, i);
		if ((there = part_there(it, have, i, pp.sum[i]))) {
			pp.etag[i] = cx_xstrdup(there);
			pp.sent++;
		}
	}
	while (n < it->set.concurrency && n < it->h.parts - pp.sent &&
	    pthread_create(&th[n], NULL, part_worker, &pp) == 0)
		n++;
	if (n == 0 && pp.sent < it->h.parts)
		part_worker(&pp);
	for (int k = 0; k < n; k++)
		pthread_join(th[k], NULL);
	if (pp.failed == 1) {
		judge_s3(it->r, &pp.e, &pp.err);
		rc = -1;
	} else if (pp.failed == 2 || pp.sent < it->h.parts) {
		cx_channel_set(it->r, CX_CHANNEL_RETRY, "INTERRUPTED", "stopped after %d of "
		    "%d parts; the upload is kept for the next run", pp.sent, it->h.parts);
		it->r->hint = cx_clock_now();
		rc = -1;
	}
	for (int i = 0; i < it->h.parts; i++) {
		if (rc == 0)
			*done = jv_array_append(*done, JV_OBJECT(jv_string("n"), jv_number(i + 1),
			    jv_string("etag"), jv_string(pp.etag[i]),
			    jv_string("checksum"), jv_string(pp.sum[i])));
		free(pp.sum[i]);
		free(pp.etag[i]);
	}
	free(pp.sum);
	free(pp.etag);
	pthread_mutex_destroy(&pp.mu);
	return rc;
}

static int put_parts(s3_item *it)
{
	jv have, done = jv_array();
	cx_s3_error e;
	cx_err err = { 0 };
	int rc = -1;

	if (resume(it, &have) < 0 || (!it->upload_id && begin_upload(it) < 0) ||
	    send_parts(it, have, &done) < 0)
		goto out;
	rc = cx_s3_complete_upload(&it->set.client, it->bucket, it->key, it->upload_id, done,
	    &it->etag, &e, &err);
	/* NoSuchUpload: completed by a request whose answer was lost; the HEAD
	 * that follows tells */
	if (rc == 0 || (e.status == 404 && strcmp(e.code, "NoSuchUpload") == 0)) {
		cx_s3_uploads_forget(it->t->s, it->upload_id, &err);
		free(it->upload_id);
		it->upload_id = NULL;
		rc = 0;
	} else {
		judge_s3(it->r, &e, &err);
	}
out:
	if (rc < 0 && it->upload_id && it->r->verdict == CX_CHANNEL_FAILED)
		abandon(it);
	jv_free(have);
	jv_free(done);
	return rc;
}

/* An upload of the same content a killed run left, once the object is
 * there after all: aborted and forgotten. */
static void drop_leftover(s3_item *it)
{
	cx_s3_upload_of u = upload_of(it);
	cx_err err = { 0 };
	int64_t size;

	if (cx_s3_uploads_find(it->t->s, &u, &it->upload_id, &size, &err) == 1)
		abandon(it);
}

/* --- one item ------------------------------------------------------------- */

static int open_and_hash(s3_item *it)
{
	const char *file = cx_json_str(it->f, "file");
	cx_err err = { 0 };
	int rc;

	if ((it->fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
		cx_channel_set(it->r, CX_CHANNEL_FAILED, "VALIDATION_FAILED", "cannot open %s: %s",
		    file, strerror(errno));
		return -1;
	}
	rc = cx_s3_hash_file(it->fd, it->set.part_size, it->t->stop, &it->h, &err);
	if (rc == 1) {
		cx_channel_set(it->r, CX_CHANNEL_RETRY, "INTERRUPTED", "stopped while hashing");
		it->r->hint = cx_clock_now();
	}
	else if (rc < 0)
		cx_channel_set(it->r, CX_CHANNEL_FAILED, "VALIDATION_FAILED", "%s: %s", file,
		    err.msg);
	return rc == 0 ? 0 : -1;
}

/* Looks at the object before (skips it when it is there) and after. */
static int send_item(s3_item *it)
{
	cx_s3_head hd;

	if (head(it, &hd) < 0)
		return -1;
	if (same_object(it, &hd) == 1) {
		it->skipped = 1;
		it->etag = cx_xstrdup(hd.etag);
		drop_leftover(it);
		return 0;
	}
	if ((it->h.parts == 1 ? put_whole(it) : put_parts(it)) < 0 || head(it, &hd) < 0)
		return -1;
	if (same_object(it, &hd) != 1) {
		cx_channel_set(it->r, CX_CHANNEL_FAILED, "CHECKSUM_MISMATCH", "S3 has %s/%s as %lld "
		    "bytes%s%s, not the file's %lld bytes of SHA-256 %s", it->bucket, it->key,
		    (long long)hd.size, hd.checksum[0] ? " of checksum " : "", hd.checksum,
		    (long long)it->h.size, it->h.sha256);
		return -1;
	}
	if (hd.etag[0]) {
		free(it->etag);
		it->etag = cx_xstrdup(hd.etag);
	}
	return 0;
}

/* data: what the result line and the audit row carry. */
static jv item_data(const s3_item *it)
{
	jv d = JV_OBJECT(jv_string("bucket"), jv_string(it->bucket), jv_string("key"),
	    jv_string(it->key));

	if (it->h.sha256[0])
		d = jv_object_set(jv_object_set(d, jv_string("sha256"), jv_string(it->h.sha256)),
		    jv_string("size"), jv_number((double)it->h.size));
	if (it->r->verdict == CX_CHANNEL_PUBLISHED) {
		d = jv_object_set(d, jv_string("etag"), jv_string(it->etag ? it->etag : ""));
		d = jv_object_set(d, jv_string("skipped"), jv_bool(it->skipped));
		if (it->h.parts > 1 && !it->skipped)
			d = jv_object_set(d, jv_string("parts"), jv_number(it->h.parts));
	}
	if (it->upload_id)
		d = jv_object_set(d, jv_string("upload_id"), jv_string(it->upload_id));
	return d;
}

/* The item's fields, its tenant's settings, its file open and hashed: -1
 * with it->r's verdict when it cannot be sent. */
static int item_open(s3_item *it, jv item)
{
	const char *code;
	cx_err err = { 0 };

	it->f = cx_channel_fields(item);
	it->bucket = cx_json_str(it->f, "bucket");
	it->key = cx_json_str(it->f, "key");
	if (cx_s3_check_fields(it->f, NULL, &err) < 0) {
		cx_channel_set(it->r, CX_CHANNEL_FAILED, "VALIDATION_FAILED", "%s", err.msg);
		return -1;
	}
	if (cx_s3_settings_load(it->t->tenant, &it->set, &code, &err) < 0) {
		cx_channel_set(it->r, CX_CHANNEL_FAILED, code, "%s", err.msg);
		return -1;
	}
	if (open_and_hash(it) < 0)
		return -1;
	it->meta = cx_s3_meta_lines(it->f, it->h.sha256);
	return 0;
}

static void item_close(s3_item *it)
{
	if (it->fd >= 0)
		close(it->fd);
	cx_s3_lines_free(it->meta);
	cx_s3_file_hash_free(&it->h);
	cx_s3_settings_free(&it->set);
	free(it->etag);
	free(it->upload_id);
	jv_free(it->f);
}

static void transfer_one(cx_channel_transfer *t, size_t i)
{
	s3_item it = { .t = t, .r = &t->results[i], .f = jv_invalid(), .fd = -1 };
	jv item = jv_array_get(jv_copy(t->items), (int)i);

	if (item_open(&it, item) == 0 && send_item(&it) == 0) {
		cx_channel_set(it.r, CX_CHANNEL_PUBLISHED, NULL, "%s", it.skipped ?
		    "already there with the same SHA-256" : "uploaded and verified");
		it.r->provider_ref = cx_xasprintf("s3://%s/%s", it.bucket, it.key);
	}
	t->data[i] = item_data(&it);
	item_close(&it);
	jv_free(item);
}

void cx_s3_transfer(cx_channel_transfer *t)
{
	for (size_t i = 0; i < t->n; i++)
		transfer_one(t, i);
}

/* --- an item whose fate is unknown ---------------------------------------- */

/* Published when the object is there with the file's size and SHA-256;
 * else not found, and sent again: the upload it left is resumed. */
int cx_s3_reconcile(cx_channel_recon *run, jv item, char **ref, cx_err *err)
{
	static const volatile sig_atomic_t never = 0;
	const char *tenant = cx_json_str(item, "tenant");
	cx_channel_result r = { 0 };
	cx_channel_transfer t = { .s = run->s, .tenant = tenant ? tenant : "default",
		.stop = &never };
	s3_item it = { .t = &t, .r = &r, .f = jv_invalid(), .fd = -1 };
	cx_s3_head hd;
	int rc = -1;

	*ref = NULL;
	if (item_open(&it, item) == 0 && head(&it, &hd) == 0) {
		rc = same_object(&it, &hd) == 1;
		if (rc) {
			*ref = cx_xasprintf("s3://%s/%s", it.bucket, it.key);
			drop_leftover(&it);
		}
	}
	if (rc < 0) {
		cx_err_set(err, r.verdict == CX_CHANNEL_RETRY ? CX_EXIT_TEMPFAIL :
		    CX_EXIT_SOME_FAILED, "%s", r.detail);
		cx_log(CX_LOG_WARN, jv_object_set(jv_object(), jv_string("error_code"),
		    jv_string(r.code ? r.code : "UNKNOWN")), "cannot tell whether s3://%s/%s "
		    "went out: %s", it.bucket ? it.bucket : "", it.key ? it.key : "", r.detail);
	}
	item_close(&it);
	return rc;
}

/* --- an item that ends dead ----------------------------------------------- */

/* Its upload is aborted: the one its data names, else those of its object
 * (and content, when known) begun for its tenant. This runs in the
 * engine's transaction, so each abort has a short timeout; an upload that
 * cannot be aborted now stays recorded, and the next item of the same
 * object and content resumes it. */
int cx_s3_settled(cx_store *s, jv item, const cx_channel_call *call, const char *state,
    const char *provider_ref, cx_err *err)
{
	jv f, ids = jv_invalid();
	cx_s3_settings set;
	const char *code, *id;
	cx_s3_upload_of u = { 0 };
	cx_s3_error e;
	cx_err ignored = { 0 };
	int rc = 0;

	(void)provider_ref;
	if (strcmp(state, "dead") != 0 && strcmp(state, "failed") != 0)
		return 0;
	f = cx_channel_fields(item);
	u.bucket = cx_json_str(f, "bucket");
	u.key = cx_json_str(f, "key");
	u.tenant = cx_json_str(f, "tenant");
	id = jv_get_kind(call->data) == JV_KIND_OBJECT ? cx_json_str(call->data, "upload_id") :
	    NULL;
	u.sha256 = jv_get_kind(call->data) == JV_KIND_OBJECT ? cx_json_str(call->data,
	    "sha256") : NULL;
	if (u.bucket && u.key && u.tenant &&
	    cx_s3_settings_load(u.tenant, &set, &code, &ignored) == 0) {
		u.endpoint = set.endpoint;
		set.client.timeout_ms = SETTLE_TIMEOUT_MS;
		if (id)
			ids = JV_ARRAY(jv_string(id));
		else
			rc = cx_s3_uploads_of_object(s, &u, &ids, err);
		jv_array_foreach(ids, i, v) {
			(void)i;
			if (rc == 0 && cx_s3_abort_upload(&set.client, u.bucket, u.key, jv_string_value(v), &e,
			    &ignored) == 0 && cx_s3_uploads_forget(s, jv_string_value(v), err) < 0)
				rc = -1;
			jv_free(v);
		}
		cx_s3_settings_free(&set);
	}
	jv_free(ids);
	jv_free(f);
	return rc;
}
