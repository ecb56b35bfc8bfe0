/* actions.h: the automation API of `cx-ingest serve` (Zapier, Make,
 * generic integrations): POST /actions/<action>, POST
 * /make/hooks/<integration_id>/<action>, GET /integrations/me, POST /hooks,
 * DELETE /hooks/<id> and GET /triggers/<event>.
 *
 * A request thread reads and checks what needs no state (route, body,
 * schema) into an action_call; serve's writer thread then runs the call
 * inside its group transaction (key, scopes, limits, idempotency, the
 * inbox row), which decides the answer; the request thread sends it once
 * the transaction is committed. A call is the caller's: actions_free.
 * actions.c holds the routes and actions; hooks.c the other routes. */
#ifndef CX_ACTIONS_H
#define CX_ACTIONS_H

#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "crypto.h"
#include "err.h"
#include "inbox.h"
#include "integrations.h"
#include "store.h"
#include "tokencrypt.h"

typedef enum {
	ROUTE_ACTION, ROUTE_ME, ROUTE_HOOK_ADD, ROUTE_HOOK_DELETE, ROUTE_TRIGGERS,
	ROUTE_NONE,
} action_route;

/* A refusal or answer decided before the writer runs (413, 404, 422). */
typedef struct {
	unsigned status;            /* 0: none */
	const char *code;
	char message[160];
	char path[512];
	int has_path;
} action_verdict;

typedef struct action_call {
	action_route route;
	char *key;                  /* the API key given (wiped when freed), or NULL */
	char *path_id;              /* Make's integration id, the hook's id, the event */
	const char *action;         /* the catalogue's name, NULL when unknown */
	char *body;                 /* POST /hooks: the body */
	size_t len;
	jv input;                   /* the action's input (invalid until parsed) */
	char *idempotency_key;
	unsigned char fingerprint[CX_SHA256_LEN];
	char *headers;              /* kept with the inbox row (JSON object text) */
	int64_t limit;              /* GET /triggers */
	action_verdict early;
	/* the answer */
	unsigned status;
	const char *code;           /* an error's code (static), else NULL */
	char *answer;
	int64_t retry_after;        /* seconds, 0: no Retry-After */
	int replayed;
	/* the stored delivery, for --stdout (inbox_id 0: none) */
	int64_t inbox_id, received;
	char *inbox_body;
	char correlation_id[CX_CORRELATION_ID_LEN];
} action_call;

/* Loads the action catalogue (share/cx/actions/<action>.json), the limits and
 * CX_TOKEN_KEY when set: 0, or -1 with err. */
int actions_open(cx_err *err);
void actions_close(void);

/* Whether url is one of the automation API's. */
int actions_route(const char *url);
/* A request whose body has been read (too_big: it went past the limit);
 * body is taken over. Its answer is decided when call->status is set
 * already, else by actions_run. */
action_call *actions_begin(struct MHD_Connection *conn, const char *method,
    const char *url, char *body, size_t len, int too_big);
/* Runs call in the writer's open transaction: 0 with the answer decided,
 * -1 with err when the store fails (the whole group fails). */
int actions_run(action_call *call, cx_store *s, cx_err *err);
/* The webhook.received line of what call stored (a new string), or NULL. */
char *actions_stdout_line(const action_call *call);
/* Sends call's answer (503 UNAVAILABLE when failed: its group was not
 * committed); *status gets the status sent. */
enum MHD_Result actions_reply(struct MHD_Connection *conn, const action_call *call,
    int failed, unsigned *status);
void actions_free(action_call *call);
/* The labels of call's cx_actions_total{action,result} (accepted,
 * replayed, or the refusal's code in lower case; a new string), NULL for
 * the routes that are not actions. */
char *actions_result_labels(const action_call *call);

/* Shared by actions.c and hooks.c. */
/* Sets the answer to the error shape {"ok":false,"error":{...}}. */
void actions_answer_error(action_call *call, unsigned status, const char *code,
    const char *message, const char *path);
/* Fills v (path NULL: none). */
void actions_verdict(action_verdict *v, unsigned status, const char *code,
    const char *message, const char *path);
/* Sets the answer to the verdict's error. */
void actions_answer_verdict(action_call *call, const action_verdict *v);
/* Sets the answer to v's JSON (consumed). */
void actions_answer_json(action_call *call, unsigned status, jv v);
/* The other routes, run as actions_run does, once the key is known. */
int hooks_run(action_call *call, cx_store *s, const cx_integration *in,
    cx_err *err);
/* The request thread's part of the other routes (body, query). */
void hooks_begin(action_call *call, struct MHD_Connection *conn);
/* Whether the token keys are loaded (POST /hooks needs them). */
const cx_tokenkeys *actions_token_keys(void);

#endif
