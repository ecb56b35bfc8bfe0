# cx-parse mapping: Mailgun inbound routes (forward) -> email.received.
#
# Input : what cx-ingest stores for POST /webhooks/mailgun-inbound:
#         {"form":{"<field>":"<value>",...},"attachments":[{"field","filename",
#          "content_type","size","sha256"}]}; form holds the route's fields
#         (recipient, sender, from, subject, body-plain, body-html, timestamp,
#         message-headers: a JSON string of [name, value] pairs, and headers
#         such as To, Cc, Message-Id, In-Reply-To).
# Output: one email.received item, or {"error","path"}. Addresses are bare
#         addr-specs ("Name <a@b>" -> "a@b"; the From's name is from_name);
#         attachments are metadata only. ts: the form's timestamp. account: the
#         route's recipient in lower case, which the accounts table maps to a
#         tenant ("tenant": null).
# dedupe_key: "email:mailgun:<tenant>:in:<Message-ID without <>>".
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
# The display name of "Name <a@b>" or "\"Name\" <a@b>", or null.
def display_name:
  if type != "string" then null
  else [capture("^\\s*\"?(?<n>[^\"<]*?)\"?\\s*<").n | select(. != "")][0] end;
# An address list header -> its addr-specs. Commas inside a quoted name do
# not split: the text is cut at quotes, commas outside them become NULs.
# Only split and join (linear in C): jq 1.6's scan is quadratic in matches.
def addr_list:
  if type != "string" then []
  else split("\"") | to_entries
       | map(if .key % 2 == 0 then .value | split(",") | join("\u0000") else .value end)
       | join("\"") | split("\u0000") | map(addr | select(. != null)) end;
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

def received:
  .form as $f
  | .attachments as $files
  | ($f."message-headers" | parse_json | if type == "array" then . else [] end) as $mh
  # a header from the form, else from message-headers (names compared in lower case)
  | def hdr($field; $n):
      $f[$field] // [$mh[] | select(type == "array" and (.[0] | type) == "string" and (.[0] | ascii_downcase) == $n)
                     | .[1]][0];
  (hdr("Message-Id"; "message-id") | msgid | need("Message-Id")) as $mid
  | (hdr("from"; "from") // $f.From) as $from
  | {type: "email.received", channel: "email",
     account: ($f.recipient | if type == "string" then split(",")[0] else null end
               | addr | if . == null then "" else ascii_downcase end),
     dedupe_key: "email:mailgun:{tenant}:in:\($mid)", ts: $f.timestamp,
     data: ({message_id: $mid, in_reply_to: (hdr("In-Reply-To"; "in-reply-to") | msgid),
             from: ($from | addr), from_name: ($from | display_name),
             to: (hdr("To"; "to") | addr_list), cc: (hdr("Cc"; "cc") | addr_list),
             subject: hdr("subject"; "subject"), text: $f."body-plain", html: $f."body-html",
             attachments: [$files[]? | {name: .filename, type: .content_type, size, sha256} | compact]}
            | compact),
     tenant: null};

if type != "object" then err("body is not an object"; ".")
elif (.form | type) != "object" then err("missing form"; ".form")
else guarded(received; ".form")
end
