/* Unit tests of the form parsers (multipart.h): the boundary of a
 * Content-Type, multipart/form-data bodies (CRLF and bare LF, quoted
 * parameters, folded headers, file parts, binary data), every limit and
 * malformation as a clear error, and urlencoded forms. Prints TAP lines;
 * tests/run counts them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exit.h"
#include "multipart.h"
#include "xalloc.h"

#include "tap.h"

static void test_boundary(void)
{
	cx_err err = { 0, "" };
	char *b;
	char long_type[128];

	b = cx_multipart_boundary("multipart/form-data; boundary=xYz-123", &err);
	check_str(b, "xYz-123", "a token boundary");
	free(b);
	b = cx_multipart_boundary("Multipart/Form-Data ;charset=utf-8; BOUNDARY=\"a b;\\\"c\"", &err);
	check_str(b, "a b;\"c", "a quoted boundary, any case, among other parameters");
	free(b);
	b = cx_multipart_boundary("multipart/mixed; boundary=x", &err);
	check(!b && err.code == CX_EXIT_DATAERR &&
	    strcmp(err.msg, "the body is not multipart/form-data") == 0,
	    "another multipart type is refused");
	b = cx_multipart_boundary(NULL, &err);
	check(!b, "no Content-Type is refused");
	b = cx_multipart_boundary("multipart/form-data", &err);
	check(!b && strstr(err.msg, "boundary"), "no boundary parameter is refused");
	b = cx_multipart_boundary("multipart/form-data; boundary=\"unclosed", &err);
	check(!b, "an unclosed quoted boundary is refused");
	snprintf(long_type, sizeof long_type, "multipart/form-data; boundary=%071d", 0);
	b = cx_multipart_boundary(long_type, &err);
	check(!b, "a boundary over 70 characters is refused");
}

static int field_is(const cx_form *f, size_t i, const char *name, const char *filename,
    const char *type, const char *data, size_t len)
{
	const cx_form_field *x = &f->fields[i];

	return i < f->n && strcmp(x->name, name) == 0 &&
	    (filename ? x->filename && strcmp(x->filename, filename) == 0 : !x->filename) &&
	    (type ? x->content_type && strcmp(x->content_type, type) == 0 : !x->content_type) &&
	    x->len == len && memcmp(x->data, data, len) == 0;
}

static void test_parse(void)
{
	static const char crlf[] =
	    "preamble to ignore\r\n"
	    "--B\r\n"
	    "Content-Disposition: form-data; name=\"subject\"\r\n"
	    "\r\n"
	    "Hello \xc3\xa9\r\n"
	    "--B  \r\n"
	    "content-disposition: form-data; name=empty\r\n"
	    "\r\n"
	    "\r\n"
	    "--B\r\n"
	    "Content-Disposition: form-data; name=\"attachment1\";\r\n"
	    "\tfilename=\"a \\\"q\\\".pdf\"\r\n"
	    "Content-Type: application/pdf\r\n"
	    "\r\n"
	    "%PDF\0\r\n--Bx\r\n--\r\n"
	    "--B--\r\n"
	    "epilogue";
	static const char lf[] =
	    "--b\n"
	    "Content-Disposition: form-data; name=\"text\"\n"
	    "\n"
	    "line 1\nline 2\n"
	    "--b--\n";
	cx_form f = { NULL, 0 };
	cx_err err = { 0, "" };
	int rc;

	rc = cx_multipart_parse(crlf, sizeof crlf - 1, "B", &f, &err);
	check(rc == 0 && f.n == 3, "a CRLF body with a preamble and an epilogue has 3 fields");
	check(field_is(&f, 0, "subject", NULL, NULL, "Hello \xc3\xa9", 8),
	    "a text field keeps its bytes");
	check(field_is(&f, 1, "empty", NULL, NULL, "", 0),
	    "an empty value, after transport padding on the boundary line");
	check(field_is(&f, 2, "attachment1", "a \"q\".pdf", "application/pdf",
	    "%PDF\0\r\n--Bx\r\n--", 15),
	    "a file part from a folded header: NULs and boundary-like lines kept");
	check(cx_form_get(&f, "subject") == &f.fields[0] && !cx_form_get(&f, "nope"),
	    "fields are found by name");
	cx_form_free(&f);
	rc = cx_multipart_parse(lf, sizeof lf - 1, "b", &f, &err);
	check(rc == 0 && f.n == 1 && field_is(&f, 0, "text", NULL, NULL,
	    "line 1\nline 2", 13), "bare LF line ends are read as CRLF");
	cx_form_free(&f);
}

/* The error a body gives, or "ok". */
static const char *error_of(const char *body, size_t len)
{
	static cx_err err;
	cx_form f = { NULL, 0 };

	memset(&err, 0, sizeof err);
	if (cx_multipart_parse(body, len, "B", &f, &err) == 0) {
		cx_form_free(&f);
		return "ok";
	}
	return err.code == CX_EXIT_DATAERR && f.n == 0 && !f.fields ? err.msg : "bad state";
}

static void test_errors(void)
{
	char *many, *big;
	size_t n = 0;

#define ERR(s) error_of(s, sizeof s - 1)
	check_str(ERR("no delimiter here"), "multipart body: no boundary line",
	    "a body without its boundary");
	check_str(ERR("--B\r\nContent-Disposition: form-data; name=a\r\n\r\nvalue"),
	    "multipart part 1: no closing boundary", "a body cut short");
	check_str(ERR("--B\r\nContent-Disposition: form-data; name=a\r\n"),
	    "multipart part 1: headers not ended by an empty line", "headers cut short");
	check_str(ERR("--B\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--"),
	    "multipart part 1: no Content-Disposition: form-data", "a part without a disposition");
	check_str(ERR("--B\r\nContent-Disposition: form-data; filename=a\r\n\r\nx\r\n--B--"),
	    "multipart part 1: no field name", "a part without a name");
	check_str(ERR("--B\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--B--"),
	    "multipart part 1: a malformed Content-Disposition", "an unclosed quote");
	check_str(ERR("--B junk\r\n"), "multipart part 1: a boundary line with trailing text",
	    "text after a boundary");
	check_str(ERR("--B--"), "ok", "a form without fields");
#undef ERR
	many = cx_xmalloc(300 * 64);
	for (int i = 0; i < 257; i++)
		n += (size_t)sprintf(many + n,
		    "--B\r\nContent-Disposition: form-data; name=f%d\r\n\r\nv\r\n", i);
	n += (size_t)sprintf(many + n, "--B--\r\n");
	check_str(error_of(many, n), "multipart body: more than 256 parts", "257 parts");
	free(many);
	big = cx_xmalloc(10000);
	n = (size_t)sprintf(big, "--B\r\nContent-Disposition: form-data; name=a\r\nX: ");
	memset(big + n, 'x', 8200);
	n += 8200;
	n += (size_t)sprintf(big + n, "\r\n\r\nv\r\n--B--");
	check_str(error_of(big, n), "multipart part 1: headers longer than 8192 bytes",
	    "a header block over 8192 bytes");
	free(big);
}

static void test_urlencoded(void)
{
	static const char body[] = "a=1&b=x+y%21%e2%9C%93&c=&d&&a=2";
	cx_form f = { NULL, 0 };
	cx_err err = { 0, "" };
	int rc = cx_form_urlencoded_parse(body, sizeof body - 1, &f, &err);

	check(rc == 0 && f.n == 5, "an urlencoded form has its 5 fields");
	check(field_is(&f, 1, "b", NULL, NULL, "x y!\xe2\x9c\x93", 7),
	    "+ and %XX (either case) are decoded");
	check(field_is(&f, 2, "c", NULL, NULL, "", 0) && field_is(&f, 3, "d", NULL, NULL, "", 0),
	    "an empty value and a bare name");
	check(cx_form_get(&f, "a") == &f.fields[4], "a repeated name: the last one is found");
	cx_form_free(&f);
	rc = cx_form_urlencoded_parse("a=%4", 4, &f, &err);
	check(rc < 0 && err.code == CX_EXIT_DATAERR && f.n == 0,
	    "a cut % escape is an error");
	rc = cx_form_urlencoded_parse("a%zz=1", 6, &f, &err);
	check(rc < 0 && strcmp(err.msg, "multipart body: a malformed % escape") == 0,
	    "a % escape that is not hex is an error");
}

int main(void)
{
	test_boundary();
	test_parse();
	test_errors();
	test_urlencoded();
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
