/* csv.h: comma-separated values as RFC 4180 writes them, read one record
 * at a time: fields quoted or not, "" a quote inside a quoted field, CRLF
 * or LF (or a lone CR) ending a record, line breaks inside quoted fields;
 * a UTF-8 byte order mark at the start is skipped, blank lines are skipped.
 * Malformed input (a quote inside an unquoted field, text after a closing
 * quote, a quoted field not closed, a NUL byte, text that is not UTF-8, a
 * record over the size limit) stops the reading with an error naming the
 * line. The reader is the caller's (cx_csv_close); records returned are
 * the caller's (jv_free). The FILE stays the caller's. */
#ifndef CX_CSV_H
#define CX_CSV_H

#include <stddef.h>
#include <stdio.h>

#include <jv.h>

#include "err.h"

/* The largest record read by default (its fields' bytes together). */
#define CX_CSV_MAX_RECORD (1024 * 1024)

typedef struct cx_csv cx_csv;

/* A reader of in, refusing records of more than max_record bytes (0: the
 * default). */
cx_csv *cx_csv_open(FILE *in, size_t max_record);
/* 1 with *record (an array of strings), 0 at the end of the input, -1 with
 * err (CX_EXIT_DATAERR for malformed input, CX_EXIT_TEMPFAIL for a read
 * error); after -1 the reader only returns -1. */
int cx_csv_next(cx_csv *r, jv *record, cx_err *err);
/* The line (from 1) on which the last record returned began. */
long cx_csv_line(const cx_csv *r);
void cx_csv_close(cx_csv *r);

#endif
