/* log.h: diagnostics on stderr (SPEC §4): one JSON object per line, or
 * err(3)-style text when stderr is a terminal or CX_LOG=text. Levels by
 * CX_LOG_LEVEL (debug, info, warn, error; default info).
 * cx_log consumes its jv argument. Masking helpers return new strings. */
#ifndef CX_LOG_H
#define CX_LOG_H

#include <jv.h>

#include "err.h"

typedef enum { CX_LOG_DEBUG, CX_LOG_INFO, CX_LOG_WARN, CX_LOG_ERROR } cx_log_level;

/* Names the tool in every line; reads CX_LOG and CX_LOG_LEVEL. */
void cx_log_init(const char *tool);
const char *cx_log_tool(void);
/* fields: a jv object of extra keys (correlation_id, line, error_code...),
 * or jv_null(). Never pass a payload, token or secret. */
void cx_log(cx_log_level level, jv fields, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define cx_log_error(...) cx_log(CX_LOG_ERROR, jv_null(), __VA_ARGS__)
#define cx_log_warn(...) cx_log(CX_LOG_WARN, jv_null(), __VA_ARGS__)
#define cx_log_info(...) cx_log(CX_LOG_INFO, jv_null(), __VA_ARGS__)
/* Logs err's message as an error; returns its exit code (a temporary
 * failure when it has none): how a tool ends on an error. */
int cx_log_fail(const cx_err *err);

/* "+5511987654321" -> "+55*********21"; "jane@example.com" -> "j***@example.com". */
char *cx_log_mask_phone(const char *phone);
char *cx_log_mask_email(const char *email);

#endif
