# cx-parse mapping: SendGrid Event Webhook -> email.* items.
#
# Input : the JSON array SendGrid posts to /webhooks/sendgrid; each element is
#         one event about one recipient.
# Output: one item per element: processed -> email.sent, delivered ->
#         email.delivered, deferred -> email.delayed, bounce -> email.bounced
#         (type "bounce" or none: hard; "blocked": soft), dropped ->
#         email.rejected, spamreport -> email.complained; nothing for open, click,
#         unsubscribe, group_unsubscribe and group_resubscribe (cx does not track
#         engagement); or {"error","path"} naming the element (".[3]").
#   Items carry "tenant" (custom arg cx_tenant, or null: the accounts lookup)
#   and "correlation_id" (custom arg cx_correlation_id) for C. SendGrid's events
#   name no sender, so their account is "".
# Provider event id (dedupe_key "email:sendgrid:<tenant>:event:<id>"): sg_event_id.
# jq 1.6 only (Debian 12). Reasons never quote payload values.

def compact: del(.[keys_unsorted[] as $k | select(.[$k] == null) | $k]);
def err($reason; $path): {error: $reason, path: $path};
def indexed: if type == "array" then range(0; length) as $i | [$i, .[$i]] else empty end;
def need($what): if . == null or . == "" then error({cx: ("missing " + $what)}) else . end;
def guarded(f; $path):
  try f catch (if type == "object" and has("cx") then err(.cx; $path) else err("malformed item"; $path) end);
def msgid:
  if type != "string" then null
  else sub("^\\s*<"; "") | sub(">\\s*$"; "") | if . == "" then null else . end end;
# What cx sent with the message (custom args, top-level fields of each event):
# {tenant, correlation_id, item}, each null when absent.
def cx_ids($tags):
  def tag($n): $tags[$n] | if type == "array" then .[0] else . end;
  def valid($n; $re): tag($n) | if . == null then null elif type == "string" and test($re) then .
                               else error({cx: ("invalid " + $n + " tag")}) end;
  {tenant: valid("cx_tenant"; "^[A-Za-z0-9_-]{1,64}$"),
   correlation_id: valid("cx_correlation_id"; "^[A-Za-z0-9_.:-]{1,128}$"),
   item: (valid("cx_item"; "^(queue|command)[-:][0-9]{1,18}$")
          | if . == null then null else sub("-"; ":") end)};

# One event of the array.
def event:
  . as $e
  | (.sg_event_id | need("sg_event_id")) as $id
  | (.email | need("recipient")) as $r
  | cx_ids($e) as $ids
  | .event as $t
  | (if $t == "processed" then {type: "email.sent"}
     elif $t == "delivered" then {type: "email.delivered"}
     elif $t == "deferred" then {type: "email.delayed", data: {reason: .response}}
     elif $t == "bounce" then
       {type: "email.bounced",
        data: {bounce: ({type: (if .type == null or .type == "bounce" then "hard"
                                elif .type == "blocked" then "soft"
                                else error({cx: "unknown bounce type"}) end),
                         sub_type: (.type // "bounce"), diagnostic: .reason, status,
                         recipient: $r} | compact)}}
     elif $t == "dropped" then {type: "email.rejected", data: {reason: .reason}}
     elif $t == "spamreport" then {type: "email.complained"}
     elif $t | IN("open", "click", "unsubscribe", "group_unsubscribe", "group_resubscribe") then null
     else error({cx: "unknown event"}) end) as $kind
  | if $kind == null then empty
    else
      {type: $kind.type, channel: "email", account: "",
       dedupe_key: "email:sendgrid:{tenant}:event:\($id)", ts: .timestamp,
       # sg_message_id is the X-Message-Id of the send, then ".filter..." and more
       data: ({message_id: (."smtp-id" | msgid),
               provider_message_id: (.sg_message_id | if type == "string" then sub("\\.filter.*$"; "")
                                                      | if . == "" then null else . end else null end),
               to: [$r], item: $ids.item} + ($kind.data // {}) | compact),
       tenant: $ids.tenant, correlation_id: $ids.correlation_id}
      | if .correlation_id == null then del(.correlation_id) else . end
    end;

# cx-ingest stores the posted array as {"events": [...]} (its inbox keeps
# objects); a raw body given to cx-parse --provider is the array itself.
(if type == "object" and (.events | type) == "array" then .events else . end)
| if type != "array" then err("body is not an array of events"; ".")
  else indexed | .[0] as $i | .[1] | guarded(if type != "object" then error({cx: "event is not an object"}) else event end; ".[\($i)]")
  end
