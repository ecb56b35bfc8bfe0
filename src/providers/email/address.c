/* address.c: e-mail addresses (RFC 5322 3.4 addr-spec, with or without a
 * display name), IDN domains to A-labels (punycode, RFC 3492), and the
 * forms a header field and an SMTP envelope take. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emailmsg.h"
#include "encword.h"
#include "exit.h"
#include "json.h"
#include "unicode.h"
#include "utf8.h"
#include "xalloc.h"

#define LOCAL_MAX 64
#define ADDRESS_MAX 254
#define LABEL_MAX 63
/* a domain as given, before conversion: bounds the work on it */
#define DOMAIN_INPUT_MAX 1024
/* a word of a display name as it is, quoted and escaped, fits in a line */
#define DISPLAY_WORD_MAX 480

static int bad(cx_err *err, const char *why)
{
	return cx_err_set(err, CX_EXIT_DATAERR, "not a valid e-mail address: %s", why);
}

static int is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* RFC 5322 atext */
static int is_atext(int c)
{
	return is_alpha(c) || is_digit(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

static int is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

/* --- punycode (RFC 3492 6.3) ---------------------------------------------- */

enum { PC_BASE = 36, PC_TMIN = 1, PC_TMAX = 26, PC_SKEW = 38, PC_DAMP = 700 };

static uint32_t pc_adapt(uint32_t delta, uint32_t points, int first)
{
	uint32_t k = 0;

	delta = first ? delta / PC_DAMP : delta / 2;
	delta += delta / points;
	while (delta > ((PC_BASE - PC_TMIN) * PC_TMAX) / 2) {
		delta /= PC_BASE - PC_TMIN;
		k += PC_BASE;
	}
	return k + (PC_BASE - PC_TMIN + 1) * delta / (delta + PC_SKEW);
}

static void pc_digit(cx_buf *out, uint32_t d)
{
	char c = (char)(d < 26 ? 'a' + d : '0' + (d - 26));

	cx_buf_add(out, &c, 1);
}

/* delta as a generalized variable-length integer */
static void pc_integer(cx_buf *out, uint32_t q, uint32_t bias)
{
	for (uint32_t k = PC_BASE;; k += PC_BASE) {
		uint32_t t = k <= bias ? PC_TMIN : k >= bias + PC_TMAX ? PC_TMAX : k - bias;

		if (q < t)
			break;
		pc_digit(out, t + (q - t) % (PC_BASE - t));
		q = (q - t) / (PC_BASE - t);
	}
	pc_digit(out, q);
}

/* The punycode of cp[0..n) (at most DOMAIN_INPUT_MAX code points, so no
 * delta can overflow) appended to out. */
static void punycode(const uint32_t *cp, size_t n, cx_buf *out)
{
	uint32_t next = 128, delta = 0, bias = 72;
	size_t basic = 0, h;

	for (size_t i = 0; i < n; i++)
		if (cp[i] < 0x80) {
			char c = (char)cp[i];

			cx_buf_add(out, &c, 1);
			basic++;
		}
	if (basic)
		cx_buf_add(out, "-", 1);
	for (h = basic; h < n; delta++, next++) {
		uint32_t m = UINT32_MAX;

		for (size_t i = 0; i < n; i++)
			if (cp[i] >= next && cp[i] < m)
				m = cp[i];
		delta += (m - next) * (uint32_t)(h + 1);
		next = m;
		for (size_t i = 0; i < n; i++) {
			if (cp[i] < next)
				delta++;
			if (cp[i] != next)
				continue;
			pc_integer(out, delta, bias);
			bias = pc_adapt(delta, (uint32_t)(h + 1), h == basic);
			delta = 0;
			h++;
		}
	}
}

/* --- the domain ------------------------------------------------------------- */

/* An ASCII label: LDH, 1-63 octets, no hyphen first or last. */
static int ldh_label(const char *s, size_t n)
{
	if (n == 0 || n > LABEL_MAX || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '-')
			return 0;
	return 1;
}

/* The lower case of the capitals of ASCII, Latin-1, Latin Extended-A,
 * Greek and Cyrillic, as IDNA's mapping (UTS 46) makes them, without its
 * tables; other code points stay as they are. */
static uint32_t lower_cp(uint32_t c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7) ||
	    (c >= 0x391 && c <= 0x3AB && c != 0x3A2) || (c >= 0x410 && c <= 0x42F))
		return c + 0x20;
	if (c >= 0x400 && c <= 0x40F)
		return c + 0x50;
	if (c == 0x178)
		return 0xFF;
	if (((c >= 0x100 && c <= 0x12F) || (c >= 0x132 && c <= 0x137) ||
	    (c >= 0x14A && c <= 0x177)) && c % 2 == 0)
		return c + 1;
	if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) && c % 2 == 1)
		return c + 1;
	return c;
}

/* A domain as given: lower case, NFC, and ideographic and fullwidth full
 * stops as dots (they separate labels too, RFC 3490 3.1). */
static char *domain_normal(const char *s, size_t n)
{
	cx_codepoints cp = {0};
	char *out;

	cx_unicode_decode(s, n, &cp);
	for (size_t i = 0; i < cp.n; i++) {
		cp.cp[i] = lower_cp(cp.cp[i]);
		if (cp.cp[i] == 0x3002 || cp.cp[i] == 0xFF0E || cp.cp[i] == 0xFF61)
			cp.cp[i] = '.';
	}
	cx_unicode_compose(&cp);
	out = cx_unicode_encode(&cp, NULL);
	free(cp.cp);
	return out;
}

/* A U-label as "xn--" and its punycode appended to out;
 * -1 when it holds what no label may. */
static int u_label(const char *s, size_t n, cx_buf *out, cx_err *err)
{
	cx_codepoints cp = {0};
	size_t start = out->len;
	int rc = 0;

	cx_unicode_decode(s, n, &cp);
	for (size_t i = 0; i < cp.n && rc == 0; i++)
		if (cp.cp[i] < 0x80 ? !is_alpha((int)cp.cp[i]) && !is_digit((int)cp.cp[i]) &&
		    cp.cp[i] != '-' : cp.cp[i] < 0xA0 || cp.cp[i] == 0xFFFD)
			rc = bad(err, "the domain holds a character no domain name may");
	if (rc == 0 && (s[0] == '-' || s[n - 1] == '-'))
		rc = bad(err, "a domain label begins or ends with a hyphen");
	if (rc == 0) {
		cx_buf_add(out, "xn--", 4);
		punycode(cp.cp, cp.n, out);
		if (out->len - start > LABEL_MAX)
			rc = bad(err, "a domain label is longer than 63 octets");
	}
	free(cp.cp);
	return rc;
}

static int all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]))
			return 0;
	return 1;
}

/* Appends each label of the lower-cased, NFC domain d to out as its
 * A-label. */
static int domain_labels(const char *d, cx_buf *out, cx_err *err)
{
	size_t labels = 0;

	for (const char *p = d;; labels++) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		int ascii = 1;

		for (size_t i = 0; i < n; i++)
			ascii &= (unsigned char)p[i] < 0x80;
		if (n == 0)
			return bad(err, "the domain has an empty label");
		if (labels)
			cx_buf_add(out, ".", 1);
		if (ascii && !ldh_label(p, n))
			return bad(err, "a domain label is not letters, digits and inner hyphens "
			    "of at most 63 octets");
		if (ascii)
			cx_buf_add(out, p, n);
		else if (u_label(p, n, out, err) < 0)
			return -1;
		if (!dot)
			return labels == 0 ? bad(err, "the domain has a single label") :
			    all_digits(p, n) ? bad(err, "the top-level domain is all digits") : 0;
		p = dot + 1;
	}
}

static int parse_domain(const char *s, size_t n, cx_email_addr *out, cx_err *err)
{
	cx_buf ascii = {0};

	if (n == 0)
		return bad(err, "the domain is empty");
	if (n > DOMAIN_INPUT_MAX)
		return bad(err, "the domain is too long");
	if (s[0] == '[')
		return bad(err, "a domain literal is not accepted");
	out->domain = domain_normal(s, n);
	if (domain_labels(out->domain, &ascii, err) < 0) {
		free(ascii.s);
		return -1;
	}
	cx_buf_add(&ascii, "", 1);
	out->domain_ascii = ascii.s;
	return 0;
}

/* --- the local part ----------------------------------------------------------- */

/* A dot-atom: atoms of atext joined by single dots. */
static int dot_atom(const char *s, size_t n)
{
	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '.' ? s[i + 1] == '.' : !is_atext((unsigned char)s[i]))
			return 0;
	return 1;
}

/* The end of the quoted-string at s[0] == '"' (the index after its closing
 * quote), or 0 when it is not one. Non-ASCII text is accepted when utf8 (a
 * display name), not in a local part. */
static size_t quoted_end(const char *s, size_t n, int utf8)
{
	for (size_t i = 1; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"')
			return i + 1;
		if (c == '\\') {
			if (++i >= n || (unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
				return 0;
			continue;
		}
		if (c >= 0x80 ? !utf8 : c < 0x20 && !is_wsp(c))
			return 0;
	}
	return 0;
}

/* The text of a quoted-string without its quotes and backslashes. */
static char *unquote(const char *s, size_t n)
{
	char *out = cx_xmalloc(n), *o = out;

	for (size_t i = 1; i + 1 < n; i++) {
		if (s[i] == '\\')
			i++;
		*o++ = s[i];
	}
	*o = '\0';
	return out;
}

/* The local part as it goes on the wire: a dot-atom, or the quoted-string
 * as given when its text is not one. */
static int parse_local(const char *s, size_t n, cx_email_addr *out, cx_err *err)
{
	if (n > 0 && s[0] == '"') {
		char *text;

		if (quoted_end(s, n, 0) != n)
			return bad(err, "the quoted local part is not a quoted-string of ASCII");
		text = unquote(s, n);
		if (!*text) {
			free(text);
			return bad(err, "the local part is empty");
		}
		if (dot_atom(text, strlen(text)) && !memchr(s, '\\', n)) {
			out->local = text;
		} else {
			free(text);
			out->local = cx_xstrndup(s, n);
		}
	} else if (dot_atom(s, n)) {
		out->local = cx_xstrndup(s, n);
	} else {
		return bad(err, n ? "the local part is not a dot-atom or a quoted-string" :
		    "the local part is empty");
	}
	if (strlen(out->local) > LOCAL_MAX)
		return bad(err, "the local part is longer than 64 octets");
	return 0;
}

static int parse_spec(const char *s, size_t n, cx_email_addr *out, cx_err *err)
{
	size_t at;

	if (n > 0 && s[0] == '"') {
		at = quoted_end(s, n, 0);
		if (at == 0 || at >= n || s[at] != '@')
			return bad(err, "the quoted local part is not a quoted-string of ASCII "
			    "followed by @");
	} else {
		const char *p = memchr(s, '@', n);

		if (!p)
			return bad(err, "there is no @");
		at = (size_t)(p - s);
	}
	if (parse_local(s, at, out, err) < 0 || parse_domain(s + at + 1, n - at - 1, out, err) < 0)
		return -1;
	if (strlen(out->local) + 1 + strlen(out->domain_ascii) > ADDRESS_MAX)
		return bad(err, "the address is longer than 254 octets");
	return 0;
}

/* --- display names ------------------------------------------------------------ */

static void trim(const char **s, size_t *n)
{
	while (*n && is_wsp((*s)[0]))
		(*s)++, (*n)--;
	while (*n && is_wsp((*s)[*n - 1]))
		(*n)--;
}

/* An unquoted display name: words of atext, dots and UTF-8, no specials. */
static int plain_phrase(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x80 && !is_atext(c) && !is_wsp(c) && c != '.')
			return 0;
	}
	return 1;
}

/* "Display <spec>": the display name (NULL when empty) into out, the
 * spec's bounds into *spec, *spec_len. */
static int parse_display(const char *s, size_t n, cx_email_addr *out, const char **spec,
    size_t *spec_len, cx_err *err)
{
	size_t lt;

	if (s[0] == '"') {
		lt = quoted_end(s, n, 1);
		if (lt == 0)
			return bad(err, "the display name is not a closed quoted-string");
		out->display = unquote(s, lt);
		while (lt < n && is_wsp(s[lt]))
			lt++;
		if (lt >= n || s[lt] != '<')
			return bad(err, "no <address> follows the display name");
	} else {
		const char *p = memchr(s, '<', n), *d = s;
		size_t dn = (size_t)(p - s);

		lt = dn;
		trim(&d, &dn);
		if (!plain_phrase(d, dn))
			return bad(err, "the display name holds a special character; quote it");
		if (dn)
			out->display = cx_xstrndup(d, dn);
	}
	*spec = s + lt + 1;
	*spec_len = n - lt - 2;
	return 0;
}

int cx_email_addr_parse(const char *in, cx_email_addr *out, cx_err *err)
{
	size_t n = strlen(in);
	const char *spec = in;
	size_t spec_len;
	int rc;

	memset(out, 0, sizeof *out);
	if (!cx_utf8_valid(in, n))
		return bad(err, "it is not UTF-8");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)in[i] < 0x20 ? in[i] != '\t' : in[i] == 0x7f)
			return bad(err, "it holds a line break or a control character");
	trim(&spec, &n);
	spec_len = n;
	if (n && spec[n - 1] == '>' && memchr(spec, '<', n))
		rc = parse_display(spec, n, out, &spec, &spec_len, err);
	else
		rc = 0;
	if (rc == 0)
		rc = parse_spec(spec, spec_len, out, err);
	if (rc < 0)
		cx_email_addr_free(out);
	return rc;
}

void cx_email_addr_free(cx_email_addr *a)
{
	if (!a)
		return;
	free(a->display);
	free(a->local);
	free(a->domain);
	free(a->domain_ascii);
	memset(a, 0, sizeof *a);
}

char *cx_email_addr_spec(const cx_email_addr *a)
{
	return cx_xasprintf("%s@%s", a->local, a->domain_ascii);
}

/* A display name that is printable ASCII of atext and single inner spaces
 * can go as it is; other ASCII goes as a quoted-string. */
static int display_atoms(const char *s)
{
	if (!*s || *s == ' ')
		return 0;
	for (; *s; s++)
		if (*s == ' ' ? s[1] == ' ' || !s[1] : !is_atext((unsigned char)*s))
			return 0;
	return 1;
}

static void add_quoted(cx_buf *b, const char *s)
{
	cx_buf_add(b, "\"", 1);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			cx_buf_add(b, "\\", 1);
		cx_buf_add(b, s, 1);
	}
	cx_buf_add(b, "\"", 1);
}

char *cx_email_addr_header(const cx_email_addr *a)
{
	cx_buf b = {0};
	size_t n = a->display ? strlen(a->display) : 0;
	char *spec = cx_email_addr_spec(a);
	int plain;

	if (n == 0)
		return spec;
	plain = !strstr(a->display, "=?") && cx_email_header_plain(a->display, n, DISPLAY_WORD_MAX);
	if (plain && display_atoms(a->display)) {
		cx_buf_add(&b, a->display, n);
	} else if (plain) {
		add_quoted(&b, a->display);
	} else {
		char *words = cx_email_encoded_words(a->display, n);

		cx_buf_add(&b, words, strlen(words));
		free(words);
	}
	cx_buf_add(&b, " <", 2);
	cx_buf_add(&b, spec, strlen(spec));
	cx_buf_add(&b, ">", 2);
	free(spec);
	return b.s;
}

int cx_email_addr_check(const char *in, char **spec, cx_err *err)
{
	cx_email_addr a;
	cx_err why = { 0, "" };
	int rc = 0;

	memset(&a, 0, sizeof a);
	if (cx_email_addr_parse(in, &a, &why) < 0)
		rc = cx_err_set(err, CX_EXIT_USAGE, "'%s' is not an e-mail address: %s", in,
		    why.msg);
	else if (a.display)
		rc = cx_err_set(err, CX_EXIT_USAGE, "'%s' is not an e-mail address: give the "
		    "address alone, without a name", in);
	else
		*spec = cx_email_addr_spec(&a);
	cx_email_addr_free(&a);
	return rc;
}
