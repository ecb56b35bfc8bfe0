/* channels.c: the channel registry: one line per channel. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "channels.h"
#include "emailchannel.h"
#include "exit.h"
#include "json.h"
#include "metachannel.h"
#include "s3channel.h"
#include "sheetschannel.h"
#include "uploadchannel.h"
#include "xchannel.h"

static const cx_channel *const channels[] = {
	&cx_x_channel,
	&cx_whatsapp_channel,
	&cx_instagram_channel,
	&cx_messenger_channel,
	&cx_email_channel,
	&cx_sheets_channel,
	&cx_s3_channel,
	&cx_upload_channel,
	NULL,
};

const cx_channel *cx_channels_find(const char *name)
{
	for (size_t i = 0; name && channels[i]; i++)
		if (strcmp(channels[i]->name, name) == 0)
			return channels[i];
	return NULL;
}

const cx_channel *cx_channels_at(size_t i)
{
	return i < sizeof channels / sizeof channels[0] ? channels[i] : NULL;
}

/* "x, whatsapp, instagram, messenger" */
static void names(char *out, size_t cap)
{
	out[0] = '\0';
	for (size_t i = 0; channels[i]; i++)
		snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? ", " : "",
		    channels[i]->name);
}

static void unknown(const char *name, cx_err *err)
{
	char list[256];

	names(list, sizeof list);
	cx_err_set(err, CX_EXIT_DATAERR, "cx-publish cannot send to channel '%s' (%s)",
	    name ? name : "", list);
}

const cx_channel *cx_channels_get(const char *name, cx_err *err)
{
	const cx_channel *ch = cx_channels_find(name);

	if (!ch)
		unknown(name, err);
	return ch;
}

int cx_channels_check(jv p, cx_queue_checked *out, const char **problem, cx_err *err)
{
	const cx_channel *ch;
	const char *channel;
	char list[256];

	if (cx_queue_check_shape(p, problem, err) < 0)
		return -1;
	channel = cx_json_str(p, "channel");
	names(list, sizeof list);
	if (!channel || !*channel)
		return cx_channel_invalid(problem, "missing_channel", err,
		    "channel is missing (one of %s)", list);
	if (!(ch = cx_channels_find(channel)))
		return cx_channel_invalid(problem, "unknown_channel", err,
		    "unknown channel (one of %s)", list);
	return cx_channel_check(ch, p, out, problem, err);
}

int cx_channels_check_tenant(cx_store *s, jv p, const char *tenant,
    const char **problem, cx_err *err)
{
	cx_queue_checked c;
	char *its;
	int rc = 0;

	if (cx_channels_check(p, &c, problem, err) < 0)
		return -1;
	its = cx_accounts_tenant(s, cx_json_str(p, "channel"), c.account ? c.account :
	    cx_json_str(p, "workspace"), err);
	if (!its)
		return -1;
	if (strcmp(its, tenant) != 0) {
		if (problem)
			*problem = "tenant_mismatch";
		rc = cx_err_set(err, CX_EXIT_NOPERM, "its account is of tenant %s, not %s",
		    its, tenant);
	}
	free(its);
	return rc;
}

int cx_channels_call_build(jv item, cx_channel_call *call, const char **code,
    cx_err *err)
{
	const char *channel = cx_json_str(item, "channel");
	const cx_channel *ch = cx_channels_find(channel);

	if (!ch) {
		unknown(channel, err);
		memset(call, 0, sizeof *call);
		*code = "VALIDATION_FAILED";
		return -1;
	}
	return cx_channel_call_build(ch, item, call, code, err);
}

int cx_channels_check_settings(cx_err *err)
{
	cx_ratelimit limit;
	int required;

	for (size_t i = 0; channels[i]; i++)
		if (cx_channel_approval_required(channels[i], &required, err) < 0 ||
		    cx_channel_rate(channels[i], &limit, err) < 0)
			return -1;
	return 0;
}
