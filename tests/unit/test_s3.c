/* Unit tests of the S3 client's pieces (s3.h): canonical queries, object
 * URLs and keys, S3's XML answers and the CompleteMultipartUpload body; and
 * of the s3 channel (s3channel.h): the one-pass file hash, the checks of an
 * item, its metadata headers and the tenant's settings. Prints TAP lines;
 * tests/run counts them. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "exit.h"
#include "json.h"
#include "s3.h"
#include "s3channel.h"
#include "xalloc.h"

#include "tap.h"

#define MIB (1024 * 1024)

static void test_query(void)
{
	char *q = cx_s3_query("uploadId", "a/b+c= d", "partNumber", "3", NULL);

	check_str(q, "partNumber=3&uploadId=a%2Fb%2Bc%3D%20d",
	    "a query is sorted by name and each value percent-encoded");
	free(q);
	q = cx_s3_query("uploads", "", NULL);
	check_str(q, "uploads=", "a parameter without a value keeps its '='");
	free(q);
	q = cx_s3_query("part-number-marker", NULL, "uploadId", "u1", NULL);
	check_str(q, "uploadId=u1", "a pair whose value is NULL is left out");
	free(q);
}

static void test_urls(void)
{
	cx_s3_client path = { .endpoint = "http://127.0.0.1:9000/", .path_style = 1 };
	cx_s3_client vhost = { .endpoint = "https://s3.eu-west-1.amazonaws.com" };
	char *k = cx_s3_escape_key("dir/a b+\xc3\xbc~.txt"), *u;

	check_str(k, "dir/a%20b%2B%C3%BC~.txt", "a key is encoded as S3 signs it, '/' kept");
	free(k);
	u = cx_s3_url(&path, "bkt", "dir/x y", "uploads=");
	check_str(u, "http://127.0.0.1:9000/bkt/dir/x%20y?uploads=",
	    "path style: endpoint/bucket/key?query, a trailing '/' of the endpoint dropped");
	free(u);
	u = cx_s3_url(&vhost, "bkt", "k", NULL);
	check_str(u, "https://bkt.s3.eu-west-1.amazonaws.com/k",
	    "virtual-host style: the bucket in the host");
	free(u);
}

static const char list_parts[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListPartsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>bkt</Bucket>"
    "<Key>k</Key><UploadId>u1</UploadId><NextPartNumberMarker>2</NextPartNumberMarker>"
    "<IsTruncated>true</IsTruncated>"
    "<Part><PartNumber>1</PartNumber><ETag>\"aa\"</ETag><Size>5242880</Size>"
    "<ChecksumSHA256>Y2hlY2sx</ChecksumSHA256></Part>"
    "<Part><PartNumber>2</PartNumber><ETag>&quot;bb&quot;</ETag><Size>7</Size></Part>"
    "<Owner><ID>x</ID><Deeper><Z>ignored</Z></Deeper></Owner></ListPartsResult>";

static void test_xml(void)
{
	jv x = cx_s3_xml_parse(list_parts, strlen(list_parts));
	char *s = cx_json_dump(jv_copy(x));

	check_str(s, "{\"root\":\"ListPartsResult\",\"Bucket\":\"bkt\",\"Key\":\"k\","
	    "\"UploadId\":\"u1\",\"NextPartNumberMarker\":\"2\",\"IsTruncated\":\"true\","
	    "\"Part\":[{\"PartNumber\":\"1\",\"ETag\":\"\\\"aa\\\"\",\"Size\":\"5242880\","
	    "\"ChecksumSHA256\":\"Y2hlY2sx\"},{\"PartNumber\":\"2\",\"ETag\":\"\\\"bb\\\"\","
	    "\"Size\":\"7\"}],\"Owner\":[{\"ID\":\"x\"}]}",
	    "ListParts: the leaves of the root, and each Part as an object of its own");
	free(s);
	jv_free(x);
	x = cx_s3_xml_parse("<Error><Code>SlowDown</Code><Message>Reduce</Message></Error>", 61);
	check_str(cx_json_str(x, "Code"), "SlowDown", "an <Error> gives its Code");
	check_str(cx_json_str(x, "root"), "Error", "and its root's name");
	jv_free(x);
	x = cx_s3_xml_parse("<!DOCTYPE a [<!ENTITY e \"x\">]><a><b>&e;</b></a>", 46);
	check(jv_get_kind(x) == JV_KIND_INVALID, "a document type is refused");
	jv_free(x);
	x = cx_s3_xml_parse("not xml", 7);
	check(jv_get_kind(x) == JV_KIND_INVALID, "text that is not XML gives nothing");
	jv_free(x);
}

static void test_long_text(void)
{
	size_t n = 10000;
	char *doc = malloc(n + 64);
	jv x;

	strcpy(doc, "<R><Message>");
	memset(doc + 12, 'm', n);
	strcpy(doc + 12 + n, "</Message></R>");
	x = cx_s3_xml_parse(doc, strlen(doc));
	check(cx_json_str(x, "Message") && strlen(cx_json_str(x, "Message")) == 4096,
	    "an element's text is kept to 4096 bytes");
	jv_free(x);
	free(doc);
}

static void test_complete_xml(void)
{
	jv parts = JV_ARRAY(JV_OBJECT(jv_string("n"), jv_number(1), jv_string("etag"),
	    jv_string("\"e1\""), jv_string("checksum"), jv_string("c1==")),
	    JV_OBJECT(jv_string("n"), jv_number(2), jv_string("etag"), jv_string("\"e2\""),
	    jv_string("checksum"), jv_string("c2==")));
	char *s = cx_s3_complete_xml(parts);

	check_str(s, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
	    "<Part><PartNumber>1</PartNumber><ETag>\"e1\"</ETag><ChecksumSHA256>c1=="
	    "</ChecksumSHA256></Part><Part><PartNumber>2</PartNumber><ETag>\"e2\"</ETag>"
	    "<ChecksumSHA256>c2==</ChecksumSHA256></Part></CompleteMultipartUpload>",
	    "CompleteMultipartUpload lists each part's number, ETag and checksum");
	free(s);
	jv_free(parts);
}

/* --- the file hash -------------------------------------------------------- */

/* A file of size bytes of a known pattern in dir, open; its bytes in *mem. */
static int pattern_file(const char *path, size_t size, unsigned char **mem)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	*mem = malloc(size ? size : 1);
	for (size_t i = 0; i < size; i++)
		(*mem)[i] = (unsigned char)(i * 7 + i / 4096);
	if (fd >= 0 && write(fd, *mem, size) != (ssize_t)size) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static void test_hash(const char *dir)
{
	char path[128], hex[2 * CX_SHA256_LEN + 1], *b, *want;
	size_t size = 11 * MIB + 7, part = 5 * MIB;
	unsigned char *mem, sums[3][CX_SHA256_LEN], digest[CX_SHA256_LEN];
	cx_s3_file_hash h;
	cx_err err = { 0 };
	int fd, ok = 1;

	snprintf(path, sizeof path, "%s/f", dir);
	fd = pattern_file(path, size, &mem);
	check(cx_s3_hash_file(fd, (int64_t)part, NULL, &h, &err) == 0 && h.parts == 3 &&
	    h.size == (int64_t)size, "11 MiB + 7 bytes in parts of 5 MiB: three parts");
	cx_crypto_sha256_hex(mem, size, hex);
	check_str(h.sha256, hex, "the whole file's SHA-256 (hex)");
	for (int i = 0; i < 3; i++) {
		size_t len = i < 2 ? part : size - 2 * part;

		cx_crypto_sha256(mem + i * part, len, sums[i]);
		ok &= memcmp(sums[i], h.part[i], CX_SHA256_LEN) == 0;
	}
	check(ok, "each part's SHA-256, the last one short");
	b = cx_s3_part_checksum(&h, 2);
	want = cx_crypto_base64(sums[2], CX_SHA256_LEN);
	check_str(b, want, "a part's x-amz-checksum-sha256 is the base64 of its digest");
	free(b);
	free(want);
	cx_crypto_sha256(sums, sizeof sums, digest);
	b = cx_crypto_base64(digest, CX_SHA256_LEN);
	want = cx_xasprintf("%s-3", b);
	free(b);
	b = cx_s3_composite_checksum(&h);
	check_str(b, want, "the composite checksum: SHA-256 of the parts' digests, '-3'");
	free(b);
	free(want);
	cx_s3_file_hash_free(&h);
	close(fd);
	free(mem);
	fd = pattern_file(path, 10 * MIB, &mem);
	check(cx_s3_hash_file(fd, 5 * MIB, NULL, &h, &err) == 0 && h.parts == 2,
	    "a file of exactly two parts has two");
	cx_crypto_sha256(mem + 5 * MIB, 5 * MIB, digest);
	check(memcmp(digest, h.part[1], CX_SHA256_LEN) == 0, "and its second is whole");
	cx_s3_file_hash_free(&h);
	close(fd);
	free(mem);
	unlink(path);
}

static void test_hash_limits(const char *dir)
{
	char path[128];
	unsigned char *mem;
	cx_s3_file_hash h;
	cx_err err = { 0 };
	int fd;

	snprintf(path, sizeof path, "%s/e", dir);
	fd = pattern_file(path, 0, &mem);
	check(cx_s3_hash_file(fd, 5 * MIB, NULL, &h, &err) == 0 && h.parts == 1 &&
	    strcmp(h.sha256, CX_S3_EMPTY_SHA256) == 0, "an empty file: one part, SHA-256 of nothing");
	cx_s3_file_hash_free(&h);
	/* sparse: 10,001 parts' worth without writing them */
	check(ftruncate(fd, 5LL * MIB * 10000 + 1) == 0, "a sparse file of 10,000 parts and a byte");
	check(cx_s3_hash_file(fd, 5 * MIB, NULL, &h, &err) < 0 && err.code == CX_EXIT_DATAERR &&
	    strstr(err.msg, "more than 10000 parts"), "a file needing over 10,000 parts is refused "
	    "before it is read");
	cx_s3_file_hash_free(&h);
	close(fd);
	free(mem);
	unlink(path);
}

/* --- the channel ---------------------------------------------------------- */

static int fields_ok(const char *json, const char **problem)
{
	jv f = jv_parse(json);
	cx_err err = { 0 };
	int rc = cx_s3_check_fields(f, problem, &err);

	jv_free(f);
	return rc;
}

static void test_checks(const char *dir)
{
	char good[256], buf[512];
	const char *problem = NULL;
	unsigned char *mem;
	int fd;

	snprintf(good, sizeof good, "%s/pkg.zip", dir);
	fd = pattern_file(good, 10, &mem);
	close(fd);
	free(mem);
	snprintf(buf, sizeof buf, "{\"bucket\":\"bkt\",\"key\":\"a/b.zip\",\"file\":\"%s\","
	    "\"content_type\":\"application/zip\",\"metadata\":{\"Tenant\":\"acme\"}}", good);
	check(fields_ok(buf, &problem) == 0, "bucket, key, a readable file, content type and "
	    "metadata pass");
	snprintf(buf, sizeof buf, "{\"bucket\":\"B_k\",\"key\":\"k\",\"file\":\"%s\"}", good);
	check(fields_ok(buf, &problem) < 0, "a bucket name S3 does not allow is refused");
	snprintf(buf, sizeof buf, "{\"bucket\":\"bkt\",\"key\":\"a/../b\",\"file\":\"%s\"}", good);
	check(fields_ok(buf, &problem) < 0, "a key with a '..' segment is refused");
	check(fields_ok("{\"bucket\":\"bkt\",\"key\":\"k\",\"file\":\"pkg.zip\"}", &problem) < 0 &&
	    strcmp(problem, "invalid_field") == 0, "a relative file is refused");
	snprintf(buf, sizeof buf, "{\"bucket\":\"bkt\",\"key\":\"k\",\"file\":\"%s\"}", dir);
	check(fields_ok(buf, &problem) < 0, "a directory is refused");
	snprintf(buf, sizeof buf, "{\"bucket\":\"bkt\",\"key\":\"k\",\"file\":\"%s/none\"}", dir);
	check(fields_ok(buf, &problem) < 0, "a file that is not there is refused");
	snprintf(buf, sizeof buf, "{\"bucket\":\"bkt\",\"key\":\"k\",\"file\":\"%s\","
	    "\"metadata\":{\"n\":1}}", good);
	check(fields_ok(buf, &problem) < 0, "metadata that is not strings is refused");
	snprintf(buf, sizeof buf, "{\"bucket\":\"bkt\",\"key\":\"k\",\"file\":\"%s\","
	    "\"metadata\":{\"SHA256\":\"x\"}}", good);
	check(fields_ok(buf, &problem) < 0, "metadata cannot set sha256 (cx sets it)");
	unlink(good);
}

static void test_meta_lines(void)
{
	jv f = jv_parse("{\"metadata\":{\"Tenant-Id\":\"Acme Co\"}}");
	char **lines = cx_s3_meta_lines(f, "abc");

	check_str(lines[0], "x-amz-meta-sha256: abc", "x-amz-meta-sha256 carries the file's hash");
	check_str(lines[1], "x-amz-meta-tenant-id: Acme Co",
	    "a metadata name goes in lower case, its value as it is");
	check(lines[2] == NULL, "and nothing else");
	cx_s3_lines_free(lines);
	jv_free(f);
}

static void test_settings(void)
{
	cx_s3_settings set;
	const char *code;
	cx_err err = { 0 };

	unsetenv("CX_S3_ENDPOINT");
	setenv("CX_S3_ACCESS_KEY_ID", "AKID", 1);
	setenv("CX_S3_SECRET_ACCESS_KEY", "secret", 1);
	setenv("CX_S3_REGION_ACME", "eu-west-1", 1);
	check(cx_s3_settings_load("acme", &set, &code, &err) == 0 &&
	    strcmp(set.endpoint, "https://s3.eu-west-1.amazonaws.com") == 0 &&
	    !set.client.path_style && set.part_size == 8 * MIB,
	    "AWS by default: the tenant's region, virtual hosts, parts of 8 MiB");
	cx_s3_settings_free(&set);
	setenv("CX_S3_ENDPOINT", "http://127.0.0.1:9000", 1);
	check(cx_s3_settings_load("other", &set, &code, &err) == 0 && set.client.path_style &&
	    strcmp(set.region, "us-east-1") == 0, "a custom endpoint: path style, us-east-1");
	cx_s3_settings_free(&set);
	setenv("CX_S3_REGION", "eu west", 1);
	check(cx_s3_settings_load("other", &set, &code, &err) < 0 && err.code == CX_EXIT_CONFIG &&
	    strstr(err.msg, "CX_S3_REGION"), "a region that is not a name is a config error");
	unsetenv("CX_S3_REGION");
	setenv("CX_S3_PART_SIZE", "5242879", 1);
	check(cx_s3_settings_load("other", &set, &code, &err) < 0 && err.code == CX_EXIT_CONFIG &&
	    strstr(err.msg, "CX_S3_PART_SIZE"), "a part size under 5 MiB is a config error");
	unsetenv("CX_S3_PART_SIZE");
	unsetenv("CX_S3_SECRET_ACCESS_KEY");
	check(cx_s3_settings_load("other", &set, &code, &err) < 0 &&
	    strcmp(code, "AUTH_FAILED") == 0, "no secret key: AUTH_FAILED");
	unsetenv("CX_S3_ENDPOINT");
	unsetenv("CX_S3_ACCESS_KEY_ID");
	unsetenv("CX_S3_REGION_ACME");
}

int main(void)
{
	char dir[] = "/tmp/cx-unit-s3.XXXXXX";

	test_query();
	test_urls();
	test_xml();
	test_long_text();
	test_complete_xml();
	if (!mkdtemp(dir)) {
		check(0, "a temporary directory");
	} else {
		test_hash(dir);
		test_hash_limits(dir);
		test_checks(dir);
		rmdir(dir);
	}
	test_meta_lines();
	test_settings();
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
