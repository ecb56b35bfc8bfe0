/* uploadtarget.h: a package-upload target (cx-publish's upload channel,
 * cx-sync deliveries): its settings, named by the target
 * (<TARGET> is the name upper-cased, other characters "_"):
 *   CX_UPLOAD_URL_<TARGET>          where packages are POSTed (multipart)
 *   CX_UPLOAD_API_KEY_<TARGET>      (or _FILE) sent as Authorization: Bearer
 *   CX_UPLOAD_ID_PATH_<TARGET>      the protocol id in the answer (.id)
 *   CX_UPLOAD_STATUS_URL_<TARGET>   a package's status; {id} is its protocol
 *                                   id, percent-encoded
 *   CX_UPLOAD_STATUS_PATH_<TARGET>  the status in an answer (.status)
 *   CX_UPLOAD_FINAL_<TARGET>        statuses that end tracking, a comma list
 *                                   (delivered,rejected)
 * Paths are jq paths of fields and indexes only (.id, .data.id,
 * .items[0]["protocol-id"]). Statuses are kept as the target says them
 * (raw) and lower-cased (status).
 * An upload_target owns its strings and programs (upload_target_free wipes
 * the key); strings returned through out parameters are new (free()). */
#ifndef CX_UPLOADTARGET_H
#define CX_UPLOADTARGET_H

#include <jv.h>

#include "err.h"
#include "http.h"
#include "json.h"

#define UPLOAD_STATUS_MAX 128     /* bytes of a status value */

typedef struct {
	char *name;
	char *env;            /* <TARGET> */
	char *url;            /* NULL: not configured */
	char *api_key;        /* NULL: none */
	char *status_url;     /* NULL: not tracked */
	cx_jq *id_path, *status_path;
	char **final;         /* lower-case, NULL-terminated */
} upload_target;

/* A target name: 1 to 64 characters, letters, digits, "-", "_", ".". */
int upload_target_name_ok(const char *name);

/* The settings of target name: 0, or -1 with err (CX_EXIT_CONFIG: a bad
 * path, an unreadable key file). A target without a URL loads: the
 * channel says it is not configured. */
int upload_target_load(const char *name, upload_target *t, cx_err *err);
void upload_target_free(upload_target *t);

/* Whether status (lower-case) ends tracking. */
int upload_target_final(const upload_target *t, const char *status);

/* The status at t's status path in body (not consumed): 1 with *status
 * (lower-case) and *raw, 0 when there is none (absent, or not a string or
 * number of at most UPLOAD_STATUS_MAX bytes). */
int upload_status_of(const upload_target *t, jv body, char **status, char **raw);

/* Asks for the status of protocol_id at t's status URL (Bearer key; the
 * default timeout, an answer of at most 1 MiB), the answer in resp (the
 * caller frees it): 0 with *status and *raw; -1 with err: no answer
 * (resp->status 0, CX_EXIT_TEMPFAIL), not 2xx (CX_EXIT_UNAVAILABLE), or
 * no status in it (CX_EXIT_UNAVAILABLE). */
int upload_target_poll(const upload_target *t, const char *protocol_id, char **status,
    char **raw, cx_http_response *resp, cx_err *err);

#endif
