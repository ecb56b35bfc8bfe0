/* filehash.c: a file's SHA-256, whole and by part, in one pass with a
 * 1 MiB buffer (s3channel.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "exit.h"
#include "s3channel.h"
#include "xalloc.h"

#define CHUNK (1024 * 1024)

/* Feeds n bytes of buf to the whole and to the parts they fall in. */
static void feed(cx_s3_file_hash *h, EVP_MD_CTX *whole, EVP_MD_CTX *part,
    const unsigned char *buf, int64_t at, size_t n)
{
	EVP_DigestUpdate(whole, buf, n);
	while (n > 0) {
		int64_t left = h->part_size - at % h->part_size;
		size_t k = (int64_t)n < left ? n : (size_t)left;

		EVP_DigestUpdate(part, buf, k);
		if ((int64_t)k == left) {
			EVP_DigestFinal_ex(part, h->part[at / h->part_size], NULL);
			EVP_DigestInit_ex(part, EVP_sha256(), NULL);
		}
		at += (int64_t)k;
		buf += k;
		n -= k;
	}
}

static int hash_read(int fd, cx_s3_file_hash *h, const volatile sig_atomic_t *stop,
    cx_err *err)
{
	EVP_MD_CTX *whole = EVP_MD_CTX_new(), *part = EVP_MD_CTX_new();
	unsigned char *buf = cx_xmalloc(CHUNK);
	int64_t at = 0;
	ssize_t got;
	int rc = 0;

	EVP_DigestInit_ex(whole, EVP_sha256(), NULL);
	EVP_DigestInit_ex(part, EVP_sha256(), NULL);
	while (at <= h->size && (got = pread(fd, buf, CHUNK, (off_t)at)) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = cx_err_set(err, CX_EXIT_DATAERR, "cannot read the file: %s", strerror(errno));
			break;
		}
		if (at + got > h->size)
			break;
		feed(h, whole, part, buf, at, (size_t)got);
		at += got;
		if (stop && *stop) {
			rc = 1;
			break;
		}
	}
	if (rc == 0 && at != h->size)
		rc = cx_err_set(err, CX_EXIT_DATAERR, "the file changed while it was read");
	if (rc == 0 && (h->size == 0 || h->size % h->part_size != 0))
		EVP_DigestFinal_ex(part, h->part[h->parts - 1], NULL);
	EVP_DigestFinal_ex(whole, h->whole, NULL);
	cx_crypto_hex(h->whole, CX_SHA256_LEN, h->sha256);
	EVP_MD_CTX_free(whole);
	EVP_MD_CTX_free(part);
	free(buf);
	return rc;
}

int cx_s3_hash_file(int fd, int64_t part_size, const volatile sig_atomic_t *stop,
    cx_s3_file_hash *h, cx_err *err)
{
	struct stat st;
	int64_t parts;

	memset(h, 0, sizeof *h);
	if (fstat(fd, &st) < 0)
		return cx_err_set(err, CX_EXIT_DATAERR, "cannot read the file: %s", strerror(errno));
	h->size = st.st_size;
	h->part_size = part_size;
	parts = h->size == 0 ? 1 : (h->size + part_size - 1) / part_size;
	if (parts > CX_S3_MAX_PARTS)
		return cx_err_set(err, CX_EXIT_DATAERR, "a file of %lld bytes needs more than %d "
		    "parts of %lld bytes (CX_S3_PART_SIZE)", (long long)h->size, CX_S3_MAX_PARTS,
		    (long long)part_size);
	h->parts = (int)parts;
	h->part = cx_xcalloc((size_t)parts, sizeof h->part[0]);
	return hash_read(fd, h, stop, err);
}

void cx_s3_file_hash_free(cx_s3_file_hash *h)
{
	free(h->part);
	memset(h, 0, sizeof *h);
}

char *cx_s3_part_checksum(const cx_s3_file_hash *h, int i)
{
	return cx_crypto_base64(h->part[i], CX_SHA256_LEN);
}

char *cx_s3_whole_checksum(const cx_s3_file_hash *h)
{
	return cx_crypto_base64(h->whole, CX_SHA256_LEN);
}

char *cx_s3_composite_checksum(const cx_s3_file_hash *h)
{
	unsigned char sum[CX_SHA256_LEN];
	char *b, *out;

	cx_crypto_sha256(h->part, (size_t)h->parts * CX_SHA256_LEN, sum);
	b = cx_crypto_base64(sum, CX_SHA256_LEN);
	out = cx_xasprintf("%s-%d", b, h->parts);
	free(b);
	return out;
}
