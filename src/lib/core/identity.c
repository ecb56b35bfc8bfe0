/* identity.c: the Unix login of the real user id. */
#include <pwd.h>
#include <stdio.h>
#include <unistd.h>

#include "identity.h"

const char *cx_identity_user(void)
{
	static char name[256];
	struct passwd *pw;

	if (name[0])
		return name;
	pw = getpwuid(getuid());
	if (pw && pw->pw_name)
		snprintf(name, sizeof name, "%s", pw->pw_name);
	else
		snprintf(name, sizeof name, "uid:%u", (unsigned)getuid());
	return name;
}
