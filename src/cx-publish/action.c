/* action.c: the command an automation's send_message becomes
 * (action.requested, SPEC §5): its channel's plain message kind, and the
 * account it sends from when the channel needs one named (a WhatsApp
 * phone_number_id): the integration's tenant's only account of that
 * channel (cx accounts). input.c then takes it like any command line. */
#include <string.h>

#include "accounts.h"
#include "channels.h"
#include "json.h"
#include "publish_tool.h"

/* The first kind of ch that needs nothing but a recipient and the account
 * (what send_message gives): its plain message. */
static const char *message_kind(const cx_channel *ch)
{
	for (const cx_channel_kind *k = ch->kinds; k->name; k++) {
		int plain = !k->reply && !k->object;

		for (size_t i = 0; plain && i < 3 && k->fields[i]; i++)
			plain = strcmp(k->fields[i], "to") == 0 || (ch->account_field &&
			    strcmp(k->fields[i], ch->account_field) == 0);
		if (plain)
			return k->name;
	}
	return NULL;
}

typedef struct {
	const char *channel, *tenant;
	jv account;                 /* the only one so far, or null */
	int found;
} account_search;

static void match_account(jv row, void *ctx)
{
	account_search *a = ctx;
	const char *channel = cx_json_str(row, "channel"), *tenant = cx_json_str(row, "tenant");

	if (channel && tenant && strcmp(channel, a->channel) == 0 &&
	    strcmp(tenant, a->tenant) == 0 && a->found++ == 0)
		a->account = jv_object_get(jv_copy(row), jv_string("account"));
	jv_free(row);
}

jv input_action_command(cx_store *s, jv event, const cx_actionreq *a)
{
	jv cmd = cx_actionreq_command(event, a);
	const cx_channel *ch = cx_channels_find(cx_json_str(cmd, "channel"));
	const char *kind;
	account_search as = { NULL, a->tenant, jv_null(), 0 };
	cx_err err = { 0, "" };

	if (!ch)
		return cmd;
	if (!cx_json_str(cmd, "kind") && (kind = message_kind(ch)))
		cmd = jv_object_set(cmd, jv_string("kind"), jv_string(kind));
	if (!ch->account_field || cx_json_str(cmd, ch->account_field))
		return cmd;
	/* none or several: the channel's check says the account is missing */
	as.channel = ch->name;
	if (cx_accounts_list(s, match_account, &as, &err) == 0 && as.found == 1 &&
	    jv_get_kind(as.account) == JV_KIND_STRING)
		return jv_object_set(cmd, jv_string(ch->account_field), as.account);
	jv_free(as.account);
	return cmd;
}
