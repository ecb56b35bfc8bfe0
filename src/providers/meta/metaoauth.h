/* metaoauth.h: Meta's OAuth preset (oauthprovider.h says what a preset is). Its
 * provider code opens it directly (cx_oauth_preset_token); tools find it
 * by name in presets.h. Static data: nobody frees it. */
#ifndef CX_METAOAUTH_H
#define CX_METAOAUTH_H

#include "oauthprovider.h"

extern const cx_oauth_preset cx_meta_oauth;

#endif
