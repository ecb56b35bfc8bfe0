# cx-parse mapping: Google Calendar push notification -> calendar.sync.requested.
#
# Input : the body cx-ingest stores for POST /webhooks/google-calendar. Google posts
#         no body, only X-Goog-* headers, so cx-ingest builds the body from them once
#         the channel, resource and token matched the watch table:
#         {"channel_id","resource_id","resource_state","message_number",
#          "resource_uri","channel_expiration","calendar_id"}
# Output: one item {"type","channel","account","dedupe_key","ts","data"} for a change
#         ("exists"; "not_exists" for a resource that went away), nothing for "sync"
#         (the message every new channel gets first), or {"error","path"}.
#         A notification says only that something changed: `cx-sync --requests` then
#         asks Google what. Google's notifications carry no time of their own (ts null).
# jq 1.6 only (Debian 12).

def str: if . == null then null else tostring end;
# A required field: missing or empty aborts with a reason that quotes no value.
def need($what): if . == null or . == "" then error({cx: ("missing " + $what)}) else . end;

try (
  (.resource_state | need("resource state") | str) as $state
  | if $state == "sync" then empty
    elif $state == "exists" or $state == "not_exists" then
      (.channel_id | need("channel id") | str) as $channel
      | (.message_number | need("message number") | str) as $n
      | (.calendar_id | need("calendar id") | str) as $calendar
      | (.resource_id | need("resource id") | str) as $resource
      | {type: "calendar.sync.requested", channel: "google-calendar", account: $calendar,
         dedupe_key: "calendar:google-calendar:\($channel):notify:\($n)", ts: null,
         data: {calendar_id: $calendar, channel_id: $channel, resource_id: $resource,
                resource_state: $state}}
    else error({cx: "unknown resource state"}) end
) catch (
  if type == "object" and has("cx") then {error: .cx, path: "."}
  else {error: "malformed notification", path: "."} end
)
