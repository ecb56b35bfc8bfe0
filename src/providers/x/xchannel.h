/* xchannel.h: the x channel (X API v2: POST /2/tweets), named in the channel
 * registry (channels.c), and its timeline reconcile (reconcile.c). What
 * the functions take and give is as channel.h says of its hooks. */
#ifndef CX_XCHANNEL_H
#define CX_XCHANNEL_H

#include <jv.h>

#include "channel.h"
#include "err.h"

extern const cx_channel cx_x_channel;

/* channel.h's reconcile and reconcile_end: the account's recent posts
 * (GET /2/users/{id}/tweets), matched by text and reply target. */
int cx_x_reconcile(cx_channel_recon *run, jv item, char **ref, cx_err *err);
void cx_x_reconcile_end(cx_channel_recon *run);

#endif
