# cx-parse mapping: SendGrid Inbound Parse -> email.received.
#
# Input : what cx-ingest stores for POST /webhooks/sendgrid-inbound:
#         {"form":{"<field>":"<value>",...},"attachments":[{"field","filename",
#          "content_type","size","sha256"}]}; form holds Inbound Parse's fields
#         (from, to, cc, subject, text, html, headers: the raw header block,
#         envelope: a JSON string, attachment-info, ...). With "POST the raw,
#         full MIME message" there is no headers field: the header block is read
#         from the top of the email field, and there is no text or html.
# Output: one email.received item, or {"error","path"}. Addresses are bare
#         addr-specs ("Name <a@b>" -> "a@b"; the From's name is from_name);
#         attachments are metadata only. ts: the Date header (Inbound Parse
#         posts no time of its own). account: the first envelope recipient in
#         lower case, which the accounts table maps to a tenant ("tenant": null).
# dedupe_key: "email:sendgrid:<tenant>:in:<Message-ID without <>>".
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
# A raw header block -> its lines (split and a lookup per header stay linear in
# the block's size, where jq 1.6's gsub would not).
def header_lines: split("\n") | map(rtrimstr("\r"));
# The value of header $n (lower-case name) in $lines: its first line and the
# folded lines after it, joined; null when there is none.
def header($lines; $n):
  ($n + ":") as $p | ($p | length) as $len
  | first((range(0; $lines | length) | select($lines[.][0:$len] | ascii_downcase == $p)), null) as $i
  | if $i == null then null
    else first((range($i + 1; $lines | length) | select($lines[.][0:1] | . != " " and . != "\t")),
               ($lines | length)) as $stop
      | [$lines[$i][$len:], $lines[$i + 1:$stop][]] | map(sub("^[ \t]+"; "")) | join(" ") | sub("[ \t]+$"; "")
    end;
# An RFC 5322 date ("Tue, 1 Dec 2026 10:00:00 +0100") -> epoch seconds, or null.
def date_epoch:
  def pad2: tostring | if length < 2 then "0" + . else . end;
  {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
   "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12} as $months
  | try (capture("(?<d>[0-9]{1,2})\\s+(?<mon>[A-Za-z]{3})\\s+(?<y>[0-9]{4})\\s+(?<H>[0-9]{2}):(?<M>[0-9]{2})(:(?<S>[0-9]{2}))?\\s*(?<z>[+-][0-9]{4})?")
         | ($months[.mon | ascii_downcase] | need("month")) as $m
         | ("\(.y)-\($m | pad2)-\(.d | pad2)T\(.H):\(.M):\(.S // "00")Z" | fromdateiso8601)
           - (if .z == null then 0
              else (.z[0:1] | if . == "-" then -1 else 1 end)
                   * ((.z[1:3] | tonumber) * 3600 + (.z[3:5] | tonumber) * 60) end))
    catch null;

def received:
  .form as $f
  | .attachments as $files
  | ($f.headers // ($f.email | if type == "string" then split("\r\n\r\n")[0] | split("\n\n")[0] else null end)
     // "" | header_lines) as $hs
  | def hdr($n): header($hs; $n);
  (hdr("message-id") | msgid | need("Message-ID")) as $mid
  | ($f.envelope | parse_json) as $env
  | ($f.to | addr_list) as $to
  # the From field, else the From header (when the field holds no address)
  | ([$f.from, hdr("from")] | map(select(addr != null)) | .[0]) as $from
  | ($f."attachment-info" | parse_json | if type == "object" then . else {} end) as $info
  | {type: "email.received", channel: "email",
     account: ((if ($env | type) == "object" and ($env.to | type) == "array" then $env.to[0] else null end)
               // $to[0] | addr | if . == null then "" else ascii_downcase end),
     dedupe_key: "email:sendgrid:{tenant}:in:\($mid)", ts: (hdr("date") | date_epoch),
     data: ({message_id: $mid, in_reply_to: (hdr("in-reply-to") | msgid),
             from: ($from | addr), from_name: ($from | display_name),
             to: $to, cc: ($f.cc | addr_list), subject: $f.subject, text: $f.text, html: $f.html,
             attachments: [$files[]? | (.field // "") as $k | ($info[$k] // {}) as $i
                           | {name: (.filename // $i.filename // $i.name), type: (.content_type // $i.type),
                              size, sha256} | compact]} | compact),
     tenant: null};

if type != "object" then err("body is not an object"; ".")
elif (.form | type) != "object" then err("missing form"; ".form")
else guarded(received; ".form")
end
