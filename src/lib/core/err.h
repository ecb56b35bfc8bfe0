/* err.h: the error a libcx function fills in instead of printing or exiting.
 * Library functions return 0 on success and -1 on failure with *err set;
 * only main() decides what to print and which exit status to use. */
#ifndef CX_ERR_H
#define CX_ERR_H

typedef struct {
	int code;        /* a CX_EXIT_* status that fits the failure */
	char msg[512];   /* one line, no secrets, no payloads */
} cx_err;

/* Fills err (which may be NULL) and returns -1, so callers can write
 * `return cx_err_set(err, CX_EXIT_CONFIG, "bad %s", x);`. */
int cx_err_set(cx_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
