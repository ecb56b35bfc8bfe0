# cx-parse mapping: Instagram webhook body -> canonical items.
#
# Input : one raw webhook body: object "instagram" (messaging, comments, mentions), or
#         object "page" (leadgen: Instagram lead ads are delivered as Page leadgen changes).
# Output: a stream, one object per item (SPEC §5), in body order:
#   {"type","channel","account","dedupe_key","ts","data"}   account = entry[].id (the IG
#         professional account, or the Page for leadgen); ts = the item's timestamp as
#         delivered (messaging: epoch ms; comments/mentions: entry.time; lead: created_time)
#   {"error":"short reason","path":".entry[0].changes[1]"}
# C turns ts into occurred_at and wraps the envelope. Reasons never quote payload values.
# messenger.jq carries the same messaging mapping (libjq compiles one file, no include).
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
  {type: $type, channel: "instagram", account: $acct, dedupe_key: $key, ts: $ts, data: $data};
# epoch seconds or ms (number or numeric string) -> RFC 3339, same rule as the C envelope;
# a string with a quote is no number, and libjq 1.6's tonumber leaks on some such strings
def rfc3339:
  (if type == "string" then (if contains("\"") then null else (tonumber? // null) end)
   elif type == "number" then . else null end)
  | if . == null then null else (if . > 100000000000 then . / 1000 else . end) | floor | todate end;

# image/video/audio/file/share/story_mention/ig_reel...: the payload carries a url
def attachment:
  {type, id: (.payload.reel_video_id // .payload.id | str), url: .payload.url, title: .payload.title} | compact;

# like -> like; an emoji -> emoji; any other named reaction -> custom. An unreact may
# carry neither (kind and value null then).
def reaction_of:
  if .reaction == "like" then {kind: "like", value: "like"}
  elif (.emoji // "") != "" then {kind: "emoji", value: .emoji}
  elif .reaction != null then {kind: "custom", value: .reaction}
  else {kind: null, value: null} end;

# One entry.messaging[] element. $acct = the IG professional account id.
def messaging($acct):
  (.sender.id | need("sender") | str) as $from
  | (.recipient.id | str) as $to
  | .timestamp as $ts
  | if .message then
      .message as $m
      | if $m.is_deleted == true then error({cx: "deleted message not mapped"}) else . end
      | ($m.is_echo == true) as $echo                  # sent by the business account
      | ($m.mid | need("mid")) as $mid
      | item("message"; $acct; "dm:instagram:\($acct):msg:\($mid)"; $ts;
          {direction: (if $echo then "outbound" else "inbound" end),
           conversation_id: (if $echo then $to else $from end), message_id: $mid,
           from: {id: $from}, to: {id: $to}, text: $m.text,
           attachments: [$m.attachments[]? | attachment], reply_to: $m.reply_to.mid,
           story: $m.reply_to.story, quick_reply: $m.quick_reply, referral: $m.referral,
           unsupported: (if $m.is_unsupported == true then true else null end)} | compact)
    elif .postback then   # icebreaker or generic-template button
      .postback as $pb
      | ($pb.mid | need("mid")) as $mid
      | item("message"; $acct; "dm:instagram:\($acct):msg:\($mid)"; $ts;
          {direction: "inbound", conversation_id: $from, message_id: $mid, from: {id: $from},
           to: {id: $to}, text: $pb.title, attachments: [],
           postback: ({title: $pb.title, payload: $pb.payload} | compact), referral: $pb.referral} | compact)
    elif .reaction then
      .reaction as $r
      | ($r.mid | need("reaction target")) as $target
      | (if $r.action == "react" then "added" elif $r.action == "unreact" then "removed"
         else error({cx: "unknown reaction action"}) end) as $act
      | ($r | reaction_of) as $rx
      | "react:instagram:\($acct):message:\($target):\($from)" as $rkey   # same for add and removal
      | item("reaction.\($act)"; $acct; "\($rkey):\($rx.value // ""):\($act):\($ts | need("timestamp"))"; $ts;
          {target: {kind: "message", id: $target, conversation_id: $from}, actor_id: $from,
           reaction: $rx, reaction_key: $rkey})
    elif .read then   # messaging_seen: Instagram names the message read
      (.read.mid // .read.watermark | need("read mid or watermark")) as $upto
      | item("read.receipt"; $acct; "dm:instagram:\($acct):read:\($from):\($upto)"; $ts;
          {conversation_id: $from, reader_id: $from, message_id: .read.mid, watermark: .read.watermark} | compact)
    else error({cx: "unknown messaging event"}) end;

# entry.changes[]: comments / live_comments, mentions, leadgen. $etime = entry.time.
def change($acct; $etime):
  .value as $v
  | if .field == "comments" or .field == "live_comments" then
      ($v.id | need("comment id") | str) as $cid
      | item("comment"; $acct; "instagram:\($acct):comment:\($cid)"; $etime;
          {comment_id: $cid, media_id: ($v.media.id | str), parent_id: ($v.parent_id | str),
           from: ($v.from | if . == null then null else {id: (.id | str), username} | compact end),
           text: $v.text, media_product_type: $v.media.media_product_type,
           live: (if .field == "live_comments" then true else null end)} | compact)
    elif .field == "mentions" then
      # a mention in a comment names the comment; a mention in a caption has no comment
      # to map (the media must be fetched), so it is reported, not guessed
      ($v.comment_id | if . == null then error({cx: "mention without comment_id"}) else str end) as $cid
      | item("comment"; $acct; "instagram:\($acct):comment:\($cid)"; $etime;
          {comment_id: $cid, media_id: ($v.media_id | str), mention: true} | compact)
    elif .field == "leadgen" then
      ($v.leadgen_id | need("leadgen_id") | str) as $lead
      | ($v.page_id // $acct | str) as $page
      | item("lead"; $acct; "lead:instagram:\($page):\($lead)"; $v.created_time;
          {leadgen_id: $lead, form_id: ($v.form_id | str), page_id: $page, ad_id: ($v.ad_id | str),
           adgroup_id: ($v.adgroup_id | str), created_at: ($v.created_time | rfc3339)} | compact)
    else error({cx: "unknown change field"}) end;

def entry($p):
  (.id | str) as $acct
  | .time as $etime
  | if $acct == null or $acct == "" then err("missing entry id"; $p)
    else
      (.messaging | indexed | .[0] as $k | .[1] | guarded(messaging($acct); $p + ".messaging[\($k)]")),
      (.changes | indexed | .[0] as $k | .[1] | guarded(change($acct; $etime); $p + ".changes[\($k)]")),
      # standby: another app owns the thread; acting on it would talk over that app
      (.standby | indexed | err("standby event not mapped"; $p + ".standby[\(.[0])]"))
    end;

if type != "object" then err("body is not an object"; ".")
elif .object != "instagram" and .object != "page" then err("unexpected object"; ".object")
elif (.entry | type) != "array" then err("missing entry array"; ".entry")
else .entry | indexed | .[0] as $i | .[1] | guarded(entry(".entry[\($i)]"); ".entry[\($i)]")
end
