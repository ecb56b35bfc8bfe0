/* sheetschannel.h: the sheets channel of cx-publish (sheets.c): rows
 * appended to a Google Sheet, batched per (spreadsheet, range) into one
 * values.append each, never twice for one row_key (sheet_rows), and found
 * again by values.get when their fate is unknown. Strings returned are new
 * (free them); jv arguments are not consumed. */
#ifndef CX_SHEETSCHANNEL_H
#define CX_SHEETSCHANNEL_H

#include <stddef.h>

#include "channel.h"

/* The largest values.get answer a reconcile reads (a bigger sheet cannot
 * be searched: its items stay unknown, logged). */
#define CX_SHEETS_MAX_READ (64 * 1024 * 1024)

extern const cx_channel cx_sheets_channel;

/* What sheets.c and sheetsrecon.c share. The fields of p (not consumed):
 * a stored item's meta with its columns, a command line as it is. */
jv cx_sheets_fields(jv p);
/* key_column of fields f (1 when absent), or 0 when it is not a whole
 * number from 1 to the last column. */
long cx_sheets_key_column(jv f);
/* {CX_SHEETS_API_BASE}/v4/spreadsheets/{id}/values/{range}{tail}, id and
 * range percent-encoded. */
char *cx_sheets_values_url(const char *id, const char *range, const char *tail);

/* The channel's reconcile (sheetsrecon.c): the item's row_key in the key
 * column of its range (values.get, once a run per spreadsheet, range and
 * key column, the answer at most CX_SHEETS_MAX_READ bytes). */
int cx_sheets_reconcile(cx_channel_recon *run, jv item, char **ref, cx_err *err);
void cx_sheets_reconcile_end(cx_channel_recon *run);

/* The A1 range of row index (0 the first) of a block Sheets reported as
 * block ("Log!A3:F5", "'My Log'!B7:C7"): "Log!A4:F4" for index 1; NULL
 * when block is not such a range. */
char *cx_sheets_row_range(const char *block, size_t index);

#endif
