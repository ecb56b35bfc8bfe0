/* snshook.h: the two rules of sns.c (the ses route) that decide what an
 * SNS message is checked against, apart so they can be tested alone.
 * Nothing returned is the caller's but what it passed. */
#ifndef CX_SNSHOOK_H
#define CX_SNSHOOK_H

#include <jv.h>

#include "json.h"

/* Whether url is https, without user info, on the certificate host:
 * cert_host's host[:port] exactly (port 443 when it names none, host in
 * any case), or, when cert_host is NULL, sns.<one label>.amazonaws.com on
 * port 443. 1 or 0. */
int sns_cert_host_ok(const char *cert_host, const char *url);
/* Appends to out the string SNS signs for msg (not consumed): "Key\nValue\n"
 * for Message, MessageId, Subject (when present), Timestamp, TopicArn, Type
 * in a Notification; Message, MessageId, SubscribeURL, Timestamp, Token,
 * TopicArn, Type in the other types. 0, or -1 when a key it needs is
 * missing or not a string. */
int sns_string_to_sign(jv msg, cx_buf *out);

#endif
