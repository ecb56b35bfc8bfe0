/* sheetrows.h: the rows the sheets channel appended to Google Sheets
 * (table sheet_rows), one per (spreadsheet, range, row_key), so a row is
 * never appended twice and a CSV sync adds only the rows not there yet;
 * and the gauge of the sheets rows still waiting to be sent.
 * Strings passed in are the caller's; strings returned are new (free). */
#ifndef CX_SHEETROWS_H
#define CX_SHEETROWS_H

#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "store.h"

/* Whether row_key was appended to spreadsheet's range: 1 with
 * *updated_range (a new string, NULL when Sheets did not say), 0 when not,
 * -1 with err. */
int cx_sheet_rows_find(cx_store *s, const char *spreadsheet, const char *range,
    const char *row_key, char **updated_range, cx_err *err);

/* Records an appended row (in the caller's transaction); a row recorded
 * before stays as it was. updated_range may be NULL. */
int cx_sheet_rows_record(cx_store *s, const char *spreadsheet, const char *range,
    const char *row_key, const char *tenant, const char *updated_range, cx_err *err);

/* Whether a CSV row is known already: 2 appended (sheet_rows), 1 a sheets
 * command of workspace holds idempotency key (in any state), 0 neither;
 * -1 with err. */
int cx_sheet_rows_known(cx_store *s, const char *spreadsheet, const char *range,
    const char *row_key, const char *workspace, const char *key, cx_err *err);

/* Writes the gauge cx_sheets_pending_rows (sheets commands and queue items
 * not settled yet: pending, approved, publishing or unknown) in the text exposition
 * format, once the sheets channel was ever used (nothing before). */
int cx_sheet_rows_write_gauge(cx_store *s, FILE *out, cx_err *err);

#endif
