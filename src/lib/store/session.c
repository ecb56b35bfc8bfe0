/* session.c: open and end a tool's session with the state file. */
#include "configfile.h"
#include "exit.h"
#include "log.h"
#include "ndjson.h"
#include "session.h"

int cx_session_start(const char *config, const char *db, cx_store **s)
{
	cx_err err = { 0, "" };

	if (cx_config_load(config, &err) < 0 || cx_store_open(db, s, &err) < 0)
		return cx_log_fail(&err);
	cx_ndjson_out_init();
	return -1;
}

int cx_session_end(cx_store *s, int rc, const cx_err *err)
{
	cx_ndjson_flush();
	cx_store_close(s);
	return rc < 0 ? cx_log_fail(err) : CX_EXIT_OK;
}
