/* url.c: URLs reduced to what may be logged. */
#include <string.h>

#include <curl/curl.h>

#include "url.h"
#include "xalloc.h"

char *cx_url_for_log(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *out;

	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		curl_url_cleanup(u);
		return cx_xstrdup("(malformed URL)");
	}
	curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	curl_url_get(u, CURLUPART_HOST, &host, 0);
	curl_url_get(u, CURLUPART_PORT, &port, 0);
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	out = cx_xasprintf("%s://%s%s%s%s", scheme ? scheme : "?", host ? host : "?",
	    port ? ":" : "", port ? port : "", path ? path : "/");
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
	return out;
}

char *cx_url_base(const char *url)
{
	char *b = cx_xstrdup(url);
	size_t n = strlen(b);

	while (n > 0 && b[n - 1] == '/')
		b[--n] = '\0';
	return b;
}
