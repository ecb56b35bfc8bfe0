#!/usr/bin/env python3
"""A mock of SendGrid's v3 Mail Send endpoint (tests and bench only).

    sendgrid.py [PORT] [--record FILE] [--api-key KEY] [--latency-ms N]
                [--lifetime SECONDS]

Listens on 127.0.0.1:PORT (0 picks a free port) and prints the port on the
first line of stdout. It answers as SendGrid does:

  POST /v3/mail/send   202, an empty body and X-Message-Id (a new id)

  no Authorization            401 {"errors": [{"field": null,
                              "message": "authorization required"}]}
  "Bearer " and another key   401 "The provided authorization grant is
                              invalid, expired, or revoked"
  a body that breaks the rules of the Mail Send errors page
                              400 {"errors": [{"message", "field", "help"}]},
                              every problem listed: personalizations (at
                              least one, each with a "to" of addresses),
                              from.email, subject (top level or in every
                              personalization), content (unless a
                              template_id: at least one block, values of at
                              least one character, text/plain first),
                              attachments (content in base64, filename)

POST /_control (JSON) programs it, per test:
  {"reset": true}, {"record": FILE}, {"latency_ms": N}, {"api_key": KEY}
  {"script": {"POST /v3/mail/send": [STEP, ...]}} (or the route "*") the
      next authorized requests get these answers in order (a STEP with
      "times": N answers N requests). A STEP:
        {"sg_error": 429|403|413|500|503}  SendGrid's answer for that status
            (429 with X-RateLimit-* headers; 403 the unverified sender)
        {"status": S, "body": {...}, "headers": {...}}
        {"hang_ms": N} / {"drop": true}  accept the message, then answer
            nothing
        "latency_ms": N   this answer only, N ms late

Every request except /_control is appended to the record file as one JSON
line: ts, method, path, query, auth, token_sha256, idempotency_key, body
(the JSON; each attachment's content replaced by its decoded size and
sha256), status, response, message_id (X-Message-Id of an accepted one)."""
import base64
import binascii
import hashlib
import hmac
import os
import secrets
import sys
import time

# Found beside this file, whatever sys.path says (python3 -P, PYTHONPATH).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mocklib  # noqa: E402

ROUTE = "/v3/mail/send"
HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"

# SendGrid's bodies (its Mail Send errors page and API answers).
NO_AUTH = {"errors": [{"field": None, "message": "authorization required"}]}
BAD_KEY = {"errors": [{"message": "The provided authorization grant is invalid, expired, "
                                  "or revoked", "field": None, "help": None}]}
STATUS_ERRORS = {
    429: {"errors": [{"field": None, "message": "too many requests"}]},
    403: {"errors": [{"message": "The from address does not match a verified Sender "
                                 "Identity. Mail cannot be sent until this error is resolved. "
                                 "Visit https://sendgrid.com/docs/for-developers/sending-email/"
                                 "sender-identity/ to see the Sender Identity requirements",
                      "field": "from", "help": None}]},
    413: {"errors": [{"field": None, "message": "Payload Too Large"}]},
    500: {"errors": [{"field": None, "message": "internal error"}]},
    503: {"errors": [{"field": None, "message": "service unavailable"}]},
}


def error(message, field, anchor):
    return {"message": message, "field": field, "help": HELP + anchor}


def check_personalizations(b):
    ps = b.get("personalizations")
    if not isinstance(ps, list) or not ps:
        return [error("The personalizations field is required and must have at least one "
                      "personalization.", "personalizations", "#-Personalizations-Errors")]
    errs = []
    for i, p in enumerate(ps):
        to = p.get("to") if isinstance(p, dict) else None
        if not isinstance(to, list) or not to or not all(
                isinstance(t, dict) and isinstance(t.get("email"), str) and "@" in t["email"]
                for t in to):
            errs.append(error("The to array is required for all personalization objects, and "
                              "must have at least one email object with a valid email address.",
                              "personalizations.%d.to" % i, "#message.personalizations.to"))
    return errs


def check_content(b):
    if b.get("template_id") and "content" not in b:
        return []
    content = b.get("content")
    if not isinstance(content, list) or not content:
        return [error("Unless a valid template_id is provided, the content parameter is "
                      "required. There must be at least one defined content block. We "
                      "typically suggest both text/plain and text/html blocks are included, "
                      "but only one block is required.", "content", "#message.content")]
    errs = []
    for i, c in enumerate(content):
        if not isinstance(c, dict) or not isinstance(c.get("value"), str) or not c["value"]:
            errs.append(error("The content value must be a string at least one character in "
                              "length.", "content.%d.value" % i, "#message.content.value"))
    types = [c.get("type") for c in content if isinstance(c, dict)]
    if "text/plain" in types and types.index("text/plain") != 0:
        errs.append(error("If present, text/plain content must be first, followed by "
                          "text/html, followed by any other content.", "content",
                          "#message.content"))
    return errs


def check_attachments(b):
    errs = []
    for i, a in enumerate(b.get("attachments") or []):
        a = a if isinstance(a, dict) else {}
        try:
            base64.b64decode(a.get("content") or "", validate=True)
            encoded = bool(a.get("content"))
        except (binascii.Error, ValueError):
            encoded = False
        if not encoded:
            errs.append(error("The attachment content must be base64 encoded.",
                              "attachments.%d.content" % i, "#message.attachments.content"))
        if not a.get("filename"):
            errs.append(error("The attachment filename parameter is required.",
                              "attachments.%d.filename" % i, "#message.attachments.filename"))
    return errs


def check_body(b):
    """SendGrid's errors for the Mail Send body B (a list, empty when none)."""
    if not isinstance(b, dict):
        return [{"message": "Bad Request", "field": None, "help": None}]
    errs = check_personalizations(b)
    sender = b.get("from")
    if not isinstance(sender, dict) or not isinstance(sender.get("email"), str) \
            or "@" not in sender["email"]:
        errs.append(error("The from object must be provided for every email send. It is an "
                          "object that requires the email parameter, but may also contain a "
                          "name parameter.  e.g. {\"email\" : \"example@example.com\"}  or "
                          "{\"email\" : \"example@example.com\", \"name\" : \"Example "
                          "Recipient\"}.", "from.email", "#message.from"))
    ps = b.get("personalizations") if isinstance(b.get("personalizations"), list) else []
    if not b.get("subject") and not b.get("template_id") and not (ps and all(
            isinstance(p, dict) and p.get("subject") for p in ps)):
        errs.append(error("The subject is required. You can get around this requirement if "
                          "you use a template with a subject defined or if every "
                          "personalization has a subject defined.", "subject",
                          "#message.subject"))
    return errs + check_content(b) + check_attachments(b)


def recorded_body(b):
    """B with each attachment's content replaced by its size and sha256."""
    if not isinstance(b, dict) or not isinstance(b.get("attachments"), list):
        return b
    atts = []
    for a in b["attachments"]:
        if isinstance(a, dict) and isinstance(a.get("content"), str):
            try:
                data = base64.b64decode(a["content"])
            except (binascii.Error, ValueError):
                data = a["content"].encode()
            a = dict(a, content={"size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        atts.append(a)
    return dict(b, attachments=atts)


def message_id():
    """An id shaped like X-Message-Id: 22 characters of base64url."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).decode()[:22]


class State(mocklib.OpenRecordState):
    def __init__(self, record, api_key, latency_ms):
        super().__init__(record)
        self.defaults = (api_key, latency_ms)
        self.reset()

    def reset(self):
        self.api_key, self.latency_ms = self.defaults
        self.script = {}

    def take_step(self, route):
        with self.lock:
            for key in (route, "*"):
                steps = self.script.get(key)
                if steps:
                    return mocklib.take_step(steps)
            return None


class Handler(mocklib.Handler):
    server_version = "mock-sendgrid/1"
    nodelay = True

    def handle_any(self):
        st = self.server.state
        self.body = self.read_json()
        self.out = (500, {}, {})
        self.message_id = None
        if self.route == "/_control":
            self.control()
            return self.send()
        latency = st.latency_ms
        if self.authorized():
            step = st.take_step(self.command + " " + self.route)
            if step is not None:
                latency = step.get("latency_ms", latency)
                self.scripted(step)
            else:
                self.dispatch()
        token = self.bearer()
        body, self.body = self.body, recorded_body(self.body)
        self.record_call(token, message_id=self.message_id)
        self.body = body
        self.send_late(latency)

    do_GET = do_POST = do_PUT = do_DELETE = handle_any

    def authorized(self):
        """Whether the request bears the key; else self.out is the 401."""
        auth = self.headers.get("Authorization")
        key = self.server.state.api_key
        if not auth:
            self.reply(401, NO_AUTH)
            return False
        if not hmac.compare_digest((self.bearer() or "").encode(), key.encode()):
            self.reply(401, BAD_KEY)
            return False
        return True

    def dispatch(self):
        if (self.command, self.route) != ("POST", ROUTE):
            return self.reply(404, {"errors": [{"field": None, "message": "not found"}]})
        errs = check_body(self.body)
        if errs:
            return self.reply(400, {"errors": errs})
        self.accept()

    def accept(self):
        self.message_id = message_id()
        self.reply(202, None, {"X-Message-Id": self.message_id})

    def scripted(self, step):
        if self.hangs(step):
            self.message_id = message_id()
            return
        if "sg_error" in step:
            status = step["sg_error"]
            headers = {}
            if status == 429:
                headers = {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0",
                           "X-RateLimit-Reset": str(int(time.time()) + 60)}
            body = STATUS_ERRORS.get(status, STATUS_ERRORS[500])
            return self.reply(status, body, headers)
        self.reply(step.get("status", 500), step.get("body", {}), step.get("headers"))

    def control(self):
        st, c = self.server.state, self.body or {}
        with st.lock:
            st.apply(c, "latency_ms", "api_key")
            for route, steps in c.get("script", {}).items():
                st.script.setdefault(route, []).extend(steps)
        self.reply(200, {"ok": True})


if __name__ == "__main__":
    mocklib.main(Handler, State, server=mocklib.BusyServer, record=None,
                 api_key="SG.test-key", latency_ms=0)
