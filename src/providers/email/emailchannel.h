/* emailchannel.h: the e-mail channel of cx-publish (cx-email(7)). One
 * channel, four providers chosen by the tenant's plan (tenants.h), never
 * by the item: default SES (SESv2 SendEmail, SigV4), premium SendGrid
 * (v3 mail/send), advanced Mailgun (messages, a multipart form), expert
 * SMTP (the RFC 5322 message built by cx, STARTTLS and AUTH). Before any
 * request: the tenant's pause, the From rules of its plan, its domain's
 * last DNS check, the suppression list, its daily quota and the rate
 * limits per recipient domain and recipient. No provider takes an
 * idempotency key, so an item whose fate is unknown is never resent. */
#ifndef CX_EMAILCHANNEL_H
#define CX_EMAILCHANNEL_H

#include "channel.h"

extern const cx_channel cx_email_channel;

#endif
