/* log.c: structured diagnostics on stderr. Each line is written with one
 * write(2) so lines from threads and processes never interleave. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "exit.h"
#include "log.h"
#include "xalloc.h"

static const char *tool_name = "cx";
static cx_log_level min_level = CX_LOG_INFO;
static int as_text;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void cx_log_init(const char *tool)
{
	const char *lvl = cx_config_get("CX_LOG_LEVEL", "info");
	const char *fmt = cx_config_get("CX_LOG", NULL);

	tool_name = tool;
	for (int i = 0; i < 4; i++)
		if (strcmp(lvl, level_names[i]) == 0)
			min_level = (cx_log_level)i;
	if (fmt)
		as_text = strcmp(fmt, "text") == 0;
	else
		as_text = isatty(2);
}

const char *cx_log_tool(void)
{
	return tool_name;
}

static void write_all(const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(2, s, n);

		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static char *text_line(cx_log_level level, jv fields, const char *msg)
{
	jv out = jv_string_fmt("%s: %s%s", tool_name,
	    level == CX_LOG_ERROR ? "" : level == CX_LOG_WARN ? "warning: " : "",
	    msg);
	int first = 1;

	jv_object_foreach(fields, k, v) {
		jv s = jv_get_kind(v) == JV_KIND_STRING ? v : jv_dump_string(v, 0);

		out = jv_string_append_str(out, first ? " (" : ", ");
		out = jv_string_concat(out, k);
		out = jv_string_append_str(out, "=");
		out = jv_string_concat(out, s);
		first = 0;
	}
	jv_free(fields);
	out = jv_string_append_str(out, first ? "\n" : ")\n");
	char *line = cx_xstrdup(jv_string_value(out));
	jv_free(out);
	return line;
}

static char *json_line(cx_log_level level, jv fields, const char *msg)
{
	char ts[CX_RFC3339_LEN];
	int64_t ms = cx_clock_now_ms();
	jv o = jv_object();
	char *line;

	cx_clock_rfc3339(ms / 1000, (int)(ms % 1000), ts);
	o = jv_object_set(o, jv_string("ts"), jv_string(ts));
	o = jv_object_set(o, jv_string("level"), jv_string(level_names[level]));
	o = jv_object_set(o, jv_string("tool"), jv_string(tool_name));
	o = jv_object_set(o, jv_string("msg"), jv_string(msg));
	o = jv_object_merge(o, fields);
	jv s = jv_dump_string(o, 0);
	line = cx_xasprintf("%s\n", jv_string_value(s));
	jv_free(s);
	return line;
}

void cx_log(cx_log_level level, jv fields, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	char *line;

	if (level < min_level) {
		jv_free(fields);
		return;
	}
	if (jv_get_kind(fields) != JV_KIND_OBJECT) {
		jv_free(fields);
		fields = jv_object();
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	line = as_text ? text_line(level, fields, msg) : json_line(level, fields, msg);
	write_all(line, strlen(line));
	free(line);
}

char *cx_log_mask_phone(const char *phone)
{
	size_t n = strlen(phone);
	size_t keep_head = phone[0] == '+' ? 3 : 2, keep_tail = 2;
	char *out = cx_xstrdup(phone);

	if (n <= keep_head + keep_tail) {
		memset(out, '*', n);
		return out;
	}
	memset(out + keep_head, '*', n - keep_head - keep_tail);
	return out;
}

char *cx_log_mask_email(const char *email)
{
	const char *at = strrchr(email, '@');

	if (!at || at == email)
		return cx_xstrdup("***");
	return cx_xasprintf("%c***%s", email[0], at);
}

int cx_log_fail(const cx_err *err)
{
	cx_log(CX_LOG_ERROR, jv_null(), "%s", err->msg);
	return err->code ? err->code : CX_EXIT_TEMPFAIL;
}
