# cx-parse mapping: Amazon SES events, as Amazon SNS posts them -> email.* items.
#
# Input : the SNS message cx-ingest stores for POST /webhooks/ses. For Type
#         "Notification", .Message is a JSON string holding one SES event in either
#         of SES's shapes: event publishing through a configuration set ("eventType",
#         the message tags in mail.tags) or identity feedback notifications
#         ("notificationType", no tags). "SubscriptionConfirmation" and
#         "UnsubscribeConfirmation" (cx-ingest acts on those) give nothing.
# Output: one item per recipient SES names for Bounce, Complaint, Delivery and
#         DeliveryDelay; one per message for Send, Reject and Rendering Failure;
#         nothing for Open, Click and Subscription (cx does not track engagement); or
#         {"error","path"}, paths inside .Message naming the decoded event.
#   Items carry "tenant" (tag cx_tenant, or null: the accounts lookup by account,
#   the sender's address) and "correlation_id" (tag cx_correlation_id) for C.
# Provider event id (dedupe_key "email:ses:<tenant>:event:<id>"):
#   <mail.messageId>:<event>[:<recipient>], event one of send, delivery, bounce,
#   complaint, reject, renderingfailure, deliverydelay:<deliveryDelay.timestamp>.
#   It does not depend on SNS: a redelivered SNS message, or the same SES event
#   through both shapes, has the same key.
# jq 1.6 only (Debian 12). Reasons never quote payload values.

def compact: del(.[keys_unsorted[] as $k | select(.[$k] == null) | $k]);
def err($reason; $path): {error: $reason, path: $path};
def indexed: if type == "array" then range(0; length) as $i | [$i, .[$i]] else empty end;
def need($what): if . == null or . == "" then error({cx: ("missing " + $what)}) else . end;
def guarded(f; $path):
  try f catch (if type == "object" and has("cx") then err(.cx; $path) else err("malformed item"; $path) end);
# "Name <a@b>" or "a@b" -> "a@b"; null for anything that holds no address.
# One regex (jq 1.6 compiles one per call), none for text without an @.
def addr:
  if type != "string" or (contains("@") | not) then null
  else [capture("^\\s*(?:[^<>]*<)?(?<a>[^\\s<>@]+@[^\\s<>@]+)>?\\s*$").a][0] end;
# fromjson, or null for text that is not JSON. libjq 1.6 leaks a string that
# follows a value with no separator ("[1 \"a\"]"), so text where a string is
# not preceded by one of [{,: or not followed by one of ,:]} never reaches
# the parser (possessive, so linear).
def parse_json:
  if type == "string" and test("^(?:[\\[{,:]\\s*\"(?:[^\"\\\\]|\\\\.)*+\"\\s*(?=[,:\\]}])|[^\"])*+$")
  then (try fromjson catch null) else null end;
def msgid:
  if type != "string" then null
  else sub("^\\s*<"; "") | sub(">\\s*$"; "") | if . == "" then null else . end end;
# SES times are ISO 8601 with milliseconds; C wants epoch seconds.
def epoch: if type == "string" then (try (sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601) catch null) else null end;
# What cx sent with the message (mail.tags, each a list of one value; tenant
# names are [A-Za-z0-9_-], 1 to 64 characters, as cx tenants takes them):
# {tenant, correlation_id, item}, each null when absent.
def cx_ids($tags):
  def tag($n): $tags[$n] | if type == "array" then .[0] else . end;
  def valid($n; $re): tag($n) | if . == null then null elif type == "string" and test($re) then .
                               else error({cx: ("invalid " + $n + " tag")}) end;
  {tenant: valid("cx_tenant"; "^[A-Za-z0-9_-]{1,64}$"),
   correlation_id: valid("cx_correlation_id"; "^[A-Za-z0-9_.:-]{1,128}$"),
   item: (valid("cx_item"; "^(queue|command)[-:][0-9]{1,18}$")
          | if . == null then null else sub("-"; ":") end)};

# One item. $c: what every item of the event shares ({ids, account, data}).
def item($c; $type; $id; $ts; $to; $extra):
  {type: $type, channel: "email", account: $c.account,
   dedupe_key: "email:ses:{tenant}:event:\($id)", ts: $ts,
   data: ($c.data + {to: $to} + $extra | compact),
   tenant: $c.ids.tenant, correlation_id: $c.ids.correlation_id}
  | if .correlation_id == null then del(.correlation_id) else . end;

def bounce_type:
  if . == "Permanent" then "hard"
  elif . == "Transient" or . == "Undetermined" then "soft"
  else error({cx: "unknown bounce type"}) end;

# Each element of a recipients list at $p -> f($recipient), or one error.
def per_recipient($list; $p; f):
  if ($list | type) != "array" or ($list | length) == 0 then err("no recipients"; $p)
  else $list | indexed | .[0] as $i | .[1] | guarded(f; $p + "[\($i)]") end;

# The decoded SES event; $sns_ts: the SNS Timestamp, for events without their own.
def event($sns_ts):
  .mail as $mail
  | ((.eventType // .notificationType) | need("event type")) as $t
  | ($mail.messageId | need("mail.messageId")) as $mid
  | {ids: cx_ids($mail.tags // {}),
     account: ($mail.source | addr | if . == null then "" else ascii_downcase end),
     data: {message_id: (([$mail.headers[]? | select(.name | ascii_downcase == "message-id") | .value][0]
                          // ($mail.commonHeaders.messageId | if . == $mid then null else . end)) | msgid),
            provider_message_id: $mid, from: ($mail.source | addr), to: null,
            subject: $mail.commonHeaders.subject}} as $c
  | ($c | .data.item = $c.ids.item) as $c
  | def ts($own): [$own, $mail.timestamp, $sns_ts] | map(epoch) | map(select(. != null)) | .[0];
  if $t == "Bounce" then
    .bounce as $b | ($b.bounceType | bounce_type) as $kind
    | per_recipient($b.bouncedRecipients; ".Message.bounce.bouncedRecipients";
        (.emailAddress | need("recipient")) as $r
        | item($c; "email.bounced"; "\($mid):bounce:\($r)"; ts($b.timestamp); [$r];
            {bounce: ({type: $kind, sub_type: $b.bounceSubType, diagnostic: .diagnosticCode,
                       status, recipient: $r} | compact)}))
  elif $t == "Complaint" then
    .complaint as $x
    | per_recipient($x.complainedRecipients; ".Message.complaint.complainedRecipients";
        (.emailAddress | need("recipient")) as $r
        | item($c; "email.complained"; "\($mid):complaint:\($r)"; ts($x.timestamp // $x.arrivalDate); [$r];
            {complaint: ({feedback_type: $x.complaintFeedbackType} | compact)}))
  elif $t == "Delivery" then
    .delivery as $x
    | per_recipient($x.recipients; ".Message.delivery.recipients";
        need("recipient") as $r
        | if ($r | type) != "string" then error({cx: "malformed recipient"}) else . end
        | item($c; "email.delivered"; "\($mid):delivery:\($r)"; ts($x.timestamp); [$r]; {}))
  elif $t == "DeliveryDelay" then
    .deliveryDelay as $x
    | per_recipient($x.delayedRecipients; ".Message.deliveryDelay.delayedRecipients";
        (.emailAddress | need("recipient")) as $r
        | item($c; "email.delayed"; "\($mid):deliverydelay:\($x.timestamp | need("delay timestamp")):\($r)";
            ts($x.timestamp); [$r]; {reason: (.diagnosticCode // $x.delayType)}))
  elif $t == "Send" then
    item($c; "email.sent"; "\($mid):send"; ts(null); ($mail.destination // []); {})
  elif $t == "Reject" then
    item($c; "email.rejected"; "\($mid):reject"; ts(null); ($mail.destination // []); {reason: .reject.reason})
  elif $t == "Rendering Failure" then
    item($c; "email.rejected"; "\($mid):renderingfailure"; ts(null); ($mail.destination // []);
      {reason: .failure.errorMessage})
  elif $t | IN("Open", "Click", "Subscription") then empty
  else error({cx: "unknown event type"}) end;

if type != "object" then err("body is not an object"; ".")
elif .Type | IN("SubscriptionConfirmation", "UnsubscribeConfirmation") then empty
elif .Type != "Notification" then err("unknown SNS message type"; ".Type")
elif (.Message | type) != "string" then err("missing Message"; ".Message")
else
  .Timestamp as $sns_ts
  | (.Message | parse_json) as $m
  | if ($m | type) != "object" then err("Message is not a JSON object"; ".Message")
    else $m | guarded(event($sns_ts); ".Message") end
end
