# cx-parse mapping: Mailgun webhook -> email.* items.
#
# Input : the JSON object Mailgun posts to /webhooks/mailgun,
#         {"signature":{...},"event-data":{...}}: one event about one recipient.
# Output: one item: accepted -> email.sent, delivered -> email.delivered,
#         failed -> email.bounced (severity permanent: hard, temporary: soft) or,
#         when Mailgun did not try because the address is on its own suppression
#         lists (reason suppress-bounce, suppress-complaint, suppress-unsubscribe),
#         email.rejected; rejected -> email.rejected, complained -> email.complained;
#         nothing for opened, clicked, unsubscribed and stored (cx does not track
#         engagement); or {"error","path"}.
#   Items carry "tenant" (variable v:cx_tenant, or null: the accounts lookup by
#   account, the sender's address) and "correlation_id" (v:cx_correlation_id) for C.
# Provider event id (dedupe_key "email:mailgun:<tenant>:event:<id>"): event-data.id;
#   for an event without one (trimmed payloads),
#   <message-id>:<event>:<recipient>:<timestamp>, which a retry repeats too.
# jq 1.6 only (Debian 12). Reasons never quote payload values.

def compact: del(.[keys_unsorted[] as $k | select(.[$k] == null) | $k]);
def err($reason; $path): {error: $reason, path: $path};
def need($what): if . == null or . == "" then error({cx: ("missing " + $what)}) else . end;
def guarded(f; $path):
  try f catch (if type == "object" and has("cx") then err(.cx; $path) else err("malformed item"; $path) end);
# "Name <a@b>" or "a@b" -> "a@b"; null for anything that holds no address.
# One regex (jq 1.6 compiles one per call), none for text without an @.
def addr:
  if type != "string" or (contains("@") | not) then null
  else [capture("^\\s*(?:[^<>]*<)?(?<a>[^\\s<>@]+@[^\\s<>@]+)>?\\s*$").a][0] end;
def msgid:
  if type != "string" then null
  else sub("^\\s*<"; "") | sub(">\\s*$"; "") | if . == "" then null else . end end;
# What cx sent with the message (user-variables): {tenant, correlation_id, item},
# each null when absent.
def cx_ids($tags):
  def tag($n): $tags[$n] | if type == "array" then .[0] else . end;
  def valid($n; $re): tag($n) | if . == null then null elif type == "string" and test($re) then .
                               else error({cx: ("invalid " + $n + " tag")}) end;
  {tenant: valid("cx_tenant"; "^[A-Za-z0-9_-]{1,64}$"),
   correlation_id: valid("cx_correlation_id"; "^[A-Za-z0-9_.:-]{1,128}$"),
   item: (valid("cx_item"; "^(queue|command)[-:][0-9]{1,18}$")
          | if . == null then null else sub("-"; ":") end)};
# The first non-empty string of a list, or null.
def first_text: map(select(type == "string" and . != "")) | .[0];

def event:
  (.recipient | need("recipient")) as $r
  | (.id // (if .message.headers."message-id" != null and .event != null and .timestamp != null
             then "\(.message.headers."message-id" | msgid):\(.event):\($r):\(.timestamp)" else null end)
     | need("event id")) as $id
  | cx_ids(."user-variables" // {}) as $ids
  | .message.headers as $h
  | ."delivery-status" as $ds
  | .event as $t
  | (if $t == "accepted" then {type: "email.sent"}
     elif $t == "delivered" then {type: "email.delivered"}
     elif $t == "failed" and (.reason | type == "string" and startswith("suppress-")) then
       {type: "email.rejected", data: {reason: .reason}}
     elif $t == "failed" then
       {type: "email.bounced",
        data: {bounce: ({type: (if .severity == "permanent" then "hard"
                                elif .severity == "temporary" then "soft"
                                else error({cx: "unknown severity"}) end),
                         sub_type: .reason, diagnostic: ([$ds.message, $ds.description] | first_text),
                         status: ($ds.code | if . == null then null else tostring end),
                         recipient: $r} | compact)}}
     elif $t == "rejected" then
       {type: "email.rejected", data: {reason: ([.reject.reason, .reject.description] | first_text)}}
     elif $t == "complained" then {type: "email.complained"}
     elif $t | IN("opened", "clicked", "unsubscribed", "stored") then null
     else error({cx: "unknown event"}) end) as $kind
  | if $kind == null then empty
    else
      ($h."message-id" | msgid) as $mid
      | (.envelope.sender // $h.from | addr) as $sender
      | {type: $kind.type, channel: "email",
         account: ($sender | if . == null then "" else ascii_downcase end),
         dedupe_key: "email:mailgun:{tenant}:event:\($id)", ts: .timestamp,
         # Mailgun's send answers the Message-ID as its id: the two are one
         data: ({message_id: $mid, provider_message_id: $mid, from: ($h.from | addr), to: [$r],
                 subject: $h.subject, item: $ids.item} + ($kind.data // {}) | compact),
         tenant: $ids.tenant, correlation_id: $ids.correlation_id}
      | if .correlation_id == null then del(.correlation_id) else . end
    end;

if type != "object" then err("body is not an object"; ".")
elif (."event-data" | type) != "object" then err("missing event-data"; ".event-data")
else ."event-data" | guarded(event; ".event-data")
end
