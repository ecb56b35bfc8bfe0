/* domaincheck.c: the e-mail providers' DNS baseline and its check. The
 * rules: SPF (RFC 7208) names the provider and ends in -all or ~all; DMARC
 * (RFC 7489) asks for quarantine or reject; each DKIM selector (RFC 6376)
 * holds a key, as a TXT record or a CNAME to the provider's host. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "domaincheck.h"
#include "exit.h"
#include "json.h"
#include "xalloc.h"

typedef struct {
	const char *name, *plan;
	const char *spf_include;     /* NULL: any SPF ending -all or ~all */
	const char *dkim_selectors;  /* the defaults, a comma list; NULL: none */
	int dkim_any;                /* one of the defaults holding a key is enough */
	const char *dkim_host;       /* a DKIM CNAME must point into it (NULL: anywhere) */
} provider;

static const provider providers[] = {
	{ "ses", "default", "include:amazonses.com", NULL, 0, "amazonses.com" },
	{ "sendgrid", "premium", "include:sendgrid.net", "s1,s2", 0, "sendgrid.net" },
	{ "mailgun", "advanced", "include:mailgun.org", "mx,k1,smtp,pic,pdk1,pdk2", 1,
	    "mailgun.com" },
	{ "smtp", "expert", NULL, "default", 0, NULL },
};
#define NPROVIDERS (sizeof providers / sizeof *providers)

typedef enum { ST_MISSING, ST_WEAK, ST_OK } status;
static const char *const status_names[] = { "missing", "weak", "ok" };

static const provider *find(const char *name)
{
	for (size_t i = 0; name && i < NPROVIDERS; i++)
		if (strcmp(name, providers[i].name) == 0)
			return &providers[i];
	return NULL;
}

const char *cx_email_plan_provider(const char *plan)
{
	for (size_t i = 0; plan && i < NPROVIDERS; i++)
		if (strcmp(plan, providers[i].plan) == 0)
			return providers[i].name;
	return NULL;
}

int cx_email_provider_known(const char *provider)
{
	return find(provider) != NULL;
}

/* Whether s is dot-separated labels of [A-Za-z0-9-] (extra: more bytes a
 * label may hold), each 1 to 63 long, not starting or ending with '-'. */
static int dns_labels(const char *s, const char *extra)
{
	size_t n = strlen(s), len;

	if (n == 0 || n > 253)
		return 0;
	for (const char *p = s; ; p += len + 1) {
		len = strcspn(p, ".");
		if (len == 0 || len > 63 || p[0] == '-' || p[len - 1] == '-')
			return 0;
		for (size_t i = 0; i < len; i++)
			if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789-", p[i]) && !(extra && strchr(extra, p[i])))
				return 0;
		if (!p[len])
			return 1;
	}
}

char *cx_email_domain_normalize(const char *domain, cx_err *err)
{
	char *out;
	size_t n = strlen(domain);

	if (n > 1 && domain[n - 1] == '.')
		n--;
	out = cx_xstrndup(domain, n);
	if (!dns_labels(out, NULL)) {
		cx_err_set(err, CX_EXIT_USAGE, "'%s' is not a domain name (letters, digits, "
		    "hyphens and dots; an IDN as xn--)", domain);
		free(out);
		return NULL;
	}
	for (char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return out;
}

static jv row(const char *record, const char *name, status st, const char *detail)
{
	jv r = jv_object_set(jv_object(), jv_string("record"), jv_string(record));

	r = jv_object_set(r, jv_string("name"), jv_string(name));
	r = jv_object_set(r, jv_string("status"), jv_string(status_names[st]));
	return jv_object_set(r, jv_string("detail"), jv_string(detail));
}

/* Whether record starts with the version tag tag (case-insensitive),
 * followed by end, a space or (sep) a ';'. */
static int has_version(const char *record, const char *tag, int sep)
{
	size_t n = strlen(tag);

	while (sep && (*record == ' ' || *record == '\t'))
		record++;
	return strncasecmp(record, tag, n) == 0 && (record[n] == '\0' ||
	    record[n] == ' ' || (sep && (record[n] == ';' || record[n] == '\t')));
}

/* The TXT records of name starting with tag: *found a new array. */
static int txt_with(cx_dns *dns, const char *name, const char *tag, int sep,
    jv *found, cx_err *err)
{
	jv all;

	*found = jv_array();
	if (cx_dns_txt(dns, name, &all, err) < 0) {
		jv_free(all);
		return -1;
	}
	jv_array_foreach(all, i, t) {
		if (has_version(jv_string_value(t), tag, sep))
			*found = jv_array_append(*found, t);
		else
			jv_free(t);
		(void)i;
	}
	jv_free(all);
	return 0;
}

/* The verdict on one SPF record; *detail a new string saying why. */
static status spf_verdict(const char *record, const provider *p, char **detail)
{
	char *copy = cx_xstrdup(record), *save = NULL;
	int include = p->spf_include == NULL, redirect = 0;
	char all = 0;

	for (char *t = strtok_r(copy, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		const char *term = strchr("+-~?", *t) ? t + 1 : t;

		if (p->spf_include && strcasecmp(t, p->spf_include) == 0)
			include = 1;
		else if (strcasecmp(term, "all") == 0)
			all = term == t ? '+' : *t;
		else if (strncasecmp(t, "redirect=", 9) == 0)
			redirect = 1;
	}
	free(copy);
	if (all == '+' || all == '?')
		*detail = cx_xasprintf("ends with %call: mail from any server %s: %s", all,
		    all == '+' ? "passes" : "is neutral", record);
	else if (!all && !redirect)
		*detail = cx_xasprintf("no -all or ~all: mail from other servers is "
		    "neutral: %s", record);
	else if (!include)
		*detail = cx_xasprintf("no %s: %s", p->spf_include, record);
	else
		*detail = cx_xstrdup(record);
	return include && (all == '-' || all == '~' || (!all && redirect)) ? ST_OK : ST_WEAK;
}

/* The one record of found (else a row saying there are none or too many):
 * 1 with *rec, or 0 after appending that row. */
static int one_record(jv found, const char *record, const char *name, const char *none,
    jv *report, jv *rec)
{
	int n = jv_array_length(jv_copy(found));

	if (n == 1) {
		*rec = jv_array_get(jv_copy(found), 0);
		return 1;
	}
	*report = jv_array_append(*report, n == 0 ? row(record, name, ST_MISSING, none) :
	    row(record, name, ST_WEAK, "more than one record: receivers apply none of them"));
	return 0;
}

static int check_spf(cx_dns *dns, const char *domain, const provider *p, jv *report,
    cx_err *err)
{
	char *detail;
	jv found, rec;
	status st;

	if (txt_with(dns, domain, "v=spf1", 0, &found, err) < 0) {
		jv_free(found);
		return -1;
	}
	if (one_record(found, "spf", domain, "no TXT record starting v=spf1", report, &rec)) {
		st = spf_verdict(jv_string_value(rec), p, &detail);
		*report = jv_array_append(*report, row("spf", domain, st, detail));
		free(detail);
		jv_free(rec);
	}
	jv_free(found);
	return 0;
}

/* s[0..n) without spaces and tabs: a new string. */
static char *without_spaces(const char *s, size_t n)
{
	char *out = cx_xmalloc(n + 1), *w = out;

	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			*w++ = s[i];
	*w = '\0';
	return out;
}

/* The value of tag in a "tag=value; ..." list (RFC 6376 3.2, RFC 7489
 * 6.4) without its spaces: a new string, or NULL when the tag is absent. */
static char *tag_value(const char *record, const char *tag)
{
	for (const char *p = record; *p; ) {
		const char *end = p + strcspn(p, ";"), *q = p + strspn(p, " \t"), *eq;
		size_t name = strcspn(q, " \t=;");

		eq = q + name + strspn(q + name, " \t");
		if (*eq == '=' && name == strlen(tag) && strncasecmp(q, tag, name) == 0)
			return without_spaces(eq + 1, (size_t)(end - eq - 1));
		p = *end ? end + 1 : end;
	}
	return NULL;
}

static int check_dmarc(cx_dns *dns, const char *domain, jv *report, cx_err *err)
{
	char *name = cx_xasprintf("_dmarc.%s", domain), *policy, *detail;
	const char *text;
	jv found, rec;
	status st;

	if (txt_with(dns, name, "v=DMARC1", 1, &found, err) < 0) {
		jv_free(found);
		free(name);
		return -1;
	}
	if (one_record(found, "dmarc", name, "no TXT record starting v=DMARC1", report, &rec)) {
		text = jv_string_value(rec);
		policy = tag_value(text, "p");
		st = policy && (strcasecmp(policy, "quarantine") == 0 ||
		    strcasecmp(policy, "reject") == 0) ? ST_OK : ST_WEAK;
		if (st == ST_OK)
			detail = cx_xstrdup(text);
		else if (policy && strcasecmp(policy, "none") == 0)
			detail = cx_xasprintf("p=none: receivers only report, they neither "
			    "quarantine nor reject: %s", text);
		else
			detail = cx_xasprintf("no p=quarantine or p=reject: %s", text);
		*report = jv_array_append(*report, row("dmarc", name, st, detail));
		free(detail);
		free(policy);
		jv_free(rec);
	}
	jv_free(found);
	free(name);
	return 0;
}

/* Whether host is domain or inside it. */
static int host_within(const char *host, const char *domain)
{
	size_t h = strlen(host), d = strlen(domain);

	return strcasecmp(host, domain) == 0 ||
	    (h > d && host[h - d - 1] == '.' && strcasecmp(host + h - d, domain) == 0);
}

/* The verdict on the TXT records of a selector; *detail a new string. */
static status dkim_txt(jv txt, char **detail)
{
	status st = ST_MISSING;

	*detail = NULL;
	jv_array_foreach(txt, i, t) {
		char *key = tag_value(jv_string_value(t), "p");

		if (key && *key) {
			free(*detail);
			*detail = cx_xasprintf("TXT record with a public key (%zu characters)",
			    strlen(key));
			st = ST_OK;
		} else if (st == ST_MISSING) {
			*detail = cx_xstrdup(key ? "the key is revoked (empty p=)" :
			    "a TXT record that is not a DKIM key (no p=)");
			st = ST_WEAK;
		}
		free(key);
		jv_free(t);
		if (st == ST_OK)
			break;
		(void)i;
	}
	if (!*detail)
		*detail = cx_xstrdup("no CNAME or TXT record");
	return st;
}

/* The verdict on selector record name: a status, or -1 with err. */
static int dkim_selector(cx_dns *dns, const char *name, const provider *p, char **detail,
    cx_err *err)
{
	char *target;
	jv txt;
	int st;

	*detail = NULL;
	if (cx_dns_cname(dns, name, &target, err) < 0)
		return -1;
	if (target) {
		st = !p->dkim_host || host_within(target, p->dkim_host) ? ST_OK : ST_WEAK;
		*detail = st == ST_OK ? cx_xasprintf("CNAME to %s", target) :
		    cx_xasprintf("CNAME to %s, outside %s", target, p->dkim_host);
		free(target);
		return st;
	}
	if (cx_dns_txt(dns, name, &txt, err) < 0) {
		jv_free(txt);
		return -1;
	}
	st = (int)dkim_txt(txt, detail);
	jv_free(txt);
	return st;
}

/* The row of a check without selectors (SES without CX_DKIM_SELECTORS). */
static int no_selectors(const char *domain, jv *report)
{
	char *name = cx_xasprintf("_domainkey.%s", domain);

	*report = jv_array_append(*report, row("dkim", name, ST_MISSING, "no selector to "
	    "look up: name the DKIM selectors (SES: the three Easy DKIM tokens) in "
	    "CX_DKIM_SELECTORS"));
	free(name);
	return 0;
}

/* The selectors of a comma list (empty items skipped): *out a new array of
 * strings. -1 with err (CX_EXIT_CONFIG) when one is not a DNS name. */
static int split_selectors(const char *list, jv *out, cx_err *err)
{
	*out = jv_array();
	for (const char *p = list; p && *p; ) {
		size_t len = strcspn(p, ",");
		char *sel = without_spaces(p, len);

		if (*sel && (!dns_labels(sel, "_") ||
		    jv_array_length(jv_copy(*out)) == CX_DKIM_MAX_SELECTORS)) {
			cx_err_set(err, CX_EXIT_CONFIG, "CX_DKIM_SELECTORS is a comma list of "
			    "at most %d DKIM selectors (DNS labels); '%s' is not one",
			    CX_DKIM_MAX_SELECTORS, sel);
			free(sel);
			return -1;
		}
		if (*sel)
			*out = jv_array_append(*out, jv_string(sel));
		free(sel);
		p += len + (p[len] == ',');
	}
	return 0;
}

/* One row per selector, or (any) one row for the best of them. */
static int check_dkim(cx_dns *dns, const char *domain, const provider *p, jv selectors,
    int any, jv *report, cx_err *err)
{
	jv best = jv_invalid();
	int best_st = -1, st = 0;

	jv_array_foreach(selectors, i, sel) {
		char *name = cx_xasprintf("%s._domainkey.%s", jv_string_value(sel), domain);
		char *detail = NULL;

		jv_free(sel);
		st = dkim_selector(dns, name, p, &detail, err);
		if (st >= 0 && !any)
			*report = jv_array_append(*report, row("dkim", name, (status)st, detail));
		else if (st >= 0 && st > best_st) {
			jv_free(best);
			best = row("dkim", name, (status)st, detail);
			best_st = st;
		}
		free(detail);
		free(name);
		if (st < 0)
			break;
		(void)i;
	}
	if (st >= 0 && any && best_st == ST_MISSING) {
		char *detail = cx_xasprintf("none of the selectors %s has a record",
		    p->dkim_selectors);

		best = jv_object_set(best, jv_string("detail"), jv_string(detail));
		free(detail);
	}
	if (st >= 0 && any)
		*report = jv_array_append(*report, best);
	else
		jv_free(best);
	return st < 0 ? -1 : 0;
}

int cx_email_domain_check(cx_dns *dns, const char *domain, const char *provider_name,
    const char *selectors, jv *report, int *ok, cx_err *err)
{
	const provider *p = find(provider_name);
	const char *list = selectors ? selectors : p ? p->dkim_selectors : NULL;
	jv sels;
	int rc;

	*report = jv_array();
	*ok = 0;
	if (!p)
		return cx_err_set(err, CX_EXIT_USAGE, "'%s' is not an e-mail provider (%s)",
		    provider_name, CX_EMAIL_PROVIDER_NAMES);
	if (split_selectors(list, &sels, err) < 0) {
		jv_free(sels);
		return -1;
	}
	rc = check_spf(dns, domain, p, report, err) < 0 ||
	    check_dmarc(dns, domain, report, err) < 0 ? -1 : 0;
	if (rc == 0 && jv_array_length(jv_copy(sels)) == 0)
		rc = no_selectors(domain, report);
	else if (rc == 0)
		rc = check_dkim(dns, domain, p, sels, !selectors && p->dkim_any, report, err);
	jv_free(sels);
	if (rc < 0)
		return -1;
	*ok = 1;
	jv_array_foreach(*report, i, r) {
		if (strcmp(cx_json_str(r, "status"), "ok") != 0)
			*ok = 0;
		jv_free(r);
		(void)i;
	}
	return 0;
}
