/* emaildomains.h: the last DNS check of each sending domain
 * (`cx email check-domain`); a premium or advanced tenant whose From domain
 * failed its last check cannot send (DOMAIN_NOT_AUTHENTICATED). */
#ifndef CX_EMAILDOMAINS_H
#define CX_EMAILDOMAINS_H

#include <stdint.h>

#include <jv.h>

#include "err.h"
#include "store.h"

/* Records a check of domain (lower case) for provider; report (consumed)
 * an array of {record, name, status ok|missing|weak, detail}. */
int cx_email_domains_record(cx_store *s, const char *domain, const char *provider,
    int ok, jv report, cx_err *err);
/* *checked 0 when domain was never checked; else *ok and *at of the last. */
int cx_email_domains_status(cx_store *s, const char *domain, int *checked, int *ok,
    int64_t *at, cx_err *err);

#endif
