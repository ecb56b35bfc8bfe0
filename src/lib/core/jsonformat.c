/* jsonformat.c: the string formats of the JSON Schema subset, checked by
 * hand, byte by byte, so nothing depends on the locale. */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "jsonformat.h"

static int is_alnum(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

static int is_atext(unsigned char ch)
{
	return is_alnum(ch) || ch >= 0x80 || (ch && strchr("!#$%&'*+/=?^_`{|}~-", ch));
}

/* RFC 5321's dot-atom local part. */
static int local_part_ok(const char *s, size_t n)
{
	if (n == 0 || n > 64 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(is_atext((unsigned char)s[i]) || (s[i] == '.' && s[i + 1] != '.')))
			return 0;
	return 1;
}

/* Host names of at least two labels (UTF-8 labels let through). */
static int domain_ok(const char *s, size_t n)
{
	size_t label = 0, dots = 0;

	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		unsigned char ch = i < n ? (unsigned char)s[i] : '.';

		if (ch == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return 0;
			dots += i < n;
			label = 0;
		} else if (is_alnum(ch) || ch >= 0x80 || (ch == '-' && label > 0)) {
			label++;
		} else {
			return 0;
		}
	}
	return dots > 0;
}

int cx_jsonformat_email(const char *s, size_t n)
{
	const char *at = memchr(s, '@', n);

	return at && local_part_ok(s, (size_t)(at - s)) &&
	    domain_ok(at + 1, n - (size_t)(at - s) - 1);
}

static int digits(const char *s, int n, int *out)
{
	*out = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		*out = *out * 10 + (s[i] - '0');
	}
	return 1;
}

static int days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

int cx_jsonformat_date_time(const char *s, size_t n)
{
	int y, mo, d, h, mi, sec, oh, om;
	size_t i = 19;

	if (n < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
	    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
	    s[16] != ':' || !digits(s + 17, 2, &sec))
		return 0;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
	    sec > 60)
		return 0;
	if (s[i] == '.') {
		size_t start = ++i;

		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start)
			return 0;
	}
	if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z'))
		return 1;
	return i + 6 == n && (s[i] == '+' || s[i] == '-') && digits(s + i + 1, 2, &oh) &&
	    s[i + 3] == ':' && digits(s + i + 4, 2, &om) && oh <= 23 && om <= 59;
}

static int is_hex(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

int cx_jsonformat_uri(const char *s, size_t n)
{
	size_t i = 0, scheme;

	if (n == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return 0;
	while (i < n && (is_alnum((unsigned char)s[i]) || (s[i] && strchr("+-.", s[i]))))
		i++;
	if (i == n || s[i] != ':')
		return 0;
	scheme = i++;
	for (size_t j = i; j < n; j++) {
		unsigned char ch = (unsigned char)s[j];

		if (ch == '%') {
			if (j + 2 >= n || !is_hex((unsigned char)s[j + 1]) || !is_hex((unsigned char)s[j + 2]))
				return 0;
			j += 2;
		} else if (!is_alnum(ch) && !(ch && strchr("-._~:/?#[]@!$&'()*+,;=", ch))) {
			return 0;
		}
	}
	if (n - i >= 2 && s[i] == '/' && s[i + 1] == '/' &&
	    !(scheme == 4 && strncasecmp(s, "file", 4) == 0))
		return i + 2 < n && !strchr("/?#", s[i + 2]);
	return 1;
}
