/* item.c: how cx-approve shows a queue item: the item as list and show
 * print it (its length and limit as its channel counts them), and the item
 * for people. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "approve.h"
#include "channels.h"
#include "json.h"
#include "log.h"
#include "xalloc.h"

const char *approve_str(jv item, const char *key, const char *def)
{
	const char *v = cx_json_str(item, key);

	return v ? v : def;
}

long approve_num(jv item, const char *key)
{
	jv v = jv_object_get(jv_copy(item), jv_string(key));
	long n = jv_get_kind(v) == JV_KIND_NUMBER ? (long)jv_number_value(v) : 0;

	jv_free(v);
	return n;
}

jv approve_item_measured(jv item)
{
	long length, limit;
	jv out = jv_object();

	cx_channel_length(cx_channels_find(cx_json_str(item, "channel")),
	    cx_json_str(item, "kind"), cx_json_str(item, "text"), &length, &limit);
	/* before attempts, where items have always had them */
	jv_object_foreach(item, k, v) {
		if (strcmp(jv_string_value(k), "attempts") == 0) {
			out = jv_object_set(out, jv_string("length"), jv_number((double)length));
			out = jv_object_set(out, jv_string("limit"), jv_number((double)limit));
		}
		out = jv_object_set(out, k, v);
	}
	jv_free(item);
	return out;
}

/* One recipient, masked: a phone number, or an e-mail address (without
 * the name "Name <a@b>" may give it). */
static char *masked(const char *who)
{
	const char *lt = strrchr(who, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	char *addr, *m;

	if (!strchr(who, '@'))
		return cx_log_mask_phone(who);
	addr = lt && gt ? cx_xstrndup(lt + 1, (size_t)(gt - lt - 1)) : cx_xstrdup(who);
	m = cx_log_mask_email(addr);
	free(addr);
	return m;
}

/* "to a***@example.com, +55*********21": the recipients under key of meta
 * (a string or an array of them), masked; nothing when there are none. */
static void print_recipients(FILE *out, jv meta, const char *key)
{
	jv v = jv_get_kind(meta) == JV_KIND_OBJECT ?
	    jv_object_get(jv_copy(meta), jv_string(key)) : jv_invalid();
	int n = 0;

	if (jv_get_kind(v) == JV_KIND_STRING)
		v = JV_ARRAY(v);
	if (jv_get_kind(v) == JV_KIND_ARRAY) {
		jv_array_foreach(v, i, who) {
			if (jv_get_kind(who) == JV_KIND_STRING) {
				char *m = masked(jv_string_value(who));

				if (n++)
					fputs(", ", out);
				else
					fprintf(out, "%s ", key);
				fputs(m, out);
				free(m);
			}
			jv_free(who);
		}
	}
	if (n)
		fputc('\n', out);
	jv_free(v);
}

/* What else goes with a message: an HTML body, attachments. */
static void print_extras(FILE *out, jv meta)
{
	jv att = jv_get_kind(meta) == JV_KIND_OBJECT ?
	    jv_object_get(jv_copy(meta), jv_string("attachments")) : jv_invalid();

	if (jv_get_kind(meta) == JV_KIND_OBJECT && cx_json_str(meta, "html"))
		fprintf(out, "with an HTML body\n");
	if (jv_get_kind(att) == JV_KIND_ARRAY && jv_array_length(jv_copy(att)) > 0) {
		fprintf(out, "attachments:");
		jv_array_foreach(att, i, a) {
			fprintf(out, " %s", cx_json_str(a, "filename") ? cx_json_str(a, "filename") :
			    "?");
			jv_free(a);
		}
		fputc('\n', out);
	}
	jv_free(att);
}

void approve_print_item(FILE *out, jv item)
{
	const cx_channel *ch;
	long length, limit;
	const char *v;

	fprintf(out, "#%ld  %s %s  workspace %s  account %s  tenant %s  [%s]\n",
	    approve_num(item, "id"), approve_str(item, "channel", "-"),
	    approve_str(item, "kind", "-"), approve_str(item, "workspace", "-"),
	    approve_str(item, "account", "-"), approve_str(item, "tenant", "-"),
	    approve_str(item, "state", "-"));
	fprintf(out, "proposed by %s at %s  (%s)\n", approve_str(item, "proposed_by", "-"),
	    approve_str(item, "proposed_at", "-"),
	    approve_str(item, "correlation_id", "-"));
	if ((v = cx_json_str(item, "in_reply_to")))
		fprintf(out, "in reply to %s\n", v);
	{
		jv meta = jv_object_get(jv_copy(item), jv_string("meta"));
		const char *comment = cx_json_str(meta, "comment_id");
		const char *subject = cx_json_str(meta, "subject");
		jv tpl = jv_object_get(jv_copy(meta), jv_string("template"));

		print_recipients(out, meta, "to");
		print_recipients(out, meta, "cc");
		print_recipients(out, meta, "bcc");
		if (subject)
			fprintf(out, "subject %s\n", subject);
		if (comment)
			fprintf(out, "replying to comment %s\n", comment);
		if (jv_get_kind(tpl) == JV_KIND_OBJECT && (cx_json_str(tpl, "name") ||
		    cx_json_str(tpl, "id")))
			fprintf(out, "template %s\n", cx_json_str(tpl, "name") ?
			    cx_json_str(tpl, "name") : cx_json_str(tpl, "id"));
		print_extras(out, meta);
		jv_free(tpl);
		jv_free(meta);
	}
	fputc('\n', out);
	for (const char *p = approve_str(item, "text", ""); *p;) {
		size_t n = strcspn(p, "\n");

		fprintf(out, "    %.*s\n", (int)n, p);
		p += n;
		if (*p == '\n')
			p++;
	}
	ch = cx_channels_find(cx_json_str(item, "channel"));
	cx_channel_length(ch, cx_json_str(item, "kind"), cx_json_str(item, "text"), &length,
	    &limit);
	fprintf(out, "\nlength %ld/%ld%s\n", length, limit, ch ? ch->length_note : "");
}
