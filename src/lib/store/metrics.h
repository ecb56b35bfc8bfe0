/* metrics.h: Prometheus counters kept in the state file, so every process
 * and `cx metrics` see the same numbers. Increment them inside the
 * transaction of the change they count. Label strings are the caller's. */
#ifndef CX_METRICS_H
#define CX_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "store.h"

/* Renders label pairs (k1, v1, k2, v2, ..., NULL) as k1="v1",k2="v2" with
 * Prometheus escaping; a new string. */
char *cx_metrics_labels(const char *key, ...);
/* Adds delta to name{labels}. */
int cx_metrics_add(cx_store *s, const char *name, const char *labels,
    int64_t delta, cx_err *err);
/* Writes every counter in the text exposition format, then the gauges
 * computed from the state (cx_sheets_pending_rows). */
int cx_metrics_write(cx_store *s, FILE *out, cx_err *err);

#endif
