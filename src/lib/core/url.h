/* url.h: URLs as they may be shown or built on. Returned strings are the
 * caller's to free. (Parsing only, with libcurl's URL API: no network.) */
#ifndef CX_URL_H
#define CX_URL_H

/* scheme://host[:port]/path of url, without user info or query: safe to log.
 * "(malformed URL)" when url does not parse. */
char *cx_url_for_log(const char *url);
/* url without its trailing slashes, so paths can be appended ("/2/tweets"). */
char *cx_url_base(const char *url);

#endif
