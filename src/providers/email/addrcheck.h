/* addrcheck.h: the check of an address an operator types (`cx tenants set
 * --email-from`, `cx email suppressions add`): a plain RFC 5322 addr-spec,
 * local@domain, with a dot-atom local part and an ASCII domain (an IDN in
 * its xn-- form). The string it returns is new: free() it. */
#ifndef CX_ADDRCHECK_H
#define CX_ADDRCHECK_H

#include "err.h"

/* 0 with *spec the address with its domain in lower case; -1 with err
 * (CX_EXIT_USAGE, the reason) when in is not such an address. */
int cx_email_addr_check(const char *in, char **spec, cx_err *err);

#endif
