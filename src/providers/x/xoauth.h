/* xoauth.h: X's OAuth preset (oauthprovider.h says what a preset is). Its
 * provider code opens it directly (cx_oauth_preset_token); tools find it
 * by name in presets.h. Static data: nobody frees it. */
#ifndef CX_XOAUTH_H
#define CX_XOAUTH_H

#include "oauthprovider.h"

extern const cx_oauth_preset cx_x_oauth;

/* The base of every X API call: CX_X_API_BASE, else the preset's
 * api_base, without trailing slashes (a new string). */
char *cx_x_api_base(void);

#endif
