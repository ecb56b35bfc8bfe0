/* emailmsg.h: one e-mail as cx-publish sends it, whatever the provider: the
 * addresses parsed and checked (RFC 5322 addr-spec, IDN domains), the
 * content as given (cx never renders templates), the ids cx carries to the
 * provider so lifecycle events find their item, and the ways a provider
 * takes it: the RFC 5322 message itself (SMTP, SES Raw), a JSON body
 * (SES Simple, SendGrid) or a multipart form (Mailgun).
 *
 * A cx_email_msg owns all its strings; cx_email_msg_free releases them.
 * Strings returned here are new: free them with free(). */
#ifndef CX_EMAILMSG_H
#define CX_EMAILMSG_H

#include <stddef.h>
#include <stdint.h>

#include <jv.h>

#include "err.h"

/* One address. domain is as given (UTF-8), domain_ascii its A-labels
 * (punycode, RFC 5891); both lower case. display may be NULL. */
typedef struct {
	char *display;
	char *local;
	char *domain;
	char *domain_ascii;
} cx_email_addr;

typedef struct {
	char *name, *value;
} cx_email_header;

typedef struct {
	char *filename, *content_type, *path;
} cx_email_attachment;

typedef struct {
	cx_email_addr from;
	cx_email_addr *reply_to;            /* NULL: none */
	cx_email_addr *to, *cc, *bcc;
	size_t nto, ncc, nbcc;
	char *subject;                      /* UTF-8, may be "" */
	char *text, *html;                  /* at least one is set */
	cx_email_header *headers;           /* the item's extra headers */
	size_t nheaders;
	cx_email_attachment *att;
	size_t natt;
	char *template_id, *template_version;   /* carried, never rendered */
	char *message_id;                   /* "local@domain", without <> */
	int64_t date;                       /* epoch seconds, for the Date header
	                                     * (0: the time cx_email_mime runs) */
	/* the ids carried to the provider (SES EmailTags, SendGrid custom_args,
	 * Mailgun v: variables, SMTP X-CX-* headers) */
	char *tenant;                       /* [A-Za-z0-9_-]+ */
	char *item;                         /* "queue:<id>" or "command:<id>" */
	char *correlation_id;
} cx_email_msg;

/* --- addresses (address.c) ------------------------------------------------- */

/* Parses "addr-spec" or "Display Name <addr-spec>" (RFC 5322 3.4: dot-atom
 * or quoted-string local part, a domain of LDH labels or U-labels; no
 * comments, no groups, no CR/LF or controls; local part ≤ 64 octets,
 * address ≤ 254). -1 with err (CX_EXIT_DATAERR, the reason) otherwise. */
int cx_email_addr_parse(const char *in, cx_email_addr *out, cx_err *err);
void cx_email_addr_free(cx_email_addr *a);
/* local@domain_ascii */
char *cx_email_addr_spec(const cx_email_addr *a);
/* An address an operator types (`cx tenants set --email-from`, `cx email
 * suppressions add`), alone, without a display name: 0 with *spec its
 * addr-spec (a new string), or -1 with err (CX_EXIT_USAGE, the reason). */
int cx_email_addr_check(const char *in, char **spec, cx_err *err);
/* For a header field: "Display <local@domain_ascii>", the display name a
 * quoted-string or an RFC 2047 encoded-word when it needs one. */
char *cx_email_addr_header(const cx_email_addr *a);

/* --- the message (message.c, mime.c) ----------------------------------------- */

/* Fills m from an item or command line (not consumed): from, to, cc, bcc,
 * reply_to, subject, text, html, headers, template, attachments (absolute
 * paths of regular files, at most CX_EMAIL_MAX_ATTACHMENT_BYTES together);
 * tenant, item and correlation_id are left for the caller. -1 with err
 * (CX_EXIT_DATAERR) and *path the JSON path of the field at fault. */
int cx_email_msg_from_json(jv item, cx_email_msg *m, const char **path, cx_err *err);
void cx_email_msg_free(cx_email_msg *m);
/* The RFC 5322 message of m, CRLF line endings, with Message-ID, Date,
 * MIME-Version, From, Reply-To, To, Cc (never Bcc), an encoded-word
 * Subject when it is not ASCII, the extra headers, X-CX-Correlation-Id and
 * X-CX-Tenant, and the body: text/plain, text/html or
 * multipart/alternative, inside multipart/mixed with the attachments. */
int cx_email_mime(const cx_email_msg *m, char **out, size_t *len, cx_err *err);
/* An attachment's bytes (at most max): -1 with err when it cannot be read. */
int cx_email_attachment_read(const cx_email_attachment *a, size_t max, char **data,
    size_t *len, cx_err *err);
/* What a message's attachments may weigh together:
 * CX_EMAIL_MAX_ATTACHMENT_BYTES, 10485760 by default. */
int cx_email_attachment_max(int64_t *max, cx_err *err);

/* --- provider request bodies (bodies.c) ------------------------------------ */

/* SESv2 SendEmail: Simple content, or Raw (the message of cx_email_mime)
 * when m has attachments or extra headers; EmailTags cx_tenant, cx_item
 * (":" as "-"), cx_correlation_id; ConfigurationSetName when config_set. */
char *cx_email_ses_body(const cx_email_msg *m, const char *config_set, cx_err *err);
/* SendGrid v3 mail/send, custom_args cx_tenant, cx_item, cx_correlation_id,
 * headers Message-ID and the extra ones. */
char *cx_email_sendgrid_body(const cx_email_msg *m, cx_err *err);
/* Mailgun messages as multipart/form-data: *body (binary, *len bytes) and
 * *content_type ("multipart/form-data; boundary=..."); v:cx_tenant,
 * v:cx_item, v:cx_correlation_id, h:Message-Id and h:<extra headers>. */
int cx_email_mailgun_form(const cx_email_msg *m, char **body, size_t *len,
    char **content_type, cx_err *err);

#endif
