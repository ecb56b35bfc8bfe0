/* xtext.c: X's weighted length (twitter-text parseTweet, configuration v3).
 * The URL rules are twitter-text's extractor made into a scanner:
 * an optional http:// or https://, a host whose last label is a known
 * top-level domain, an optional port, path and query, with the same
 * characters allowed and the same trailing punctuation left out. The emoji
 * rule stands in for twemoji's list: a pictographic code point (or a
 * text-style one followed by U+FE0F) with its variation selector, skin tone,
 * tag characters and ZWJ-joined followers, a keycap, or a pair of regional
 * indicators, is one emoji.
 *
 * The text is NFC-normalized first (unicode.h), as X does. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unicode.h"
#include "xtext.h"

/* --- URLs ----------------------------------------------------------------- */

/* Country-code top-level domains (ISO 3166 and the few others in use). */
static const char cctlds[] =
    "ac ad ae af ag ai al am an ao aq ar as at au aw ax az ba bb bd be bf bg bh "
    "bi bj bl bm bn bo bq br bs bt bv bw by bz ca cc cd cf cg ch ci ck cl cm cn "
    "co cr cu cv cw cx cy cz de dj dk dm do dz ec ee eg eh er es et eu fi fj fk "
    "fm fo fr ga gb gd ge gf gg gh gi gl gm gn gp gq gr gs gt gu gw gy hk hm hn "
    "hr ht hu id ie il im in io iq ir is it je jm jo jp ke kg kh ki km kn kp kr "
    "kw ky kz la lb lc li lk lr ls lt lu lv ly ma mc md me mf mg mh mk ml mm mn "
    "mo mp mq mr ms mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz om "
    "pa pe pf pg ph pk pl pm pn pr ps pt pw py qa re ro rs ru rw sa sb sc sd se "
    "sg sh si sj sk sl sm sn so sr ss st su sv sx sy sz tc td tf tg th tj tk tl "
    "tm tn to tp tr tt tv tw tz ua ug uk um us uy uz va vc ve vg vi vn vu wf ws "
    "ye yt za zm zw ";

/* Generic top-level domains: the long-standing ones and the new ones seen
 * most in posts. twitter-text knows about 1,500; a host under one missing
 * here is counted by its characters. */
static const char gtlds[] =
    "academy aero agency ai app art asia auto bank bar beer best bet bike bio "
    "biz blog book boutique build business buzz cafe camp capital care careers "
    "cars casa cash cat center chat city click clinic cloud club codes coffee "
    "college com community company computer consulting coop credit dance data "
    "date deals delivery design dev diet digital direct directory domains edu "
    "education email energy engineering enterprises estate events exchange "
    "expert express family fashion film finance fit fitness food football "
    "foundation free fun fund furniture gallery game games garden gift gives "
    "global gmbh gold golf gov graphics green group guide guru health help "
    "holdings holiday home homes host hosting house immo inc industries info "
    "ink institute insure int international investments jobs kitchen land law "
    "legal life link live llc loan london love ltd management market marketing "
    "media mil mobi moda money movie museum music name net network news ninja "
    "nyc one onion online org page paris partners party photo photography "
    "photos pictures pizza place plus post press pro productions properties "
    "pub radio realty recipes red rent repair report rest restaurant review "
    "reviews rocks run sale salon school science services shop shopping show "
    "site ski social software solar solutions space sport store stream studio "
    "style support surf systems tax taxi team tech technology tel tips today "
    "tokyo tools top tours town toys trade training travel tube tv university "
    "vacations vegas ventures video vip vision watch webcam website wedding "
    "wiki win wine work works world wtf xxx xyz yoga zone ";

static int is_ascii_alpha(uint32_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_ascii_alnum(uint32_t c)
{
	return is_ascii_alpha(c) || (c >= '0' && c <= '9');
}

static int is_invalid_char(uint32_t c)
{
	return c == 0xFFFE || c == 0xFEFF || c == 0xFFFF;
}

static int is_space(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 ||
	    c == 0x1680 || c == 0x180E || (c >= 0x2000 && c <= 0x200A) ||
	    c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static int is_punct(uint32_t c)
{
	return c < 0x80 && c && strchr("!'#%&()*+,\\-./:;<=>?@[]^_{|}~$", (int)c);
}

static int is_domain_char(uint32_t c)
{
	return !is_punct(c) && !is_space(c) && !is_invalid_char(c);
}

static int is_latin_accent(uint32_t c)
{
	return (c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7) ||
	    (c >= 0x253 && c <= 0x254) || (c >= 0x256 && c <= 0x257) || c == 0x259 ||
	    c == 0x25B || c == 0x263 || c == 0x268 || c == 0x26F || c == 0x272 ||
	    c == 0x289 || c == 0x28B || c == 0x2BB || (c >= 0x300 && c <= 0x36F) ||
	    (c >= 0x1E00 && c <= 0x1EFF);
}

static int is_path_letter(uint32_t c)
{
	return is_ascii_alnum(c) || (c >= 0x400 && c <= 0x4FF) || is_latin_accent(c);
}

static int is_path_char(uint32_t c)
{
	return is_path_letter(c) || c == 0x2013 ||
	    (c < 0x80 && c && strchr("!*';:=+,.$/%#[]-_~@|&", (int)c));
}

static int is_path_end(uint32_t c)
{
	return is_path_letter(c) || (c < 0x80 && c && strchr("+-=_#/", (int)c));
}

static int is_query_char(uint32_t c)
{
	return is_ascii_alnum(c) || (c < 0x80 && c && strchr("!?*'@();:&=+$/%#[]-_.,~|", (int)c));
}

static int is_query_end(uint32_t c)
{
	return is_ascii_alnum(c) || (c < 0x80 && c && strchr("-_&=#/", (int)c));
}

/* Whether t[0..n) (ASCII letters) is a word of the space-separated list. */
static int in_list(const char *list, const uint32_t *t, size_t n)
{
	char word[32];

	if (n == 0 || n + 2 > sizeof word)
		return 0;
	word[0] = ' ';
	for (size_t i = 0; i < n; i++)
		word[i + 1] = (char)(t[i] | 0x20);
	word[n + 1] = ' ';
	word[n + 2] = '\0';
	if (strncmp(list, word + 1, n + 1) == 0)
		return 1;
	return strstr(list, word) != NULL;
}

/* Length of the top-level domain at t[0..n): the run of ASCII letters (or
 * an xn-- label), when it is a known domain and what follows it may end a
 * host; else 0. */
static size_t tld_at(const uint32_t *t, size_t n)
{
	size_t k = 0;

	if (n > 4 && (t[0] | 0x20) == 'x' && (t[1] | 0x20) == 'n' && t[2] == '-' &&
	    t[3] == '-') {
		for (k = 4; k < n && (is_ascii_alnum(t[k]) || t[k] == '-'); k++)
			;
		return k > 4 ? k : 0;
	}
	while (k < n && is_ascii_alpha(t[k]))
		k++;
	if (k < n && (is_ascii_alnum(t[k]) || t[k] == '@' || t[k] == '+' || t[k] == '-'))
		return 0;
	if ((k == 2 && in_list(cctlds, t, k)) || (k > 2 && in_list(gtlds, t, k)))
		return k;
	return 0;
}

/* Whether the label t[0..n) may be a subdomain (underscore allowed inside)
 * or the name right under the top-level domain (hyphens only); ASCII only
 * for URLs without a protocol. */
static int label_ok(const uint32_t *t, size_t n, int allow_underscore, int ascii)
{
	if (n == 0 || !is_domain_char(t[0]) || !is_domain_char(t[n - 1]))
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (t[i] == '_' && !allow_underscore)
			return 0;
		if (ascii && !(is_ascii_alnum(t[i]) || t[i] == '-' || t[i] == '_'))
			return 0;
	}
	return 1;
}

#define MAX_LABELS 128

/* The end of the host starting at t[0], or 0 when there is none. */
static size_t host_end(const uint32_t *t, size_t n, int ascii)
{
	size_t start[MAX_LABELS], end[MAX_LABELS], nl = 0, j = 0;

	while (nl < MAX_LABELS) {
		size_t k = j;

		while (k < n && (is_domain_char(t[k]) || t[k] == '-' || t[k] == '_'))
			k++;
		if (k == j)
			break;
		start[nl] = j;
		end[nl++] = k;
		if (k < n && t[k] == '.') {
			j = k + 1;
			continue;
		}
		break;
	}
	/* The most labels that make a host, as the greedy pattern would. */
	for (size_t last = nl; last-- > 1;) {
		size_t tld = tld_at(t + start[last], n - start[last]), i;

		if (!tld)
			continue;
		for (i = 0; i < last; i++)
			if (!label_ok(t + start[i], end[i] - start[i], i + 1 < last, ascii))
				break;
		if (i == last)
			return start[last] + tld;
	}
	return 0;
}

/* The end of a balanced "( ... )" group at t[0] (one nested level), or 0. */
static size_t parens_end(const uint32_t *t, size_t n)
{
	size_t k = 1;
	int nested = 0;

	while (k < n) {
		if (t[k] == ')')
			return k > 1 ? k + 1 : 0;
		if (t[k] == '(' && !nested) {
			size_t j = k + 1;

			while (j < n && is_path_char(t[j]))
				j++;
			if (j == k + 1 || j >= n || t[j] != ')')
				return 0;
			k = j + 1;
			nested = 1;
			continue;
		}
		if (!is_path_char(t[k]))
			return 0;
		k++;
	}
	return 0;
}

/* The end of the path starting with the '/' at t[0]. */
static size_t path_end(const uint32_t *t, size_t n)
{
	size_t k = 1, end = 1;

	while (k < n) {
		if (t[k] == '(') {
			size_t p = parens_end(t + k, n - k);

			if (!p)
				break;
			k += p;
			end = k;
		} else if (is_path_char(t[k])) {
			if (is_path_end(t[k]))
				end = k + 1;
			k++;
		} else {
			break;
		}
	}
	return end;
}

/* The end of the query starting with the '?' at t[0], or 0 for none. */
static size_t query_end(const uint32_t *t, size_t n)
{
	size_t end = 0;

	for (size_t k = 1; k < n && is_query_char(t[k]); k++)
		if (is_query_end(t[k]))
			end = k + 1;
	return end;
}

static int protocol_at(const uint32_t *t, size_t n)
{
	static const char http[] = "http";
	size_t k;

	for (k = 0; k < 4; k++)
		if (k >= n || (t[k] | 0x20) != (uint32_t)http[k])
			return 0;
	if (k < n && (t[k] | 0x20) == 's')
		k++;
	if (k + 3 <= n && t[k] == ':' && t[k + 1] == '/' && t[k + 2] == '/')
		return (int)(k + 3);
	return 0;
}

#define MAX_URL_LENGTH 4096

/* A URL starting at a[i]: its length, 0 for none; *skip gets how far a
 * match that does not count as a URL reaches (nothing else starts inside). */
static size_t url_at(const cx_codepoints *a, size_t i, size_t *skip)
{
	const uint32_t *t = a->cp + i;
	size_t n = a->n - i, proto, host, end;
	uint32_t before = i > 0 ? a->cp[i - 1] : 0;

	*skip = 0;
	if (i > 0 && (is_ascii_alnum(before) || before == '@' || before == 0xFF20 ||
	    before == '$' || before == '#' || before == 0xFF03 || is_invalid_char(before)))
		return 0;
	proto = (size_t)protocol_at(t, n);
	host = host_end(t + proto, n - proto, !proto);
	if (!host)
		return 0;
	end = proto + host;
	if (end + 1 < n && t[end] == ':' && t[end + 1] >= '0' && t[end + 1] <= '9') {
		size_t k = end + 1;

		while (k < n && t[k] >= '0' && t[k] <= '9')
			k++;
		if (proto || (k < n && t[k] == '/'))
			end = k;
	}
	if (end < n && t[end] == '/')
		end += path_end(t + end, n - end);
	if (end < n && t[end] == '?')
		end += query_end(t + end, n - end);
	if ((proto ? 0 : 8) + end > MAX_URL_LENGTH)
		return 0;
	if (!proto && before && strchr("-_./", (int)(before < 0x80 ? before : 'x'))) {
		*skip = end;
		return 0;
	}
	return end;
}

/* --- emoji ---------------------------------------------------------------- */

static int is_regional(uint32_t c)
{
	return c >= 0x1F1E6 && c <= 0x1F1FF;
}

static int is_skin_tone(uint32_t c)
{
	return c >= 0x1F3FB && c <= 0x1F3FF;
}

/* Code points shown as emoji without a variation selector. */
static int is_pictographic(uint32_t c)
{
	return (c >= 0x1F000 && c <= 0x1FAFF) || (c >= 0x231A && c <= 0x231B) ||
	    (c >= 0x23E9 && c <= 0x23F3) || (c >= 0x23F8 && c <= 0x23FA) ||
	    (c >= 0x25FD && c <= 0x25FE) || (c >= 0x2600 && c <= 0x27BF) ||
	    (c >= 0x2B1B && c <= 0x2B1C) || c == 0x2B50 || c == 0x2B55;
}

/* Code points that are emoji only with U+FE0F after them. */
static int is_text_style(uint32_t c)
{
	return c == 0xA9 || c == 0xAE || c == 0x203C || c == 0x2049 || c == 0x2122 ||
	    c == 0x2139 || (c >= 0x2194 && c <= 0x2199) || (c >= 0x21A9 && c <= 0x21AA) ||
	    c == 0x2328 || c == 0x23CF || c == 0x24C2 || (c >= 0x25AA && c <= 0x25AB) ||
	    c == 0x25B6 || c == 0x25C0 || (c >= 0x25FB && c <= 0x25FC) ||
	    (c >= 0x2934 && c <= 0x2935) || (c >= 0x2B05 && c <= 0x2B07) ||
	    c == 0x3030 || c == 0x303D || c == 0x3297 || c == 0x3299;
}

/* One emoji element at t[0]: base, presentation, modifiers, tags. */
static size_t emoji_element(const uint32_t *t, size_t n)
{
	size_t k;

	if (n == 0)
		return 0;
	if (is_regional(t[0]))
		return n > 1 && is_regional(t[1]) ? 2 : 1;
	if (is_text_style(t[0])) {
		if (n < 2 || t[1] != 0xFE0F)
			return 0;
		k = 2;
	} else if (is_pictographic(t[0])) {
		k = 1;
		if (k < n && t[k] == 0xFE0E)
			return 0;
		if (k < n && t[k] == 0xFE0F)
			k++;
	} else {
		return 0;
	}
	if (k < n && is_skin_tone(t[k]))
		k++;
	if (k < n && t[k] >= 0xE0020 && t[k] <= 0xE007E) {
		while (k < n && t[k] >= 0xE0020 && t[k] <= 0xE007E)
			k++;
		if (k < n && t[k] == 0xE007F)
			k++;
	}
	return k;
}

/* The length of the emoji sequence at t[0], or 0. */
static size_t emoji_at(const uint32_t *t, size_t n)
{
	size_t k;

	if ((t[0] == '#' || t[0] == '*' || (t[0] >= '0' && t[0] <= '9')) && n > 1) {
		k = t[1] == 0xFE0F ? 2 : 1;
		return k < n && t[k] == 0x20E3 ? k + 1 : 0;
	}
	k = emoji_element(t, n);
	if (!k)
		return 0;
	while (k + 1 < n && t[k] == 0x200D) {
		size_t more = emoji_element(t + k + 1, n - k - 1);

		if (!more)
			break;
		k += 1 + more;
	}
	return k;
}

/* --- weighted length ------------------------------------------------------ */

static int char_weight(uint32_t c)
{
	if (c <= 4351 || (c >= 8192 && c <= 8205) || (c >= 8208 && c <= 8223) ||
	    (c >= 8242 && c <= 8247))
		return 100;
	return 200;
}

void cx_xtext_parse(const char *s, size_t len, cx_xtext_info *out)
{
	cx_codepoints a = { 0 };
	long scaled = 0;
	size_t skip_to = 0;

	memset(out, 0, sizeof *out);
	cx_unicode_decode(s, len, &a);
	cx_unicode_compose(&a);
	for (size_t i = 0; i < a.n;) {
		size_t url = 0, skip = 0, emoji;

		if (i >= skip_to) {
			url = url_at(&a, i, &skip);
			if (skip)
				skip_to = i + skip;
		}
		if (url) {
			scaled += CX_XTEXT_URL_LENGTH * 100;
			out->urls++;
			i += url;
			skip_to = i;
		} else if ((emoji = emoji_at(a.cp + i, a.n - i)) > 0) {
			scaled += 200;
			out->emoji++;
			i += emoji;
		} else {
			if (is_invalid_char(a.cp[i]))
				out->invalid_chars++;
			scaled += char_weight(a.cp[i]);
			i++;
		}
	}
	free(a.cp);
	out->weighted = scaled / 100;
	out->valid = out->weighted > 0 && out->weighted <= CX_XTEXT_MAX &&
	    out->invalid_chars == 0;
}
