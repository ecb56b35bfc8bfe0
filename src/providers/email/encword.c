/* encword.c: header text as it is or as RFC 2047 encoded-words. */
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "encword.h"
#include "json.h"
#include "xalloc.h"

int cx_email_header_plain(const char *s, size_t len, size_t max)
{
	size_t run = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == ' ' || c == '\t') {
			run = 0;
			continue;
		}
		if (c < 0x21 || c > 0x7e || ++run > max)
			return 0;
	}
	return 1;
}

/* 42 octets make 56 base64 characters: with "=?UTF-8?B?" and "?=", 68,
 * and "Subject: " and one word still fit in 78. */
#define WORD_OCTETS 42

/* How many octets of s[0..len) fit in one word without cutting a UTF-8
 * sequence. */
static size_t word_octets(const char *s, size_t len)
{
	size_t n = len < WORD_OCTETS ? len : WORD_OCTETS;

	if (n == len)
		return n;
	/* back up over continuation octets to the start of a character */
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n ? n : WORD_OCTETS;
}

char *cx_email_encoded_words(const char *s, size_t len)
{
	cx_buf b = {0};

	for (size_t i = 0, n; i < len; i += n) {
		char *word;

		n = word_octets(s + i, len - i);
		word = cx_crypto_base64(s + i, n);
		if (i)
			cx_buf_add(&b, " ", 1);
		cx_buf_add(&b, "=?UTF-8?B?", 10);
		cx_buf_add(&b, word, strlen(word));
		cx_buf_add(&b, "?=", 2);
		free(word);
	}
	cx_buf_add(&b, "", 1);
	return b.s;
}
