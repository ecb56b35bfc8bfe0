/* metachannel.h: the channels Meta's Graph API sends to, named in the channel
 * registry (channels.c):
 *
 *   whatsapp   POST {CX_GRAPH_API_BASE}/{v}/{phone_number_id}/messages
 *   instagram  dm: POST .../{account or me}/messages;
 *              comment_reply: POST .../{comment_id}/replies
 *   messenger  POST .../{account or me}/messages
 *
 * The Graph API cannot be asked whether a message went out: none of them
 * reconciles. */
#ifndef CX_METACHANNEL_H
#define CX_METACHANNEL_H

#include "channel.h"

extern const cx_channel cx_whatsapp_channel;
extern const cx_channel cx_instagram_channel;
extern const cx_channel cx_messenger_channel;

#endif
