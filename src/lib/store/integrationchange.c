/* integrationchange.c: ids, the role check and the audit of a change to an
 * integration or a subscription. */
#include <stdio.h>
#include <stdlib.h>

#include "audit.h"
#include "crypto.h"
#include "exit.h"
#include "integrationchange.h"
#include "metrics.h"
#include "operators.h"

int cx_integration_random_hex(const char *prefix, char *out, size_t cap, cx_err *err)
{
	if (cx_crypto_random_id(prefix, 8, out, cap) < 0)
		return cx_err_set(err, CX_EXIT_TEMPFAIL, "no random bytes for an id");
	return 0;
}

int cx_integration_change_record(cx_store *s, const char *action, const char *change,
    const char *subject, const char *actor, const char *correlation_id, jv detail,
    cx_err *err)
{
	cx_audit_entry e = { .action = action, .actor = actor,
		.correlation_id = correlation_id, .subject = subject, .detail = detail };
	char *labels = cx_metrics_labels("change", change, NULL);
	int rc = cx_audit_append(s, &e, err);

	if (rc == 0)
		rc = cx_metrics_add(s, "cx_integration_changes_total", labels, 1, err);
	free(labels);
	return rc;
}

int cx_integration_change_begin(cx_store *s, const char *actor, const char *what,
    const char *subject, cx_err *err)
{
	return cx_operators_begin_admin(s, actor, "integration_change_denied", what,
	    subject, err);
}

int cx_integration_change_end(cx_store *s, int rc, cx_err *err)
{
	if (rc == 0 && cx_store_commit(s, err) == 0)
		return 0;
	cx_store_rollback(s);
	return -1;
}

