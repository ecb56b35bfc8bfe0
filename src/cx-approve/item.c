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
		const char *to = cx_json_str(meta, "to"), *comment = cx_json_str(meta, "comment_id");
		jv tpl = jv_object_get(jv_copy(meta), jv_string("template"));

		if (to) {
			char *masked = cx_log_mask_phone(to);

			fprintf(out, "to %s\n", masked);
			free(masked);
		}
		if (comment)
			fprintf(out, "replying to comment %s\n", comment);
		if (jv_get_kind(tpl) == JV_KIND_OBJECT && cx_json_str(tpl, "name"))
			fprintf(out, "template %s\n", cx_json_str(tpl, "name"));
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
