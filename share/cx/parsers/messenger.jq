# cx-parse mapping: Messenger Platform (Facebook Page) webhook body -> canonical items.
#
# Input : one raw webhook body (object "page").
# Output: a stream, one object per item (SPEC §5), in body order:
#   {"type","channel","account","dedupe_key","ts","data"}   account = entry[].id (the Page);
#         ts = the item's own timestamp as delivered (epoch ms number) or null
#   {"error":"short reason","path":".entry[0].messaging[3]"}
# C turns ts into occurred_at and wraps the envelope. Reasons never quote payload values.
# instagram.jq carries the same messaging mapping (libjq compiles one file, no include).
# jq 1.6 only (Debian 12).

def str: if . == null then null else tostring end;
# Drops null members. del() of the paths is several times cheaper in jq 1.6
# than with_entries, which rebuilds the object from an array of entries.
def compact: del(.[keys_unsorted[] as $k | select(.[$k] == null) | $k]);
def err($reason; $path): {error: $reason, path: $path};
def indexed: if type == "array" then range(0; length) as $i | [$i, .[$i]] else empty end;
def need($what): if . == null or . == "" then error({cx: ("missing " + $what)}) else . end;
# One bad item -> one error object; jq's own messages are dropped (they can quote values).
def guarded(f; $path):
  try f catch (if type == "object" and has("cx") then err(.cx; $path) else err("malformed item"; $path) end);
def item($type; $acct; $key; $ts; $data):
  {type: $type, channel: "messenger", account: $acct, dedupe_key: $key, ts: $ts, data: $data};
# epoch seconds or ms (number or numeric string) -> RFC 3339, same rule as the C envelope;
# a string with a quote is no number, and libjq 1.6's tonumber leaks on some such strings
def rfc3339:
  (if type == "string" then (if contains("\"") then null else (tonumber? // null) end)
   elif type == "number" then . else null end)
  | if . == null then null else (if . > 100000000000 then . / 1000 else . end) | floor | todate end;

def attachment:
  {type, id: (.payload.sticker_id // .payload.id | str), url: .payload.url, title: .payload.title} | compact;

# like -> like; an emoji -> emoji; any other named reaction -> custom. An unreact may
# carry neither (kind and value null then).
def reaction_of:
  if .reaction == "like" then {kind: "like", value: "like"}
  elif (.emoji // "") != "" then {kind: "emoji", value: .emoji}
  elif .reaction != null then {kind: "custom", value: .reaction}
  else {kind: null, value: null} end;

# One entry.messaging[] element. $acct = the Page id.
def messaging($acct):
  (.sender.id // .sender.user_ref | need("sender") | str) as $from
  | (.recipient.id // .recipient.user_ref | str) as $to
  | .timestamp as $ts
  | if .message then
      .message as $m
      | ($m.is_echo == true) as $echo                  # sent by the Page (or its inbox)
      | ($m.mid | need("mid")) as $mid
      | item("message"; $acct; "dm:messenger:\($acct):msg:\($mid)"; $ts;
          {direction: (if $echo then "outbound" else "inbound" end),
           conversation_id: (if $echo then $to else $from end), message_id: $mid,
           from: {id: $from}, to: {id: $to}, text: $m.text,
           attachments: [$m.attachments[]? | attachment], reply_to: $m.reply_to.mid,
           quick_reply: $m.quick_reply, commands: $m.commands, referral: $m.referral,
           app_id: ($m.app_id | str), metadata: $m.metadata} | compact)
    elif .postback then
      .postback as $pb
      | ($pb.mid | need("mid")) as $mid
      | item("message"; $acct; "dm:messenger:\($acct):msg:\($mid)"; $ts;
          {direction: "inbound", conversation_id: $from, message_id: $mid, from: {id: $from},
           to: {id: $to}, text: $pb.title, attachments: [],
           postback: ({title: $pb.title, payload: $pb.payload} | compact), referral: $pb.referral} | compact)
    elif .reaction then
      .reaction as $r
      | ($r.mid | need("reaction target")) as $target
      | (if $r.action == "react" then "added" elif $r.action == "unreact" then "removed"
         else error({cx: "unknown reaction action"}) end) as $act
      | ($r | reaction_of) as $rx
      | "react:messenger:\($acct):message:\($target):\($from)" as $rkey   # same for add and removal
      | item("reaction.\($act)"; $acct; "\($rkey):\($rx.value // ""):\($act):\($ts | need("timestamp"))"; $ts;
          {target: {kind: "message", id: $target, conversation_id: $from}, actor_id: $from,
           reaction: $rx, reaction_key: $rkey})
    elif .read then
      # Messenger reads carry a watermark (everything sent before it was read)
      (.read.mid // .read.watermark | need("read mid or watermark")) as $upto
      | item("read.receipt"; $acct; "dm:messenger:\($acct):read:\($from):\($upto)"; $ts;
          {conversation_id: $from, reader_id: $from, message_id: .read.mid, watermark: .read.watermark} | compact)
    elif .delivery then
      # one message.status per delivered mid; a watermark-only delivery keys on the watermark
      .delivery as $d
      | if ($d.mids | length) > 0 then
          ($d.mids[] | need("mid")) as $mid
          | item("message.status"; $acct; "dm:messenger:\($acct):status:\($mid):delivered"; $ts;
              {message_id: $mid, recipient_id: $from, conversation_id: $from, status: "delivered",
               errors: [], watermark: $d.watermark} | compact)
        else
          ($d.watermark | need("delivery mids or watermark")) as $w
          | item("message.status"; $acct; "dm:messenger:\($acct):status:\($from):\($w):delivered"; $ts;
              {recipient_id: $from, conversation_id: $from, status: "delivered", errors: [], watermark: $w})
        end
    elif .sender_action == "typing_on" or .sender_action == "typing_off" then
      # not a documented webhook: mapped only if Meta ever sends it in the Send API's shape
      (($ts | need("timestamp") | if type == "string" and contains("\"") then error("not a number")
          else tonumber end) / 10000 | floor) as $bucket
      | (.sender_action | ltrimstr("typing_")) as $state
      | item("typing"; $acct; "dm:messenger:\($acct):typing:\($from):\($from):\($state):\($bucket)"; $ts;
          {conversation_id: $from, actor_id: $from, state: $state})
    else error({cx: "unknown messaging event"}) end;

# entry.changes[] on the Page object: only leadgen maps to a canonical type.
def change($acct):
  .value as $v
  | if .field == "leadgen" then
      ($v.leadgen_id | need("leadgen_id") | str) as $lead
      | ($v.page_id // $acct | str) as $page
      | item("lead"; $acct; "lead:messenger:\($page):\($lead)"; $v.created_time;
          {leadgen_id: $lead, form_id: ($v.form_id | str), page_id: $page, ad_id: ($v.ad_id | str),
           adgroup_id: ($v.adgroup_id | str), created_at: ($v.created_time | rfc3339)} | compact)
    else error({cx: "unknown change field"}) end;

def entry($p):
  (.id | str) as $acct
  | if $acct == null or $acct == "" then err("missing entry id"; $p)
    else
      (.messaging | indexed | .[0] as $k | .[1] | guarded(messaging($acct); $p + ".messaging[\($k)]")),
      (.changes | indexed | .[0] as $k | .[1] | guarded(change($acct); $p + ".changes[\($k)]")),
      # standby: another app owns the thread; acting on it would talk over that app
      (.standby | indexed | err("standby event not mapped"; $p + ".standby[\(.[0])]"))
    end;

if type != "object" then err("body is not an object"; ".")
elif .object != "page" then err("unexpected object"; ".object")
elif (.entry | type) != "array" then err("missing entry array"; ".entry")
else .entry | indexed | .[0] as $i | .[1] | guarded(entry(".entry[\($i)]"); ".entry[\($i)]")
end
