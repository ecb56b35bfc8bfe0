/* dns.c: TXT and CNAME queries with glibc's resolver (res_nquery on a
 * private resolver state, answers read with ns_initparse/ns_parserr). */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "exit.h"
#include "xalloc.h"

struct cx_dns {
	struct __res_state st;
	char where[64];                 /* the server, for messages */
	unsigned char answer[CX_DNS_MAX_ANSWER];
};

/* "a.b.c.d:port" into sin; -1 when it is not one. */
static int parse_server(const char *server, struct sockaddr_in *sin)
{
	const char *colon = strrchr(server, ':');
	char host[INET_ADDRSTRLEN], *end;
	long port;

	if (!colon || (size_t)(colon - server) >= sizeof host || !colon[1])
		return -1;
	memcpy(host, server, (size_t)(colon - server));
	host[colon - server] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535)
		return -1;
	memset(sin, 0, sizeof *sin);
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -1;
}

int cx_dns_open(const char *server, cx_dns **out, cx_err *err)
{
	cx_dns *d = cx_xcalloc(1, sizeof *d);
	struct sockaddr_in sin;

	*out = NULL;
	if (server && parse_server(server, &sin) < 0) {
		free(d);
		return cx_err_set(err, CX_EXIT_CONFIG,
		    "CX_DNS_SERVER is IPv4:PORT (127.0.0.1:5353), not '%s'", server);
	}
	if (res_ninit(&d->st) < 0) {
		res_nclose(&d->st);
		free(d);
		return cx_err_set(err, CX_EXIT_CONFIG, "the system resolver cannot be set up");
	}
	d->st.retrans = CX_DNS_TIMEOUT_SECONDS;
	d->st.retry = CX_DNS_TRIES;
	/* EDNS0: a domain's TXT records fit one UDP answer far more often */
	d->st.options |= RES_USE_EDNS0;
	snprintf(d->where, sizeof d->where, "%s", server ? server : "the system resolver");
	if (server) {
		d->st.nsaddr_list[0] = sin;
		d->st.nscount = 1;
	}
	*out = d;
	return 0;
}

void cx_dns_close(cx_dns *d)
{
	if (!d)
		return;
	res_nclose(&d->st);
	free(d);
}

/* Asks for name's records of type: 1 with *msg over the answer, 0 when
 * name or the records do not exist, -1 with err. */
static int query(cx_dns *d, const char *name, int type, ns_msg *msg, cx_err *err)
{
	const char *what = type == ns_t_txt ? "TXT" : "CNAME";
	int n;

	d->st.res_h_errno = 0;
	n = res_nquery(&d->st, name, ns_c_in, type, d->answer, sizeof d->answer);
	if (n < 0 && (d->st.res_h_errno == HOST_NOT_FOUND || d->st.res_h_errno == NO_DATA))
		return 0;
	if (n < 0)
		return cx_err_set(err, CX_EXIT_UNAVAILABLE, "DNS query %s %s through %s failed: %s",
		    what, name, d->where, d->st.res_h_errno == TRY_AGAIN ?
		    "no answer in time, or the server failed or refused (SERVFAIL, REFUSED)" :
		    "the server could not take the query (FORMERR, NOTIMP)");
	if (n > (int)sizeof d->answer)
		n = (int)sizeof d->answer;
	if (ns_initparse(d->answer, n, msg) < 0)
		return cx_err_set(err, CX_EXIT_UNAVAILABLE,
		    "DNS answer to %s %s through %s is malformed", what, name, d->where);
	return 1;
}

/* One TXT record's character-strings, joined; NULL when malformed. */
static char *txt_string(const unsigned char *p, size_t len)
{
	char *out = cx_xmalloc(len + 1);
	size_t n = 0, i = 0;

	while (i < len) {
		size_t part = p[i++];

		if (part > len - i) {
			free(out);
			return NULL;
		}
		for (size_t k = 0; k < part; k++, i++)
			out[n++] = p[i] >= 0x20 && p[i] < 0x7F ? (char)p[i] : '?';
	}
	out[n] = '\0';
	return out;
}

int cx_dns_txt(cx_dns *d, const char *name, jv *out, cx_err *err)
{
	ns_msg msg;
	ns_rr rr;
	int rc = query(d, name, ns_t_txt, &msg, err);

	*out = jv_array();
	for (int i = 0; rc == 1 && i < ns_msg_count(msg, ns_s_an); i++) {
		char *s;

		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			break;
		if (ns_rr_type(rr) != ns_t_txt || ns_rr_class(rr) != ns_c_in)
			continue;
		if (!(s = txt_string(ns_rr_rdata(rr), ns_rr_rdlen(rr))))
			continue;
		*out = jv_array_append(*out, jv_string(s));
		free(s);
	}
	return rc < 0 ? -1 : 0;
}

int cx_dns_cname(cx_dns *d, const char *name, char **target, cx_err *err)
{
	char host[NS_MAXDNAME];
	size_t n;
	ns_msg msg;
	ns_rr rr;
	int rc = query(d, name, ns_t_cname, &msg, err);

	*target = NULL;
	for (int i = 0; rc == 1 && !*target && i < ns_msg_count(msg, ns_s_an); i++) {
		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			break;
		if (ns_rr_type(rr) != ns_t_cname || ns_name_uncompress(ns_msg_base(msg),
		    ns_msg_end(msg), ns_rr_rdata(rr), host, sizeof host) < 0)
			continue;
		n = strlen(host);
		if (n > 1 && host[n - 1] == '.')
			host[n - 1] = '\0';
		*target = cx_xstrdup(host);
	}
	return rc < 0 ? -1 : 0;
}
