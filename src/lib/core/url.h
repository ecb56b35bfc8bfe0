/* url.h: URLs as they may be shown. The returned string is the caller's
 * to free. (Parsing only, with libcurl's URL API: no network.) */
#ifndef CX_URL_H
#define CX_URL_H

/* scheme://host[:port]/path of url, without user info or query: safe to log.
 * "(malformed URL)" when url does not parse. */
char *cx_url_for_log(const char *url);

#endif
