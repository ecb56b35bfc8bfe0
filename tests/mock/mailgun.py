#!/usr/bin/env python3
"""A mock of Mailgun's messages endpoint (tests and bench only).

    mailgun.py [PORT] [--record FILE] [--api-key KEY] [--domain DOMAIN]
               [--latency-ms N] [--lifetime SECONDS]

Listens on 127.0.0.1:PORT (0 picks a free port) and prints the port on the
first line of stdout. It answers as Mailgun does:

  POST /v3/DOMAIN/messages   200 {"id": "<...@DOMAIN>",
                             "message": "Queued. Thank you."}

  HTTP Basic other than api:KEY      401, the text "Forbidden"
  another domain                     404 {"message": "Domain not found: D"}
  a body that is no form (multipart/form-data or urlencoded)
                                     400 {"message": "..."}
  no from, to or subject             400 {"message": "'from' parameter is
                                     missing"} (and so on)
  neither text, html nor template    400 {"message": "Need at least one of
                                     'text', 'html' or 'template' parameters
                                     specified"}

POST /_control (JSON) programs it, per test:
  {"reset": true}, {"record": FILE}, {"latency_ms": N}, {"api_key": KEY},
  {"domain": DOMAIN}
  {"script": {"POST /v3/DOMAIN/messages": [STEP, ...]}} (or the route "*")
      the next authorized requests get these answers in order (a STEP with
      "times": N answers N requests). A STEP:
        {"status": S, "body": {...}, "headers": {...}}  (Mailgun's errors
            are {"message": ...}: 429 and 5xx as the test needs them)
        {"hang_ms": N} / {"drop": true}  accept the message, then answer
            nothing
        "latency_ms": N   this answer only, N ms late

Every request except /_control is appended to the record file as one JSON
line: ts, method, path, query, auth (scheme), user, token_sha256 (of the
password), content_type (without its boundary), fields ([name, value] in
the order sent; repeated names repeat), attachments ([{name, filename,
content_type, size, sha256}]), status, response, message_id."""
import base64
import email.parser
import email.policy
import hashlib
import hmac
import json
import os
import secrets
import sys
import time
import urllib.parse

# Found beside this file, whatever sys.path says (python3 -P, PYTHONPATH).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mocklib  # noqa: E402

REQUIRED = ("from", "to", "subject")
NO_BODY = "Need at least one of 'text', 'html' or 'template' parameters specified"


def utf8(s):
    """A header value the parser read as ASCII (bytes > 127 as surrogates)
    as the UTF-8 it was."""
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace") if s else s


def parse_form(content_type, raw):
    """The fields ([name, value]) and file parts of a form body, or None
    when it is not one."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        try:
            pairs = urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True,
                                           strict_parsing=bool(raw))
        except (UnicodeDecodeError, ValueError):
            return None
        return [list(p) for p in pairs], []
    if ctype != "multipart/form-data":
        return None
    head = ("Content-Type: %s\r\nMIME-Version: 1.0\r\n\r\n" % content_type).encode()
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    if not msg.is_multipart() or msg.defects:
        return None
    fields, files = [], []
    for part in msg.iter_parts():
        name = utf8(part.get_param("name", header="content-disposition"))
        if part.get_content_disposition() != "form-data" or name is None:
            return None
        data = part.get_payload(decode=True) or b""
        filename = utf8(part.get_filename())
        if filename is None:
            try:
                fields.append([name, data.decode("utf-8")])
            except UnicodeDecodeError:
                return None
        else:
            files.append({"name": name, "filename": filename,
                          "content_type": part.get_content_type(), "size": len(data),
                          "sha256": hashlib.sha256(data).hexdigest()})
    return fields, files


def basic_auth(header):
    """(user, password) of an HTTP Basic Authorization header, or None."""
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, sep, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def message_id(domain):
    """An id shaped like Mailgun's: <YYYYMMDDhhmmss.N.HEX@DOMAIN>."""
    return "<%s.1.%s@%s>" % (time.strftime("%Y%m%d%H%M%S", time.gmtime()),
                             secrets.token_hex(8).upper(), domain)


class State(mocklib.OpenRecordState):
    def __init__(self, record, api_key, domain, latency_ms):
        super().__init__(record)
        self.defaults = (api_key, domain, latency_ms)
        self.reset()

    def reset(self):
        self.api_key, self.domain, self.latency_ms = self.defaults
        self.script = {}

    def take_step(self, route):
        with self.lock:
            for key in (route, "*"):
                steps = self.script.get(key)
                if steps:
                    return mocklib.take_step(steps)
            return None


class Handler(mocklib.Handler):
    server_version = "mock-mailgun/1"
    nodelay = True

    def handle_any(self):
        st = self.server.state
        raw = self.read_request()
        self.out = (500, {}, {})
        self.message_id = None
        self.form = None
        if self.route == "/_control":
            try:
                self.control(json.loads(raw or b"{}"))
            except ValueError:
                self.reply(400, {"message": "not JSON"})
            return self.send()
        latency = st.latency_ms
        self.form = parse_form(self.headers.get("Content-Type"), raw)
        creds = basic_auth(self.headers.get("Authorization"))
        if self.authorized(creds):
            step = st.take_step(self.command + " " + self.route)
            if step is not None:
                latency = step.get("latency_ms", latency)
                self.scripted(step)
            else:
                self.dispatch()
        fields, files = self.form or (None, None)
        self.record(auth=self.auth_scheme(), user=creds[0] if creds else None,
                    token_sha256=hashlib.sha256(creds[1].encode()).hexdigest() if creds else None,
                    content_type=(self.headers.get("Content-Type") or "").split(";")[0] or None,
                    fields=fields, attachments=files,
                    status=self.out[0] if self.out else None,
                    response=self.out[1] if self.out else None, message_id=self.message_id)
        self.send_late(latency)

    do_GET = do_POST = do_PUT = do_DELETE = handle_any

    def send(self):
        status, body, headers = self.out
        if isinstance(body, str):
            return self.send_body(status, headers, body.encode(), "text/plain; charset=utf-8")
        self.send_json(status, body, headers)

    def authorized(self, creds):
        """Whether CREDS are api:KEY; else self.out is Mailgun's 401."""
        key = self.server.state.api_key
        if not creds or creds[0] != "api" or not hmac.compare_digest(
                creds[1].encode(), key.encode()):
            self.reply(401, "Forbidden")
            return False
        return True

    def dispatch(self):
        parts = self.route.strip("/").split("/")
        if self.command != "POST" or len(parts) != 3 or parts[0] != "v3" \
                or parts[2] != "messages":
            return self.reply(404, {"message": "Not Found"})
        domain = self.server.state.domain
        if parts[1] != domain:
            return self.reply(404, {"message": "Domain not found: " + parts[1]})
        if self.form is None:
            return self.reply(400, {"message": "The request body is not a form: send "
                                               "multipart/form-data or "
                                               "application/x-www-form-urlencoded"})
        names = {name for name, value in self.form[0] if value}
        for name in REQUIRED:
            if name not in names:
                return self.reply(400, {"message": "'%s' parameter is missing" % name})
        if not names & {"text", "html", "template"}:
            return self.reply(400, {"message": NO_BODY})
        self.message_id = message_id(domain)
        self.reply(200, {"id": self.message_id, "message": "Queued. Thank you."})

    def scripted(self, step):
        if self.hangs(step):
            self.message_id = message_id(self.server.state.domain)
            return
        self.reply(step.get("status", 500), step.get("body", {}), step.get("headers"))

    def control(self, c):
        st = self.server.state
        with st.lock:
            st.apply(c, "latency_ms", "api_key", "domain")
            for route, steps in c.get("script", {}).items():
                st.script.setdefault(route, []).extend(steps)
        self.reply(200, {"ok": True})


if __name__ == "__main__":
    mocklib.main(Handler, State, server=mocklib.BusyServer, record=None,
                 api_key="key-test", domain="mg.example.com", latency_ms=0)
