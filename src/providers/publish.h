/* publish.h: what cx-publish says to each provider and how it reads the
 * answer (SPEC §6 cx-publish): the request for a queue item or a command
 * (queue.h, commands.h), the verdict on a response or a transport failure
 * (published, failed with a stable code, retry, unknown), each channel's
 * approval policy and default rate limit, the latency histogram of the
 * requests, and the X timeline lookup that reconciles posts whose fate is
 * unknown.
 *
 *   x          POST {CX_X_API_BASE}/2/tweets {text, reply?}
 *   whatsapp   POST {CX_GRAPH_API_BASE}/{v}/{phone_number_id}/messages
 *   instagram  dm: POST .../{account or me}/messages;
 *              comment_reply: POST .../{comment_id}/replies
 *   messenger  POST .../{account or me}/messages
 *
 * Items passed in are not consumed. cx_publish_call and cx_publish_result
 * own their strings; release them with the matching _free. */
#ifndef CX_PUBLISH_H
#define CX_PUBLISH_H

#include <stdint.h>

#include <jv.h>

#include "err.h"
#include "http.h"
#include "ratelimit.h"
#include "store.h"

typedef struct {
	char *url;
	char *body;               /* JSON text */
	const char *provider;     /* whose token it needs: "x" or "meta" (static) */
	char *idempotency_key;    /* "queue:<id>" or the command's key */
} cx_publish_call;

/* The request for an item. CX_EXIT_DATAERR (with *code a static error
 * code) when the item lacks what its channel needs. */
int cx_publish_call_build(jv item, cx_publish_call *call, const char **code,
    cx_err *err);
void cx_publish_call_free(cx_publish_call *call);

typedef enum {
	CX_PUBLISH_PUBLISHED,     /* it went out: provider_ref */
	CX_PUBLISH_FAILED,        /* refused for good: code */
	CX_PUBLISH_RETRY,         /* not sent, or refused for now: try again */
	CX_PUBLISH_UNKNOWN,       /* it may have gone out: reconcile, never resend */
} cx_publish_verdict;

typedef struct {
	cx_publish_verdict verdict;
	const char *code;         /* static: VALIDATION_FAILED, AUTH_FAILED,
	                             FORBIDDEN, DUPLICATE, NOT_FOUND, REJECTED,
	                             RATE_LIMITED, UPSTREAM_ERROR, CONNECT_FAILED,
	                             TIMEOUT, CONNECTION_LOST; NULL when published */
	char detail[256];         /* one line, never a payload or a token */
	char *provider_ref;       /* published: the provider's id (may be NULL) */
	int64_t hint;             /* retry: when the provider said to (epoch), or 0 */
	int upstream_failure;     /* counts against the circuit breaker */
} cx_publish_result;

/* Judges one exchange on channel: rc and resp as cx_http_do or
 * cx_httpmulti hand them over, terr the transport error when rc < 0. */
void cx_publish_judge(const char *channel, int rc, const cx_http_response *resp,
    const cx_err *terr, int64_t now, cx_publish_result *out);
void cx_publish_result_free(cx_publish_result *r);

/* Whether channel needs a person's approval: CX_APPROVAL_<CHANNEL>
 * (required, the default, or none); x always does, whatever the setting
 * says. CX_EXIT_CONFIG for any other value. */
int cx_publish_approval_required(const char *channel, int *required, cx_err *err);

/* Checks every channel's CX_APPROVAL_* and CX_PUBLISH_RATE_* setting, so a
 * malformed one stops a run before anything is claimed (CX_EXIT_CONFIG). */
int cx_publish_check_settings(cx_err *err);

/* The per-tenant rate limit of channel: CX_PUBLISH_RATE_<CHANNEL> ("N" a
 * second or "N/SECONDS"), else the channel's default (x 100/900, whatsapp
 * 80, instagram 100, messenger 250). */
int cx_publish_rate(const char *channel, cx_ratelimit *out, cx_err *err);

/* Latencies of one channel's send requests (answered or not), gathered in
 * memory between commits. Bucket i holds those above bound i - 1 and up
 * to bound i (5 ms to 60 s, then +Inf). */
#define CX_PUBLISH_LATENCY_BUCKETS 14
typedef struct {
	int64_t bucket[CX_PUBLISH_LATENCY_BUCKETS];
	int64_t count, sum_ms;
} cx_publish_latency;

void cx_publish_latency_observe(cx_publish_latency *h, int64_t ms);
/* Adds h to the counters of the histogram cx_publish_latency_seconds of
 * channel (SPEC §4: kept in the state file, so `cx metrics` shows what
 * every run measured): _bucket{channel,le} (cumulative, as Prometheus reads
 * them), _count{channel}, and the sum as
 * cx_publish_latency_milliseconds_total{channel} (counters are integers).
 * Inside the caller's transaction, so the histogram counts exactly the
 * requests whose outcomes it settles; h is cleared (also after an error,
 * when the caller rolls back what it measured with the outcomes). */
int cx_publish_latency_add(cx_store *s, const char *channel, cx_publish_latency *h,
    cx_err *err);

/* The page of an X user's recent posts after next_token (NULL: the first),
 * up to 100, with created_at and referenced_tweets. A new string. */
char *cx_publish_x_timeline_url(const char *user_id, const char *next_token);

/* Whether a post's text as X returns it is the text cx sent: HTML entities
 * decoded, URLs (which X rewrites to t.co) and runs of white space compared
 * as one, and the @mentions X puts before a reply ignored. */
int cx_publish_x_same_text(const char *posted, const char *sent);

#endif
