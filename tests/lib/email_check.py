"""What a test sees in an e-mail message (a file of raw RFC 5322 bytes, as an
SMTP server received it), read by Python's email package (policy=default),
printed as one JSON object for jq:

    email_check.py FILE.eml

{"headers": {name (lower case): decoded value, or a list when repeated},
 "has_bcc": bool, "defects": [header or part defects],
 "long_lines": number of lines over 998 octets, "bare_lf": bool,
 "tree": {"content_type", "parts": [...]} (multipart) or
         {"content_type", "charset", "transfer_encoding", "disposition"},
 "text": the text/plain body decoded, "html": the text/html body decoded
 (line breaks as "\n"),
 "attachments": [{"filename", "content_type", "size", "sha256"}]}
"""
import email
import hashlib
import json
import sys
from email import policy


def headers(msg):
    out = {}
    for name, value in msg.items():
        key = name.lower()
        value = str(value)
        if key in out:
            prev = out[key]
            out[key] = (prev if isinstance(prev, list) else [prev]) + [value]
        else:
            out[key] = value
    return out


def tree(part):
    node = {"content_type": part.get_content_type()}
    if part.is_multipart():
        node["parts"] = [tree(p) for p in part.iter_parts()]
        return node
    node["charset"] = part.get_content_charset()
    node["transfer_encoding"] = part.get("Content-Transfer-Encoding")
    node["disposition"] = part.get_content_disposition()
    return node


def attachment(part):
    data = part.get_payload(decode=True) or b""
    return {"filename": part.get_filename(), "content_type": part.get_content_type(),
            "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def body(msg, subtype):
    """The decoded text of the text/SUBTYPE body, line breaks as "\n"."""
    part = msg.get_body(preferencelist=(subtype,))
    return part.get_content().replace("\r\n", "\n") if part is not None else None


def defects(msg):
    found = [type(d).__name__ for d in msg.defects]
    for part in msg.walk():
        found += [type(d).__name__ for d in part.defects if part is not msg]
    for value in msg.values():
        found += [type(d).__name__ for d in getattr(value, "defects", ())]
    return found


def check(raw):
    msg = email.message_from_bytes(raw, policy=policy.default)
    lines = raw.split(b"\r\n")
    return {"headers": headers(msg), "has_bcc": "bcc" in msg,
            "defects": defects(msg),
            "long_lines": sum(1 for line in lines if len(line) > 998),
            "bare_lf": any(b"\n" in line for line in lines),
            "tree": tree(msg), "text": body(msg, "plain"), "html": body(msg, "html"),
            "attachments": [attachment(p) for p in msg.iter_attachments()]}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: email_check.py FILE.eml")
    with open(sys.argv[1], "rb") as f:
        raw = f.read()
    # UTF-8 whatever the locale
    out = json.dumps(check(raw), sort_keys=True, ensure_ascii=False) + "\n"
    sys.stdout.buffer.write(out.encode())


if __name__ == "__main__":
    main()
