/* uploadchannel.h: the upload channel of cx-publish: a package file sent
 * to a configured target (uploadtarget.h) as multipart/form-data, the
 * file streamed, with X-Correlation-Id and the target's Bearer key. The
 * protocol id the target answers is the item's provider_ref, and the
 * delivery is kept (deliveries.h) for cx-sync deliveries to track.
 *
 *   {"channel":"upload","workspace":"T","target":"NAME","file":"/abs/pkg.zip",
 *    "fields":{"job":"J-1"},"content_type":"application/zip"}
 *
 * Its kind is "package" (the default); no approval by default; a command
 * line without an idempotency key gets "upload:<target>:<sha256 of the
 * file>", so the same package goes to a target once. */
#ifndef CX_UPLOADCHANNEL_H
#define CX_UPLOADCHANNEL_H

#include "channel.h"

extern const cx_channel cx_upload_channel;

#endif
