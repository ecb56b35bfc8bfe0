/* multistatus.c: a CalDAV server's multistatus answers, read with expat
 * (multistatus.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <expat.h>

#include "exit.h"
#include "multistatus.h"
#include "xalloc.h"

static void text_reset(multistatus *m)
{
	m->len = 0;
	m->collecting = 1;
	if (m->text)
		m->text[0] = '\0';
}

static void on_text(void *ctx, const XML_Char *s, int n)
{
	multistatus *m = ctx;

	if (!m->collecting || n <= 0)
		return;
	if (m->len + (size_t)n + 1 > m->cap) {
		m->cap = (m->len + (size_t)n + 1) * 2;
		m->text = cx_xrealloc(m->text, m->cap);
	}
	memcpy(m->text + m->len, s, (size_t)n);
	m->len += (size_t)n;
	m->text[m->len] = '\0';
}

static int is(const char *name, const char *want)
{
	return strcmp(name, want) == 0;
}

static void on_start(void *ctx, const XML_Char *name, const XML_Char **attrs)
{
	multistatus *m = ctx;

	(void)attrs;
	if (m->srs_depth > 0) {
		m->srs_depth++;
		if (m->name_depth == 0 && !is(name, NS_DAV "supported-report") &&
		    !is(name, NS_DAV "report")) {
			jv reports = jv_object_get(jv_copy(m->props), jv_string("reports"));

			m->name_depth = m->srs_depth;
			m->props = jv_object_set(m->props, jv_string("reports"),
			    jv_array_append(reports, jv_string(name)));
		}
	} else if (is(name, NS_DAV "response")) {
		jv_free(m->cur);
		m->cur = jv_object();
	} else if (is(name, NS_DAV "propstat")) {
		m->in_propstat = 1;
		m->propstat_status = 0;
		jv_free(m->props);
		m->props = jv_object();
	} else if (is(name, NS_DAV "supported-report-set") && m->in_propstat) {
		m->props = jv_object_set(m->props, jv_string("reports"), jv_array());
		m->srs_depth = 1;
	} else if (is(name, NS_DAV "href") || is(name, NS_DAV "status") ||
	    is(name, NS_DAV "getetag") || is(name, NS_CALDAV "calendar-data") ||
	    is(name, NS_DAV "sync-token")) {
		text_reset(m);
	}
}

/* "HTTP/1.1 404 Not Found" -> 404. */
static long status_code(const char *line)
{
	const char *sp = strchr(line, ' ');

	return sp ? strtol(sp + 1, NULL, 10) : 0;
}

static char *trimmed(const char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
	    s[n - 1] == '\n'))
		n--;
	return cx_xstrndup(s, n);
}

static void on_end(void *ctx, const XML_Char *name)
{
	multistatus *m = ctx;
	const char *text = m->text ? m->text : "";
	int valid = jv_get_kind(m->cur) == JV_KIND_OBJECT;

	if (m->srs_depth > 0) {
		if (m->name_depth == m->srs_depth)
			m->name_depth = 0;
		m->srs_depth--;
	} else if (is(name, NS_DAV "href") && valid && !m->in_propstat) {
		char *t = trimmed(text);

		m->cur = jv_object_set(m->cur, jv_string("href"), jv_string(t));
		free(t);
	} else if (is(name, NS_DAV "status") && m->in_propstat) {
		m->propstat_status = status_code(text);
	} else if (is(name, NS_DAV "status") && valid) {
		m->cur = jv_object_set(m->cur, jv_string("status"),
		    jv_number((double)status_code(text)));
	} else if (is(name, NS_DAV "getetag") && m->in_propstat) {
		char *t = trimmed(text);

		m->props = jv_object_set(m->props, jv_string("etag"), jv_string(t));
		free(t);
	} else if (is(name, NS_CALDAV "calendar-data") && m->in_propstat) {
		m->props = jv_object_set(m->props, jv_string("data"), jv_string(text));
	} else if (is(name, NS_DAV "sync-token") && !valid) {
		free(m->sync_token);
		m->sync_token = trimmed(text);
	} else if (is(name, NS_DAV "propstat")) {
		if (m->propstat_status == 200 && valid) {
			m->cur = jv_object_merge(m->cur, m->props);
			if (!jv_object_has(jv_copy(m->cur), jv_string("status")))
				m->cur = jv_object_set(m->cur, jv_string("status"), jv_number(200));
		} else {
			jv_free(m->props);
		}
		m->props = jv_null();
		m->in_propstat = 0;
	} else if (is(name, NS_DAV "response") && valid) {
		if (jv_object_has(jv_copy(m->cur), jv_string("href")))
			m->responses = jv_array_append(m->responses, m->cur);
		else
			jv_free(m->cur);
		m->cur = jv_null();
	}
	m->collecting = 0;
}

void multistatus_free(multistatus *m)
{
	jv_free(m->responses);
	free(m->sync_token);
	memset(m, 0, sizeof *m);
	m->responses = jv_null();
}

int multistatus_parse(const char *body, size_t len, multistatus *m, cx_err *err)
{
	XML_Parser p = XML_ParserCreateNS("UTF-8", '|');
	int ok;

	memset(m, 0, sizeof *m);
	m->responses = jv_array();
	m->cur = jv_null();
	m->props = jv_null();
	if (!p)
		return cx_err_set(err, CX_EXIT_TEMPFAIL, "cannot start an XML parser");
	XML_SetUserData(p, m);
	XML_SetElementHandler(p, on_start, on_end);
	XML_SetCharacterDataHandler(p, on_text);
	ok = XML_Parse(p, body, (int)len, 1) == XML_STATUS_OK;
	if (!ok)
		cx_err_set(err, CX_EXIT_UNAVAILABLE, "the server's multistatus is not XML "
		    "(line %lu: %s)", (unsigned long)XML_GetCurrentLineNumber(p),
		    XML_ErrorString(XML_GetErrorCode(p)));
	XML_ParserFree(p);
	jv_free(m->cur);
	jv_free(m->props);
	m->cur = m->props = jv_null();
	free(m->text);
	m->text = NULL;
	if (ok)
		return 0;
	multistatus_free(m);
	return -1;
}
