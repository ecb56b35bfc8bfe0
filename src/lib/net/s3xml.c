/* s3xml.c: S3's XML answers read with expat into a small jv object
 * (cx_s3_xml_parse), and the one XML body cx sends (CompleteMultipartUpload).
 * A document type is refused: S3 never sends one. */
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "json.h"
#include "s3.h"
#include "xalloc.h"

#define MAX_TEXT 4096

typedef struct {
	XML_Parser p;
	int depth;
	jv out;                     /* the answer */
	jv child;                   /* the depth-1 element being read, when it has children */
	char name1[64], name2[64];  /* the elements open at depths 1 and 2 */
	int child_has_kids;
	int grandchild_has_kids;    /* the element at depth 3 has children: ignored */
	char text[MAX_TEXT];
	size_t len;
} xml_reader;

/* "s3:Part" -> "Part" */
static const char *local(const XML_Char *name)
{
	const char *c = strrchr(name, ':');

	return c ? c + 1 : name;
}

static void on_start(void *ctx, const XML_Char *name, const XML_Char **attrs)
{
	xml_reader *x = ctx;

	(void)attrs;
	x->depth++;
	x->len = 0;
	if (x->depth == 1) {
		x->out = jv_object_set(x->out, jv_string("root"), jv_string(local(name)));
	} else if (x->depth == 2) {
		snprintf(x->name1, sizeof x->name1, "%s", local(name));
		jv_free(x->child);
		x->child = jv_object();
		x->child_has_kids = 0;
	} else if (x->depth == 3) {
		snprintf(x->name2, sizeof x->name2, "%s", local(name));
		x->child_has_kids = 1;
		x->grandchild_has_kids = 0;
	} else {
		x->grandchild_has_kids = 1;
	}
}

static jv text_value(xml_reader *x)
{
	return jv_string_sized(x->text, (int)x->len);
}

static void on_end(void *ctx, const XML_Char *name)
{
	xml_reader *x = ctx;
	jv list;

	(void)name;
	if (x->depth == 3 && !x->grandchild_has_kids) {
		x->child = jv_object_set(x->child, jv_string(x->name2), text_value(x));
	} else if (x->depth == 2 && !x->child_has_kids) {
		x->out = jv_object_set(x->out, jv_string(x->name1), text_value(x));
	} else if (x->depth == 2) {
		list = jv_object_get(jv_copy(x->out), jv_string(x->name1));
		if (jv_get_kind(list) != JV_KIND_ARRAY) {
			jv_free(list);
			list = jv_array();
		}
		x->out = jv_object_set(x->out, jv_string(x->name1),
		    jv_array_append(list, x->child));
		x->child = jv_invalid();
	}
	x->depth--;
	x->len = 0;
}

static void on_text(void *ctx, const XML_Char *s, int n)
{
	xml_reader *x = ctx;

	if (n <= 0 || x->depth < 2 || x->depth > 3)
		return;
	if (x->len + (size_t)n > MAX_TEXT)
		n = (int)(MAX_TEXT - x->len);
	memcpy(x->text + x->len, s, (size_t)n);
	x->len += (size_t)n;
}

static void on_doctype(void *ctx, const XML_Char *name, const XML_Char *sysid,
    const XML_Char *pubid, int internal)
{
	xml_reader *x = ctx;

	(void)name, (void)sysid, (void)pubid, (void)internal;
	XML_StopParser(x->p, XML_FALSE);
}

jv cx_s3_xml_parse(const char *xml, size_t len)
{
	xml_reader *x;
	jv out;

	if (!xml || len == 0 || len > INT32_MAX)
		return jv_invalid();
	x = cx_xcalloc(1, sizeof *x);
	x->out = jv_object();
	x->child = jv_invalid();
	x->p = XML_ParserCreate("UTF-8");
	XML_SetUserData(x->p, x);
	XML_SetElementHandler(x->p, on_start, on_end);
	XML_SetCharacterDataHandler(x->p, on_text);
	XML_SetStartDoctypeDeclHandler(x->p, on_doctype);
	if (XML_Parse(x->p, xml, (int)len, XML_TRUE) == XML_STATUS_OK &&
	    jv_object_has(jv_copy(x->out), jv_string("root"))) {
		out = x->out;
	} else {
		jv_free(x->out);
		out = jv_invalid();
	}
	jv_free(x->child);
	XML_ParserFree(x->p);
	free(x);
	return out;
}

char *cx_s3_complete_xml(jv parts)
{
	jv out = jv_string("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	char *s;

	jv_array_foreach(parts, i, p) {
		/* ETags and checksums are S3's own: quotes, hex, base64; '&' and '<'
		 * never occur in them, and a value holding one is left out */
		const char *etag = cx_json_str(p, "etag"), *sum = cx_json_str(p, "checksum");
		jv n = jv_object_get(jv_copy(p), jv_string("n"));

		(void)i;
		out = jv_string_append_str(out, "<Part>");
		out = jv_string_concat(out, jv_string_fmt("<PartNumber>%d</PartNumber>",
		    jv_get_kind(n) == JV_KIND_NUMBER ? (int)jv_number_value(n) : 0));
		jv_free(n);
		if (etag && !strpbrk(etag, "<&"))
			out = jv_string_concat(out, jv_string_fmt("<ETag>%s</ETag>", etag));
		if (sum && *sum && !strpbrk(sum, "<&"))
			out = jv_string_concat(out,
			    jv_string_fmt("<ChecksumSHA256>%s</ChecksumSHA256>", sum));
		out = jv_string_append_str(out, "</Part>");
		jv_free(p);
	}
	out = jv_string_append_str(out, "</CompleteMultipartUpload>");
	s = cx_xstrdup(jv_string_value(out));
	jv_free(out);
	return s;
}
