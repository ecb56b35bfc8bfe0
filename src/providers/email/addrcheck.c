/* addrcheck.c: an operator's address, checked as a dot-atom addr-spec
 * (RFC 5322 3.2.3 atext, 3.4.1) whose domain is a DNS name. */
#include <stdlib.h>
#include <string.h>

#include "addrcheck.h"
#include "domaincheck.h"
#include "exit.h"
#include "xalloc.h"

#define ATEXT "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" \
	"!#$%&'*+-/=?^_`{|}~"

/* Whether local is a dot-atom of at most 64 octets. */
static int dot_atom(const char *local, size_t n)
{
	if (n == 0 || n > 64 || local[0] == '.' || local[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (local[i] == '.' ? local[i + 1] == '.' : !strchr(ATEXT, local[i]))
			return 0;
	return 1;
}

int cx_email_addr_check(const char *in, char **spec, cx_err *err)
{
	const char *at = strrchr(in, '@');
	size_t n = strlen(in);
	cx_err derr;
	char *domain;

	*spec = NULL;
	if (n > 254 || !at || !dot_atom(in, (size_t)(at - in)) || !strchr(at, '.') ||
	    in[n - 1] == '.')
		return cx_err_set(err, CX_EXIT_USAGE, "'%s' is not an e-mail address "
		    "(local@domain, a dot-atom local part of at most 64 characters)", in);
	if (!(domain = cx_email_domain_normalize(at + 1, &derr)))
		return cx_err_set(err, CX_EXIT_USAGE, "'%s' is not an e-mail address: %s",
		    in, derr.msg);
	*spec = cx_xasprintf("%.*s@%s", (int)(at - in), in, domain);
	free(domain);
	return 0;
}
