/* channel.h: a channel of cx-publish (SPEC §6 cx-publish): one platform's
 * way of sending a queue item or a command (queue.h, commands.h). A channel
 * is a cx_channel, defined in its provider's folder and named once in the
 * registry (channels.h). An implementation must:
 *   - name itself, the prefix of its settings (CX_APPROVAL_<ENV>,
 *     CX_PUBLISH_RATE_<ENV>), the OAuth credential it sends with
 *     (provider), whether approval can be turned off and its default rate;
 *   - list the kinds it sends and what each needs (checked by
 *     cx_channel_check), and count text as its platform does (measure;
 *     NULL: code points);
 *   - build the HTTP request of an item (build) and judge an answer that
 *     is not a success (judge; successes and transport failures are judged
 *     alike for every channel, by cx_channel_judge);
 *   - optionally, find out whether an item whose fate is unknown went out
 *     (reconcile; NULL: the platform cannot be asked);
 *   - optionally, when the request depends on state (e-mail: the tenant's
 *     plan picks the provider): check an item by its own rules (check),
 *     make the request right before it is sent, after its governance
 *     (prepare), judge the whole exchange (answer) and keep what it needs
 *     of the outcome (settled).
 *
 * Items passed in are not consumed. cx_channel_call and cx_channel_result
 * own their strings; release them with the matching _free. */
#ifndef CX_CHANNEL_H
#define CX_CHANNEL_H

#include <signal.h>
#include <stdint.h>

#include <jv.h>

#include "err.h"
#include "http.h"
#include "queue.h"
#include "ratelimit.h"
#include "store.h"

/* What one kind of item needs. */
typedef struct {
	const char *name;           /* "post", "dm", ... */
	int text_required;
	int reply;                  /* needs in_reply_to, and only it may have one */
	long limit;                 /* of the text, as measure counts it */
	const char *fields[3];      /* required non-empty strings */
	const char *object;         /* a required object with a "name" */
} cx_channel_kind;

/* The request for an item: HTTP with a JSON body and the provider's OAuth
 * token, unless the channel's prepare says otherwise. */
typedef struct {
	char *url;
	char *body;                 /* JSON text, or bytes of content_type */
	size_t body_len;            /* 0: strlen(body) */
	char *content_type;         /* NULL: JSON */
	char **headers;             /* more "Name: value" lines (NULL-terminated) */
	char *user, *password;      /* Basic auth, AWS SigV4 keys or SMTP AUTH */
	char *aws_sigv4;            /* "aws:amz:REGION:SERVICE": sign with user
	                               and password instead of Basic */
	char *mail_from;            /* an smtp(s):// url: the envelope ... */
	char **mail_rcpt;           /* ... and its recipients; body the message */
	int mail_starttls;          /* STARTTLS required */
	const char *provider;       /* whose OAuth token it needs (the channel's,
	                               static); NULL: none */
	char *idempotency_key;      /* "queue:<id>" or the command's key */
	jv data;                    /* fields the result line and the audit row
	                               carry (an object, or 0/invalid: none) */
} cx_channel_call;

/* What prepare decides besides the request. */
typedef struct {
	const char *code;           /* static: why not now, or why never */
	int64_t until;              /* not now: try again then (epoch) */
} cx_channel_gate;

typedef enum {
	CX_CHANNEL_PUBLISHED,       /* it went out: provider_ref */
	CX_CHANNEL_FAILED,          /* refused for good: code */
	CX_CHANNEL_RETRY,           /* not sent, or refused for now: try again */
	CX_CHANNEL_UNKNOWN,         /* it may have gone out: reconcile, never resend */
} cx_channel_verdict;

typedef struct {
	cx_channel_verdict verdict;
	const char *code;           /* static: VALIDATION_FAILED, AUTH_FAILED,
	                               FORBIDDEN, DUPLICATE, NOT_FOUND, REJECTED,
	                               RATE_LIMITED, UPSTREAM_ERROR, CONNECT_FAILED,
	                               TIMEOUT, CONNECTION_LOST; NULL when published */
	char detail[256];           /* one line, never a payload or a token */
	char *provider_ref;         /* published: the provider's id (may be NULL) */
	int64_t hint;               /* retry: when the provider said to (epoch), or 0 */
	int upstream_failure;       /* counts against the circuit breaker */
} cx_channel_result;

/* One reconciliation run, handed to every reconcile call of it. */
typedef struct {
	cx_store *s;
	int64_t pages;              /* CX_PUBLISH_RECONCILE_PAGES: how far to look back */
	void *own;                  /* the channel's, kept between items and freed
	                               by its reconcile_end */
} cx_channel_recon;

/* One transfer of a channel that sends by itself (transfer set): its
 * items, one or a batch (batch_key), on a thread of its own; it fills one
 * result and one data object per item. An item's own fields (bucket, key,
 * file, values...) are in its "meta" object (cx_channel_fields). */
typedef struct {
	cx_store *s;                /* the thread's own connection (no transaction
	                               open): for what must outlive a kill -9 */
	jv items;                   /* borrowed: an array of n items */
	size_t n;
	const char *token;          /* the provider's bearer token, or NULL */
	const char *tenant;         /* the items' tenant (one lane: all the same) */
	const volatile sig_atomic_t *stop;  /* non-zero: cx-publish was told to
	                               stop: leave at the next safe point (RETRY) */
	cx_channel_result *results; /* n, zeroed: each must get a verdict */
	jv *data;                   /* n, each jv_invalid(): fields for the result
	                               line's data and the audit row (an object) */
} cx_channel_transfer;

typedef struct cx_channel cx_channel;
struct cx_channel {
	const char *name;           /* the items' channel field */
	const char *env;            /* settings prefix: CX_APPROVAL_<env> ... */
	const char *provider;       /* the OAuth credential it sends with */
	const char *token_setting;  /* a setting that, when set, is the token to
	                               use instead (NULL: none) */
	const char *account_field;  /* names the account it sends from when the
	                               item has no account (NULL: none) */
	int approval_always;        /* no setting turns approval off */
	const char *rate;           /* default CX_PUBLISH_RATE_<env> */
	const char *length_note;    /* how people are told it counts ("" if plainly) */
	const cx_channel_kind *kinds;   /* ends with a NULL name */
	/* The length of text as the platform counts it; with problem and err,
	 * also the platform's own rules for text of kind k (the limit among
	 * them): -1 with *problem and err (CX_EXIT_DATAERR) when it breaks one.
	 * NULL: code points against k->limit. */
	int (*measure)(const cx_channel *ch, const cx_channel_kind *k, const char *text,
	    long *length, const char **problem, cx_err *err);
	/* Whether in_reply_to names a post of the platform (NULL: any id
	 * does); -1 with *problem and err when not. */
	int (*check_reply)(const char *in_reply_to, const char **problem, cx_err *err);
	/* Sets call->url and call->body (call->provider and
	 * idempotency_key are set); -1 with err (*code may stay NULL:
	 * VALIDATION_FAILED) when the item lacks what the channel needs. */
	int (*build)(jv item, cx_channel_call *call, const char **code, cx_err *err);
	/* Judges an answer with status (not 2xx) and body (an object). */
	void (*judge)(cx_channel_result *r, long status, jv body);
	/* Whether item (not consumed), whose fate is unknown, went out: 1 with
	 * *ref (a new string) the platform's id, 0 when it is not there, -1
	 * when the platform cannot be asked now (logged here; err->code says
	 * how bad). NULL: the platform cannot be asked. */
	int (*reconcile)(cx_channel_recon *run, jv item, char **ref, cx_err *err);
	/* Frees what reconcile kept in run->own, once the run is over. */
	void (*reconcile_end)(cx_channel_recon *run);
	/* reconcile's "not there" needs no grace (CX_PUBLISH_RECONCILE_GRACE_
	 * SECONDS) before the item is sent again: sending it twice does no
	 * harm (S3: the same bytes under the same key). */
	int resend_harmless;
	/* The channel's own rules for a proposal or command p (not consumed)
	 * beyond its kinds: -1 with *problem and err. NULL: none. */
	int (*check)(jv p, const char **problem, cx_err *err);
	/* Governance and the request, right before it is sent, on the sender's
	 * connection s: 0 with call completed, 1 not now (gate->until and
	 * gate->code; err->msg says why), -1 never (gate->code; err). NULL:
	 * build made the whole request. */
	int (*prepare)(cx_store *s, jv item, cx_channel_call *call, cx_channel_gate *gate,
	    cx_err *err);
	/* Judges a whole exchange (NULL: cx_channel_judge's HTTP rules with
	 * judge); rc, resp and terr as cx_channel_judge takes them. */
	void (*answer)(const cx_channel_call *call, int rc, const cx_http_response *resp,
	    const cx_err *terr, int64_t now, cx_channel_result *out);
	/* In the transaction that settles item as o (any state but approved
	 * for later): what the channel keeps of it. NULL: nothing. */
	int (*settled)(cx_store *s, jv item, const cx_channel_call *call,
	    const char *state, const char *provider_ref, cx_err *err);
	/* Delivery channels (s3, sheets, upload). Sends the items itself,
	 * blocking, on a thread of its own (NULL: build's one HTTP request on
	 * the shared connections); build still checks each item when it is
	 * claimed, and settled sees each item's data in call->data. */
	void (*transfer)(cx_channel_transfer *t);
	/* Items of one tenant with the same key (a new string) go in one
	 * transfer, up to batch_max. NULL: one item a transfer. */
	char *(*batch_key)(jv item);
	size_t batch_max;
	/* CX_APPROVAL_<env>'s default ("none" or "required"; NULL: required). */
	const char *approval_default;
	/* The idempotency key of a command line (not consumed) that has none: a
	 * new string, or NULL with err when the line cannot have one. NULL:
	 * every command line needs one. */
	char *(*default_key)(jv line, cx_err *err);
	/* Three failed items in a row (failed or dead) disable the channel for
	 * their tenant (tenant_pauses), and the file named by the item's
	 * package_field is set aside in the rejected folder with the reason. */
	int rollback;
	const char *package_field;  /* NULL: no file */
};

/* --- what every channel shares (channel.c) --------------------------------- */

/* The kind of ch named kind, or NULL. */
const cx_channel_kind *cx_channel_kind_find(const cx_channel *ch, const char *kind);

/* Checks a proposal p (not consumed) for ch, after cx_queue_check_shape:
 * its kind, workspace, text, reply, the kind's fields and correlation_id;
 * fills *out. */
int cx_channel_check(const cx_channel *ch, jv p, cx_queue_checked *out,
    const char **problem, cx_err *err);

/* The length of an item's text as its channel counts it, and the limit of
 * its kind; both 0 when ch (may be NULL) has no such kind. */
void cx_channel_length(const cx_channel *ch, const char *kind, const char *text,
    long *length, long *limit);

/* Whether ch needs a person's approval: CX_APPROVAL_<ENV> (required, the
 * default, or none), unless approval_always. CX_EXIT_CONFIG for any other
 * value. */
int cx_channel_approval_required(const cx_channel *ch, int *required, cx_err *err);

/* The per-tenant rate limit of ch: CX_PUBLISH_RATE_<ENV> ("N" a second or
 * "N/SECONDS"), else the channel's default. */
int cx_channel_rate(const cx_channel *ch, cx_ratelimit *out, cx_err *err);

/* The request for item on ch; CX_EXIT_DATAERR (with *code a static error
 * code) when the item lacks what its channel needs. */
int cx_channel_call_build(const cx_channel *ch, jv item, cx_channel_call *call,
    const char **code, cx_err *err);
void cx_channel_call_free(cx_channel_call *call);

/* Judges one exchange of call on ch: rc and resp as cx_http_do or
 * cx_httpmulti hand them over, terr the transport error when rc < 0. */
void cx_channel_judge(const cx_channel *ch, const cx_channel_call *call, int rc,
    const cx_http_response *resp, const cx_err *terr, int64_t now,
    cx_channel_result *out);
void cx_channel_result_free(cx_channel_result *r);

/* --- helpers for implementations ------------------------------------------- */

/* An item's own fields: its meta object with the columns that are strings
 * (workspace, tenant, correlation_id...) set over it. */
jv cx_channel_fields(jv item);
/* The ledger row of item (not consumed), "queue:<id>" or "command:<id>"
 * (a command has an idempotency_key): a new string. */
char *cx_channel_item_ref(jv item);

/* The HTTP rules of cx_channel_judge, for an answer hook: transport
 * failures, 2xx (published, with the id found in the body), and judge for
 * the rest. */
void cx_channel_judge_http(void (*judge)(cx_channel_result *r, long status, jv body),
    int rc, const cx_http_response *resp, const cx_err *terr, int64_t now,
    cx_channel_result *out);

/* Sets *problem and err (CX_EXIT_DATAERR; either may be NULL); returns -1. */
int cx_channel_invalid(const char **problem, const char *code, cx_err *err,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The member key of obj (consumed), or jv_invalid() when obj is not an
 * object (jv asserts on that). */
jv cx_channel_member(jv obj, const char *key);
/* Sets r's verdict, code and detail. */
void cx_channel_set(cx_channel_result *r, cx_channel_verdict v, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The verdict on an HTTP status alone, with why (may be "") after it. */
void cx_channel_by_status(cx_channel_result *r, long status, const char *why);
/* A one-line excerpt of a platform's error message (they hold no payload
 * of ours): control characters dropped, at most 120 bytes. */
void cx_channel_excerpt(const char *msg, char *out, size_t cap);

#endif
