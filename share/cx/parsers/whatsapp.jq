# cx-parse mapping: WhatsApp Cloud API webhook body -> canonical items.
#
# Input : one raw webhook body (object "whatsapp_business_account").
# Output: a stream, one object per item (SPEC §5), in body order:
#   {"type","channel","account","dedupe_key","ts","data"}   ts = provider timestamp as
#                                                          delivered ("1749416383") or null
#   {"error":"short reason","path":".entry[0].changes[1].value.messages[2]"}
# C turns ts into occurred_at and wraps the envelope. Reasons never quote payload values.
# jq 1.6 only (Debian 12): no pick/abs/toarray/ltrimstr-free tricks.
# Membership is tested with IN, not `[...] | index([x])`: libjq 1.6 leaks every
# element of the array that index/indices search (jv_array_indexes).

def str: if . == null then null else tostring end;
# Drops null members. del() of the paths is several times cheaper in jq 1.6
# than with_entries, which rebuilds the object from an array of entries.
def compact: del(.[keys_unsorted[] as $k | select(.[$k] == null) | $k]);
def err($reason; $path): {error: $reason, path: $path};
# [index, element] for each element of an array; nothing for anything else.
def indexed: if type == "array" then range(0; length) as $i | [$i, .[$i]] else empty end;
# A required field: missing or empty aborts this item with a reason.
def need($what): if . == null or . == "" then error({cx: ("missing " + $what)}) else . end;
# One bad item -> one error object; the rest of the batch is unaffected. jq's own
# messages are dropped because they can quote payload values.
def guarded(f; $path):
  try f catch (if type == "object" and has("cx") then err(.cx; $path) else err("malformed item"; $path) end);
def item($type; $acct; $key; $ts; $data):
  {type: $type, channel: "whatsapp", account: $acct, dedupe_key: $key, ts: $ts, data: $data};

def media($t): .[$t] // {} | {type: $t, id: (.id | str), mime: .mime_type, caption, url, filename} | compact;

# Button-like replies share data.postback {type, payload, title[, description]}; text = title.
def postback:
  if .type == "button" then {type: "button", payload: .button.payload, title: .button.text}
  elif .type == "interactive" then
    .interactive as $x
    | if $x.type == "button_reply" or $x.type == "list_reply" then
        $x[$x.type] | {type: $x.type, payload: (.id | str), title, description}
      elif $x.type == "nfm_reply" then   # WhatsApp Flows answer: payload is the JSON string
        {type: "nfm_reply", payload: $x.nfm_reply.response_json, title: $x.nfm_reply.body}
      else error({cx: "unknown interactive type"}) end
  else null end | if . == null then null else compact end;

# One value.messages[] element. $pn = phone_number_id, $contacts = value.contacts.
def message($pn; $contacts):
  (.id | need("message id")) as $id
  | (.from | need("from") | str) as $from
  | if .type == "reaction" then
      (.reaction.message_id | need("reaction target")) as $target
      | (.reaction.emoji // "") as $emoji          # removal: emoji omitted (or empty)
      | (if $emoji == "" then "removed" else "added" end) as $act
      | "react:whatsapp:\($pn):message:\($target):\($from)" as $rkey   # same for add and removal
      | item("reaction.\($act)"; $pn; "\($rkey):\($emoji):\($act):\(.timestamp | need("timestamp"))"; .timestamp;
          {target: {kind: "message", id: $target, conversation_id: $from}, actor_id: $from,
           reaction: {kind: "emoji", value: (if $emoji == "" then null else $emoji end)},
           reaction_key: $rkey})
    else
      ({direction: "inbound", conversation_id: $from, message_id: $id,
        from: ({id: $from, name: ([$contacts[]? | select((.wa_id | str) == $from)][0].profile.name)} | compact),
        to: {id: $pn}, text: null, attachments: [], reply_to: .context.id, referral}) as $base
      | .type as $t
      | (if $t == "text" then {text: .text.body}
         elif $t | IN("image", "audio", "video", "document", "sticker") then {attachments: [media($t)]}
         elif $t == "location" then {location: (.location | {latitude, longitude, name, address, url} | compact)}
         elif $t == "contacts" then {contacts: .contacts}
         elif $t == "interactive" or $t == "button" then postback as $pb | {text: $pb.title, postback: $pb}
         else error({cx: "unknown message type"}) end) as $extra
      | item("message"; $pn; "whatsapp:\($pn):msg:\($id)"; .timestamp; $base + $extra | compact)
    end;

# One value.statuses[] element: sent/delivered/read/failed of a message the business sent.
def status($pn):
  (.id | need("message id")) as $id
  | (.status | need("status")) as $st
  | if $st | IN("sent", "delivered", "read", "failed") | not then error({cx: "unknown status"}) else . end
  | item("message.status"; $pn; "whatsapp:\($pn):status:\($id):\($st)"; .timestamp;
      {message_id: $id, recipient_id: (.recipient_id | str), conversation_id: (.recipient_id | str), status: $st,
       errors: [.errors[]? | {code, title, message: (.error_data.details // .message // .title)}]} | compact);

def change($p):
  .value as $v
  | ($v.metadata.phone_number_id | str) as $pn
  | if .field != "messages" then err("unknown change field"; $p)
    elif $pn == null or $pn == "" then err("missing phone_number_id"; $p + ".value.metadata")
    elif [$v.messages, $v.statuses] | any(. != null and type != "array") then err("malformed change"; $p + ".value")
    else
      ($v.messages | indexed | .[0] as $k | .[1]
        | guarded(message($pn; $v.contacts); $p + ".value.messages[\($k)]")),
      ($v.statuses | indexed | .[0] as $k | .[1] | guarded(status($pn); $p + ".value.statuses[\($k)]")),
      # change-level errors (e.g. throttling) carry no message to attach them to
      (if ($v.errors | type) == "array" and ($v.errors | length) > 0 then err("change reports errors"; $p + ".value.errors")
       elif ($v.messages | length) == 0 and ($v.statuses | length) == 0 then err("change has no messages or statuses"; $p + ".value")
       else empty end)
    end;

if type != "object" then err("body is not an object"; ".")
elif .object != "whatsapp_business_account" then err("unexpected object"; ".object")
elif (.entry | type) != "array" then err("missing entry array"; ".entry")
else
  .entry | indexed | .[0] as $i | .[1]
  | guarded(.changes | indexed | .[0] as $j | .[1]
            | ".entry[\($i)].changes[\($j)]" as $p | guarded(change($p); $p); ".entry[\($i)]")
end
