/* identity.h: who is running this process: the Unix login of getuid(),
 * never $USER (SPEC §4 Identity). The string is static. */
#ifndef CX_IDENTITY_H
#define CX_IDENTITY_H

const char *cx_identity_user(void);

#endif
