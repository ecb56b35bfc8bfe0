/* Unit tests of the CSV reader (csv.h): RFC 4180 quoting, "" escapes,
 * CRLF, LF and CR line endings, line breaks inside quoted fields, a byte
 * order mark, blank lines, and malformed input refused with the line it is
 * on (a stray quote, text after a closing quote, an unclosed quote, NUL,
 * bad UTF-8, a record over the limit). Prints TAP lines; tests/run counts
 * them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "exit.h"
#include "json.h"

#include "tap.h"

/* Every record of text (len bytes) read with limit max, as compact JSON
 * lines, then "end" or "error CODE: MESSAGE" (static storage). */
static const char *read_all(const char *text, size_t len, size_t max)
{
	static char out[4096];
	FILE *in = fmemopen((void *)text, len, "r");
	cx_csv *r = cx_csv_open(in, max);
	cx_err err = { 0, "" };
	jv rec;
	int rc;

	out[0] = '\0';
	while ((rc = cx_csv_next(r, &rec, &err)) > 0) {
		char *line = cx_json_dump(rec);

		snprintf(out + strlen(out), sizeof out - strlen(out), "%ld:%s\n", cx_csv_line(r),
		    line);
		free(line);
	}
	if (rc == 0)
		snprintf(out + strlen(out), sizeof out - strlen(out), "end");
	else
		snprintf(out + strlen(out), sizeof out - strlen(out), "error %d: %s", err.code,
		    err.msg);
	cx_csv_close(r);
	fclose(in);
	return out;
}

#define READ(lit) read_all(lit, sizeof lit - 1, 0)

static void well_formed(void)
{
	check_str(READ("a,b,c\n1,2,3\n"), "1:[\"a\",\"b\",\"c\"]\n2:[\"1\",\"2\",\"3\"]\nend",
	    "plain fields, LF");
	check_str(READ("a,b\r\nc,d\r\n"), "1:[\"a\",\"b\"]\n2:[\"c\",\"d\"]\nend", "CRLF");
	check_str(READ("a\rb"), "1:[\"a\"]\n2:[\"b\"]\nend", "a lone CR ends a record; no "
	    "line break at the end");
	check_str(READ("\"x, y\",\"say \"\"hi\"\"\",\"\"\n"),
	    "1:[\"x, y\",\"say \\\"hi\\\"\",\"\"]\nend", "quoted fields, \"\" escapes, an "
	    "empty quoted field");
	check_str(READ("k1,\"two\r\nlines\",z\nk2,b,c\n"),
	    "1:[\"k1\",\"two\\nlines\",\"z\"]\n3:[\"k2\",\"b\",\"c\"]\nend",
	    "a line break inside quotes is part of the field (CRLF read as LF); the next "
	    "record begins on line 3");
	check_str(READ("\xef\xbb\xbfid,name\n"), "1:[\"id\",\"name\"]\nend",
	    "a byte order mark is skipped");
	check_str(READ("x"), "1:[\"x\"]\nend", "input shorter than a byte order mark");
	check_str(READ("a,,\n\n\r\n,\n"), "1:[\"a\",\"\",\"\"]\n4:[\"\",\"\"]\nend",
	    "empty fields are kept, blank lines skipped");
	check_str(READ("caf\xc3\xa9,\xe2\x82\xac\n"), "1:[\"caf\xc3\xa9\",\"\xe2\x82\xac\"]\nend",
	    "UTF-8 text");
	check_str(READ(""), "end", "no input: no record");
}

static void malformed(void)
{
	check_str(READ("ok\na,b\"c\n"), "1:[\"ok\"]\nerror 65: line 2: a quote inside an "
	    "unquoted field (quote the whole field and double the quote)", "a stray quote");
	check_str(READ("\"a\"b,c\n"), "error 65: line 1: text after a quoted field's "
	    "closing quote", "text after a closing quote");
	check_str(READ("k,\"open\nstill\n"), "error 65: line 3: a quoted field is not closed "
	    "(it opens on line 1)", "a quote never closed");
	check_str(read_all("a,b\0c\n", 6, 0), "error 65: line 1: a NUL byte", "a NUL byte");
	check_str(READ("ok\n\xef\xbb,x\n"), "1:[\"ok\"]\nerror 65: line 2: the record that "
	    "begins there holds text that is not UTF-8", "text that is not UTF-8 (half a "
	    "byte order mark)");
	check_str(read_all("abc,de\nabcdefg\n", 15, 6), "1:[\"abc\",\"de\"]\nerror 65: "
	    "line 2: the record that begins there is longer than 6 bytes",
	    "a record over the limit (commas count)");
	check_str(read_all(",,,,,,,\n", 8, 6), "error 65: line 1: the record that begins "
	    "there is longer than 6 bytes", "commas alone count towards the limit");
}

int main(void)
{
	well_formed();
	malformed();
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
