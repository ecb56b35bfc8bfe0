/* encword.h: text for e-mail header fields (RFC 5322, RFC 2047): whether a
 * value can go as it is, and RFC 2047 encoded-words for the rest.
 * cx_email_encoded_words returns a new string the caller frees. */
#ifndef CX_ENCWORD_H
#define CX_ENCWORD_H

#include <stddef.h>

/* 1 when s (len octets) is printable ASCII, spaces and tabs only, with no
 * run without white space longer than max: then it can go in a header as
 * it is (text that holds "=?" is better encoded too: a decoder could take
 * it for an encoded-word). */
int cx_email_header_plain(const char *s, size_t len, size_t max);

/* s (UTF-8) as RFC 2047 encoded-words "=?UTF-8?B?...?=", each at most 75
 * characters and cut at character boundaries, separated by single spaces
 * (where a header may be folded); "" for "". */
char *cx_email_encoded_words(const char *s, size_t len);

#endif
