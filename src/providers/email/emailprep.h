/* emailprep.h: what the e-mail channel's files share (emailchannel.h):
 * the message fields of a stored item, and prepare, which applies the
 * tenant's plan and the governance rules and makes the request. */
#ifndef CX_EMAILPREP_H
#define CX_EMAILPREP_H

#include <jv.h>

#include "channel.h"
#include "err.h"
#include "store.h"

/* The message fields of item (not consumed): its meta and its text. */
jv cx_email_item_message(jv item);

/* The channel's prepare (channel.h). call->data gets {provider,
 * message_id, template?, suppressed?, risk?}. */
int cx_email_prepare(cx_store *s, jv item, cx_channel_call *call, cx_channel_gate *gate,
    cx_err *err);

#endif
