/* prepare.c: an e-mail item right before it is sent (emailprep.h). In
 * order: the tenant's e-mail is not paused; the From its plan allows
 * (default: CX_EMAIL_DEFAULT_FROM, the tenant's address as Reply-To;
 * others: the tenant's own domain, its last DNS check not failed on
 * premium and advanced); suppressed recipients dropped; the request for
 * the plan's provider with the tenant's settings; last, the admission
 * (daily quota, rate limits per recipient domain and recipient, the
 * message's row), so nothing is taken for a message that cannot go. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "domaincheck.h"
#include "emaildomains.h"
#include "emailmsg.h"
#include "emailprep.h"
#include "emailsend.h"
#include "exit.h"
#include "json.h"
#include "suppressions.h"
#include "tenants.h"
#include "url.h"
#include "xalloc.h"

typedef struct {
	cx_store *s;
	jv item;
	cx_tenant t;
	cx_email_msg m;
	const char *provider;
	char **rcpt;                /* lower-case addr-specs, NULL-terminated */
	size_t nrcpt;
	jv suppressed;
	cx_channel_gate *gate;
} prep;

/* -1 with the code and err (CX_EXIT_DATAERR unless given): never. */
static int never(prep *p, const char *code, int exit, cx_err *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int never(prep *p, const char *code, int exit, cx_err *err, const char *fmt, ...)
{
	char msg[sizeof err->msg];
	va_list ap;

	/* the arguments may be err->msg itself */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	p->gate->code = code;
	err->code = exit ? exit : CX_EXIT_DATAERR;
	memcpy(err->msg, msg, sizeof msg);
	return -1;
}

/* --- settings ------------------------------------------------------------- */

/* A setting the plan's provider cannot go without. */
static int required(prep *p, const char *name, char **out, cx_err *err)
{
	if (cx_secret_for_tenant(name, p->t.name, out, err) < 0)
		return never(p, "NOT_CONFIGURED", CX_EXIT_CONFIG, err, "%s", err->msg);
	if (!*out)
		return never(p, "NOT_CONFIGURED", CX_EXIT_TEMPFAIL, err,
		    "%s is not set (the %s plan sends through %s)", name, p->t.email_plan,
		    p->provider);
	return 0;
}

/* --- the From rules ----------------------------------------------------------- */

/* The message of the item with the From and Reply-To its plan gives. */
static int plan_from(prep *p, jv *msg, cx_err *err)
{
	char *def = NULL;

	if (strcmp(p->t.email_plan, "default") == 0) {
		if (required(p, "CX_EMAIL_DEFAULT_FROM", &def, err) < 0)
			return -1;
		*msg = jv_object_set(*msg, jv_string("from"), jv_string(def));
		if (!cx_json_str(*msg, "reply_to") && p->t.email_from)
			*msg = jv_object_set(*msg, jv_string("reply_to"),
			    jv_string(p->t.email_from));
		cx_secret_free(def);
		return 0;
	}
	if (!p->t.email_from)
		return never(p, "FORBIDDEN", 0, err, "tenant %s has no --email-from: the %s "
		    "plan sends from the tenant's own domain", p->t.name, p->t.email_plan);
	if (!cx_json_str(*msg, "from"))
		*msg = jv_object_set(*msg, jv_string("from"), jv_string(p->t.email_from));
	return 0;
}

/* Whether domain is the tenant's or below it. */
static int own_domain(const char *domain, const char *tenant_domain)
{
	size_t n = strlen(domain), k = strlen(tenant_domain);

	return strcmp(domain, tenant_domain) == 0 ||
	    (n > k && domain[n - k - 1] == '.' && strcmp(domain + n - k, tenant_domain) == 0);
}

/* On the plans that send from the tenant's domain: the From is in it, and
 * (premium, advanced) the domain's last DNS check did not fail. */
static int check_from(prep *p, cx_err *err)
{
	cx_email_addr own;
	int checked = 0, ok = 1, rc = 0;
	int64_t at = 0;

	if (strcmp(p->t.email_plan, "default") == 0)
		return 0;
	memset(&own, 0, sizeof own);
	if (cx_email_addr_parse(p->t.email_from, &own, err) < 0)
		return never(p, "FORBIDDEN", 0, err, "tenant %s's --email-from is not an "
		    "address: %s", p->t.name, err->msg);
	if (!own_domain(p->m.from.domain_ascii, own.domain_ascii))
		rc = never(p, "FORBIDDEN", 0, err, "From %s@%s is outside tenant %s's domain %s",
		    p->m.from.local, p->m.from.domain_ascii, p->t.name, own.domain_ascii);
	else if ((strcmp(p->t.email_plan, "premium") == 0 ||
	    strcmp(p->t.email_plan, "advanced") == 0) &&
	    cx_email_domains_status(p->s, own.domain_ascii, &checked, &ok, &at, err) < 0)
		rc = never(p, "UNAVAILABLE", CX_EXIT_TEMPFAIL, err, "%s", err->msg);
	else if (checked && !ok)
		rc = never(p, "DOMAIN_NOT_AUTHENTICATED", 0, err, "%s failed its last DNS check "
		    "(cx email check-domain %s)", own.domain_ascii, own.domain_ascii);
	cx_email_addr_free(&own);
	return rc;
}

/* --- recipients ------------------------------------------------------------- */

static void add_rcpt(prep *p, const cx_email_addr *a)
{
	char *spec = cx_email_addr_spec(a);

	for (char *c = spec; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	for (size_t i = 0; i < p->nrcpt; i++)
		if (strcmp(p->rcpt[i], spec) == 0) {
			free(spec);
			return;
		}
	p->rcpt = cx_xrealloc(p->rcpt, (p->nrcpt + 2) * sizeof *p->rcpt);
	p->rcpt[p->nrcpt++] = spec;
	p->rcpt[p->nrcpt] = NULL;
}

/* Drops the suppressed addresses of list (n of them) and keeps the others. */
static int filter(prep *p, cx_email_addr *list, size_t *n, cx_err *err)
{
	size_t kept = 0;

	for (size_t i = 0; i < *n; i++) {
		char *spec = cx_email_addr_spec(&list[i]), *why = NULL;
		int rc;

		for (char *c = spec; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		rc = cx_suppressions_check(p->s, p->t.name,
		    strcmp(p->t.email_plan, "default") == 0, spec, &why, err);
		free(why);
		if (rc < 0) {
			free(spec);
			return never(p, "UNAVAILABLE", CX_EXIT_TEMPFAIL, err, "%s", err->msg);
		}
		if (rc == 1) {
			p->suppressed = jv_array_append(p->suppressed, jv_string(spec));
			cx_email_addr_free(&list[i]);
		} else {
			list[kept++] = list[i];
			add_rcpt(p, &list[i]);
		}
		free(spec);
	}
	*n = kept;
	return 0;
}

static int recipients(prep *p, cx_err *err)
{
	p->suppressed = jv_array();
	if (filter(p, p->m.to, &p->m.nto, err) < 0 || filter(p, p->m.cc, &p->m.ncc, err) < 0 ||
	    filter(p, p->m.bcc, &p->m.nbcc, err) < 0)
		return -1;
	if (p->nrcpt == 0)
		return never(p, "SUPPRESSED", 0, err, "every recipient is on the suppression list");
	return 0;
}

/* --- the message's ids ---------------------------------------------------- */

/* The same for every try of an item: cx.<q|c><id>.<16 hex>@<From domain>. */
static char *message_id(const char *ref, const char *cid, const char *domain)
{
	char *seed = cx_xasprintf("%s\n%s", ref, cid);
	char hex[2 * CX_SHA256_LEN + 1];

	cx_crypto_sha256_hex(seed, strlen(seed), hex);
	free(seed);
	hex[16] = '\0';
	return cx_xasprintf("cx.%c%s.%s@%s", ref[0], strchr(ref, ':') + 1, hex, domain);
}

static void fill_ids(prep *p)
{
	const char *cid = cx_json_str(p->item, "correlation_id");

	p->m.tenant = cx_xstrdup(p->t.name);
	p->m.item = cx_channel_item_ref(p->item);
	p->m.correlation_id = cx_xstrdup(cid ? cid : "");
	p->m.message_id = message_id(p->m.item, p->m.correlation_id, p->m.from.domain_ascii);
	p->m.date = cx_clock_now();
}

/* --- requests --------------------------------------------------------------- */

static char *endpoint(const char *base, const char *path)
{
	char *b = cx_url_base(base), *url = cx_xasprintf("%s%s", b, path);

	free(b);
	return url;
}

static int ses_call(prep *p, cx_channel_call *call, cx_err *err)
{
	char *region = NULL, *base = NULL, *set = NULL, *def_base;
	int rc = -1;

	if (cx_secret_for_tenant("CX_SES_REGION", p->t.name, &region, err) < 0 ||
	    cx_secret_for_tenant("CX_SES_API_BASE", p->t.name, &base, err) < 0 ||
	    cx_secret_for_tenant("CX_SES_CONFIGURATION_SET", p->t.name, &set, err) < 0)
		goto out;
	if (required(p, "CX_AWS_ACCESS_KEY_ID", &call->user, err) < 0 ||
	    required(p, "CX_AWS_SECRET_ACCESS_KEY", &call->password, err) < 0)
		goto out;
	def_base = cx_xasprintf("https://email.%s.amazonaws.com", region ? region : "us-east-1");
	call->url = endpoint(base ? base : def_base, "/v2/email/outbound-emails");
	free(def_base);
	call->aws_sigv4 = cx_xasprintf("aws:amz:%s:ses", region ? region : "us-east-1");
	if (!(call->body = cx_email_ses_body(&p->m, set, err)))
		goto out;
	rc = 0;
out:
	cx_secret_free(region);
	cx_secret_free(base);
	cx_secret_free(set);
	return rc;
}

static int sendgrid_call(prep *p, cx_channel_call *call, cx_err *err)
{
	char *key = NULL, *base = NULL;
	int rc = -1;

	if (cx_secret_for_tenant("CX_SENDGRID_API_BASE", p->t.name, &base, err) < 0 ||
	    required(p, "CX_SENDGRID_API_KEY", &key, err) < 0)
		goto out;
	call->url = endpoint(base ? base : "https://api.sendgrid.com", "/v3/mail/send");
	call->headers = cx_xcalloc(2, sizeof *call->headers);
	call->headers[0] = cx_xasprintf("Authorization: Bearer %s", key);
	if (!(call->body = cx_email_sendgrid_body(&p->m, err)))
		goto out;
	rc = 0;
out:
	cx_secret_free(key);
	cx_secret_free(base);
	return rc;
}

static int mailgun_call(prep *p, cx_channel_call *call, cx_err *err)
{
	char *domain = NULL, *base = NULL, *path;
	int rc = -1;

	if (cx_secret_for_tenant("CX_MAILGUN_API_BASE", p->t.name, &base, err) < 0 ||
	    required(p, "CX_MAILGUN_DOMAIN", &domain, err) < 0 ||
	    required(p, "CX_MAILGUN_API_KEY", &call->password, err) < 0)
		goto out;
	path = cx_xasprintf("/v3/%s/messages", domain);
	call->url = endpoint(base ? base : "https://api.mailgun.net", path);
	free(path);
	call->user = cx_xstrdup("api");
	rc = cx_email_mailgun_form(&p->m, &call->body, &call->body_len, &call->content_type, err);
out:
	cx_secret_free(domain);
	cx_secret_free(base);
	return rc;
}

/* A loopback host of an smtp(s) URL: where CX_SMTP_TLS=none may go. */
static int loopback(const char *url)
{
	const char *h = strstr(url, "://");
	static const char *const hosts[] = { "127.", "localhost:", "localhost/", "[::1]" };

	h = h ? h + 3 : url;
	if (strcmp(h, "localhost") == 0)
		return 1;
	for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++)
		if (strncmp(h, hosts[i], strlen(hosts[i])) == 0)
			return 1;
	return 0;
}

static int smtp_transport(prep *p, cx_channel_call *call, cx_err *err)
{
	char *tls = NULL;
	int smtps = strncmp(call->url, "smtps://", 8) == 0, rc = 0;

	if (!smtps && strncmp(call->url, "smtp://", 7) != 0)
		return never(p, "NOT_CONFIGURED", CX_EXIT_CONFIG, err,
		    "CX_SMTP_URL must be smtp://HOST:PORT or smtps://HOST:PORT");
	if (cx_secret_for_tenant("CX_SMTP_TLS", p->t.name, &tls, err) < 0)
		return never(p, "NOT_CONFIGURED", CX_EXIT_CONFIG, err, "%s", err->msg);
	if (tls && strcmp(tls, "required") != 0 && strcmp(tls, "none") != 0)
		rc = never(p, "NOT_CONFIGURED", CX_EXIT_CONFIG, err,
		    "CX_SMTP_TLS must be required or none");
	else if (tls && strcmp(tls, "none") == 0 && !smtps && !loopback(call->url))
		rc = never(p, "NOT_CONFIGURED", CX_EXIT_CONFIG, err,
		    "CX_SMTP_TLS=none is only for a loopback host");
	else
		call->mail_starttls = !smtps && !(tls && strcmp(tls, "none") == 0);
	cx_secret_free(tls);
	return rc;
}

static int smtp_call(prep *p, cx_channel_call *call, cx_err *err)
{
	if (required(p, "CX_SMTP_URL", &call->url, err) < 0 || smtp_transport(p, call, err) < 0 ||
	    cx_secret_for_tenant("CX_SMTP_USER", p->t.name, &call->user, err) < 0 ||
	    cx_secret_for_tenant("CX_SMTP_PASSWORD", p->t.name, &call->password, err) < 0)
		return -1;
	call->mail_from = cx_email_addr_spec(&p->m.from);
	call->mail_rcpt = cx_xcalloc(p->nrcpt + 1, sizeof *call->mail_rcpt);
	for (size_t i = 0; i < p->nrcpt; i++)
		call->mail_rcpt[i] = cx_xstrdup(p->rcpt[i]);
	return cx_email_mime(&p->m, &call->body, &call->body_len, err);
}

static int make_call(prep *p, cx_channel_call *call, cx_err *err)
{
	static const struct {
		const char *provider;
		int (*make)(prep *p, cx_channel_call *call, cx_err *err);
	} makers[] = {
		{ "ses", ses_call }, { "sendgrid", sendgrid_call }, { "mailgun", mailgun_call },
		{ "smtp", smtp_call },
	};

	for (size_t i = 0; i < sizeof makers / sizeof makers[0]; i++)
		if (strcmp(p->provider, makers[i].provider) == 0) {
			if (makers[i].make(p, call, err) == 0)
				return 0;
			if (!p->gate->code)
				p->gate->code = "VALIDATION_FAILED";
			return -1;
		}
	return never(p, "NOT_CONFIGURED", CX_EXIT_CONFIG, err, "no provider for plan %s",
	    p->t.email_plan);
}

/* --- admission -------------------------------------------------------------- */

static int rate(const char *name, const char *def, cx_ratelimit *out, cx_err *err)
{
	cx_err e;

	if (cx_ratelimit_parse(cx_config_get(name, def), out, &e) < 0)
		return cx_err_set(err, CX_EXIT_CONFIG, "%s: %s", name, e.msg);
	return 0;
}

static int admit(prep *p, cx_err *err)
{
	cx_email_admission a = {
		.tenant = p->t.name, .message_id = p->m.message_id, .provider = p->provider,
		.item = p->m.item, .correlation_id = p->m.correlation_id,
		.template_id = p->m.template_id, .template_version = p->m.template_version,
		.recipients = (const char *const *)p->rcpt, .quota = p->t.email_daily_quota,
	};
	cx_email_verdict v;
	int64_t until = 0;

	if (rate("CX_EMAIL_RATE_DOMAIN", "10", &a.per_domain, err) < 0 ||
	    rate("CX_EMAIL_RATE_RECIPIENT", "1/60", &a.per_recipient, err) < 0)
		return never(p, "NOT_CONFIGURED", CX_EXIT_CONFIG, err, "%s", err->msg);
	if (cx_email_admit(p->s, &a, &v, &until, err) < 0)
		return never(p, "UNAVAILABLE", CX_EXIT_TEMPFAIL, err, "%s", err->msg);
	p->gate->until = until;
	if (v == CX_EMAIL_OVER_QUOTA) {
		p->gate->code = "QUOTA_EXCEEDED";
		cx_err_set(err, CX_EXIT_TEMPFAIL, "tenant %s's daily quota of %lld messages is "
		    "used up; next attempt at the next UTC day", p->t.name,
		    (long long)p->t.email_daily_quota);
		return 1;
	}
	if (v == CX_EMAIL_RATE_LIMITED) {
		p->gate->code = "RATE_LIMITED";
		cx_err_set(err, CX_EXIT_TEMPFAIL, "a recipient's or its domain's rate limit is "
		    "used up (CX_EMAIL_RATE_RECIPIENT, CX_EMAIL_RATE_DOMAIN)");
		return 1;
	}
	return 0;
}

/* --- prepare ------------------------------------------------------------------ */

static jv call_data(const prep *p)
{
	jv d = jv_object_set(jv_object(), jv_string("provider"), jv_string(p->provider));

	d = jv_object_set(d, jv_string("message_id"), jv_string(p->m.message_id));
	if (p->m.template_id) {
		jv t = jv_object_set(jv_object(), jv_string("id"), jv_string(p->m.template_id));

		if (p->m.template_version)
			t = jv_object_set(t, jv_string("version"), jv_string(p->m.template_version));
		d = jv_object_set(d, jv_string("template"), t);
	}
	if (jv_array_length(jv_copy(p->suppressed)) > 0)
		d = jv_object_set(d, jv_string("suppressed"), jv_copy(p->suppressed));
	if (strcmp(p->provider, "smtp") == 0)
		d = jv_object_set(d, jv_string("risk"), jv_string("expert"));
	return d;
}

static int run(prep *p, cx_channel_call *call, cx_err *err)
{
	const char *path = NULL;
	jv msg;
	int rc;

	p->provider = cx_email_plan_provider(p->t.email_plan);
	if (!p->provider)
		return never(p, "NOT_CONFIGURED", CX_EXIT_CONFIG, err, "no provider for plan %s",
		    p->t.email_plan);
	msg = cx_email_item_message(p->item);
	if (plan_from(p, &msg, err) < 0) {
		jv_free(msg);
		return -1;
	}
	rc = cx_email_msg_from_json(msg, &p->m, &path, err);
	jv_free(msg);
	if (rc < 0)
		return never(p, "VALIDATION_FAILED", 0, err, "%s%s%s", err->msg,
		    path ? " at " : "", path ? path : "");
	if (check_from(p, err) < 0 || recipients(p, err) < 0)
		return -1;
	fill_ids(p);
	if (make_call(p, call, err) < 0)
		return -1;
	call->data = call_data(p);
	return admit(p, err);
}

int cx_email_prepare(cx_store *s, jv item, cx_channel_call *call, cx_channel_gate *gate,
    cx_err *err)
{
	prep p;
	int rc;

	memset(&p, 0, sizeof p);
	p.s = s;
	p.item = item;
	p.gate = gate;
	p.suppressed = jv_invalid();
	if (cx_tenants_get(s, cx_json_str(item, "tenant") ? cx_json_str(item, "tenant") :
	    "default", &p.t, err) < 0) {
		gate->code = "UNAVAILABLE";
		err->code = CX_EXIT_TEMPFAIL;
		return -1;
	}
	rc = run(&p, call, err);
	cx_tenant_free(&p.t);
	cx_email_msg_free(&p.m);
	for (size_t i = 0; i < p.nrcpt; i++)
		free(p.rcpt[i]);
	free(p.rcpt);
	jv_free(p.suppressed);
	return rc;
}
