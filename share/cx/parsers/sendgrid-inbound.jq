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
def addr:
  if type != "string" then null
  else ((capture("<(?<a>[^<>]*)>").a) // .) | sub("^\\s+"; "") | sub("\\s+$"; "")
       | if test("^[^\\s<>@]+@[^\\s<>@]+$") then . else null end end;
# The display name of "Name <a@b>" or "\"Name\" <a@b>", or null.
def display_name:
  if type != "string" then null
  else [capture("^\\s*\"?(?<n>[^\"<]*?)\"?\\s*<").n | select(. != "")][0] end;
# An address list header -> its addr-specs (commas inside quotes or <> do not split).
def addr_list:
  if type != "string" then []
  else [scan("(?:\"(?:[^\"\\\\]|\\\\.)*\"|<[^>]*>|[^,\"<])+") | addr | select(. != null)] end;
def msgid:
  if type != "string" then null
  else sub("^\\s*<"; "") | sub(">\\s*$"; "") | if . == "" then null else . end end;
# A raw header block -> [[name, value], ...], folded lines joined.
def header_pairs:
  gsub("\r?\n[ \t]+"; " ") | split("\n")
  | map(sub("\r$"; "") | capture("^(?<n>[!-9;-~]+):[ \t]*(?<v>.*)$") | [.n, .v]);
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
     // "" | header_pairs) as $hs
  | def hdr($n): [$hs[] | select(.[0] | ascii_downcase == $n) | .[1]][0];
  (hdr("message-id") | msgid | need("Message-ID")) as $mid
  | (try ($f.envelope | fromjson) catch null) as $env
  | ($f.to | addr_list) as $to
  # the From field, else the From header (when the field holds no address)
  | ([$f.from, hdr("from")] | map(select(addr != null)) | .[0]) as $from
  | (try ($f."attachment-info" | fromjson) catch null | if type == "object" then . else {} end) as $info
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
