#!/usr/bin/env python3
"""A mock of the Meta Graph API send endpoints cx-publish uses (tests and
bench only).

    graph_api.py PORT [--record FILE] [--latency-ms N] [--version v24.0]
                      [--lifetime SECONDS]

Listens on 127.0.0.1:PORT (0 picks a free port) and prints the port on the
first line of stdout. It answers as the Graph API does:

  POST /VERSION/PHONE_NUMBER_ID/messages   WhatsApp Cloud API (a body with
      messaging_product "whatsapp"): 200 {"messaging_product":"whatsapp",
      "contacts":[{"input","wa_id"}],"messages":[{"id":"wamid..."}]}
  POST /VERSION/(PAGE_OR_IG_ID|me)/messages   Messenger and Instagram DMs:
      200 {"recipient_id","message_id"}
  POST /VERSION/COMMENT_ID/replies         Instagram comment replies: {"id"}

Errors have Graph's shape {"error": {"message", "type", "code",
"error_subcode"?, "error_data"?, "fbtrace_id"}}: no token is code 2500, a
malformed body code 100.

POST /_control (JSON) programs it, per test:
  {"reset": true}, {"record": FILE}, {"latency_ms": N}
  {"script": {"POST /v24.0/123/messages": [STEP, ...]}}  (or the route "*"
      for any send) the next requests get these answers in order (a STEP
      with "times": N answers N requests). A STEP:
        {"graph_error": CODE}    Meta's error for CODE with its usual HTTP
                                 status: 131047 re-engagement, 130429 and
                                 131056 rate limits, 4 app rate limit,
                                 2 service unavailable (500), 190 expired
                                 token (401), 100 invalid parameter, 131026
                                 undeliverable, 803 no such object
        {"status": S, "body": {...}, "headers": {...}}
        {"hang_ms": N} / {"drop": true}  read the request, accept the
                                 message, then answer nothing
        "latency_ms": N          this answer only, N ms late

Every request except /_control is appended to the record file as one JSON
line: ts, method, path, query, auth, token_sha256, idempotency_key, body
(parsed JSON), status, response."""
import base64
import json
import os
import secrets
import sys

# Found beside this file, whatever sys.path says (python3 -P, PYTHONPATH).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mocklib  # noqa: E402

# Meta's error bodies for the codes tests ask for: (HTTP status, error).
GRAPH_ERRORS = {
    131047: (400, {"message": "(#131047) Re-engagement message", "type": "OAuthException",
                   "code": 131047, "error_data": {
                       "messaging_product": "whatsapp",
                       "details": "Message failed to send because more than 24 hours have "
                                  "passed since the customer last replied to this number."}}),
    130429: (400, {"message": "(#130429) Rate limit hit", "type": "OAuthException",
                   "code": 130429, "error_data": {
                       "messaging_product": "whatsapp",
                       "details": "Cloud API message throughput has been reached."}}),
    131056: (400, {"message": "(#131056) (Business Account, Consumer Account) pair rate limit hit",
                   "type": "OAuthException", "code": 131056, "error_data": {
                       "messaging_product": "whatsapp",
                       "details": "Too many messages sent from the sender phone number to the "
                                  "same recipient phone number in a short period of time."}}),
    4: (400, {"message": "(#4) Application request limit reached", "type": "OAuthException",
              "is_transient": True, "code": 4}),
    2: (500, {"message": "An unexpected error has occurred. Please retry your request later.",
              "type": "OAuthException", "is_transient": True, "code": 2}),
    190: (401, {"message": "Error validating access token: Session has expired on Tuesday, "
                           "01-Jan-30 00:00:00 PST.",
                "type": "OAuthException", "code": 190, "error_subcode": 463}),
    100: (400, {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100}),
    131026: (400, {"message": "(#131026) Message Undeliverable.", "type": "OAuthException",
                   "code": 131026, "error_data": {
                       "messaging_product": "whatsapp",
                       "details": "Message Undeliverable."}}),
    803: (400, {"message": "(#803) Some of the aliases you requested do not exist",
                "type": "OAuthException", "code": 803}),
}


def fbtrace():
    return base64.b64encode(secrets.token_bytes(8)).decode().rstrip("=")


def graph_error(code, message=None, status=400):
    if code in GRAPH_ERRORS:
        status, err = GRAPH_ERRORS[code]
        err = dict(err)
    else:
        err = {"message": message or "(#%d) error" % code, "type": "OAuthException",
               "code": code}
    err["fbtrace_id"] = fbtrace()
    return status, {"error": err}


class State(mocklib.ScriptedState):
    def __init__(self, record, latency_ms, version):
        super().__init__(record)
        self.version = version
        self.default_latency = latency_ms
        self.reset()

    def reset(self):
        self.latency_ms = self.default_latency
        self.script = {}
        self.sent = 0


class Handler(mocklib.Handler):
    server_version = "mock-graph-api/1"
    content_type = "application/json; charset=UTF-8"
    nodelay = True

    def handle_any(self):
        st = self.server.state
        self.body = self.read_json()
        self.out = (500, {}, {})
        if self.route == "/_control":
            self.control()
            return self.send()
        latency = st.latency_ms
        step = st.take_step(self.command + " " + self.route) if self.command == "POST" else None
        if step is not None:
            latency = step.get("latency_ms", latency)
            self.scripted(step)
        else:
            self.dispatch()
        self.record_call(self.bearer(self.query.get("access_token")),
                         query={k: v for k, v in self.query.items() if k != "access_token"})
        self.send_late(latency)

    do_GET = do_POST = do_DELETE = handle_any

    def send(self):
        status, body, headers = self.out
        self.send_body(status, headers, json.dumps(body).encode(), self.content_type)

    def scripted(self, step):
        if self.hangs(step):
            return
        if "graph_error" in step:
            status, body = graph_error(step["graph_error"], step.get("message"))
            return self.reply(step.get("status", status), body, step.get("headers"))
        self.reply(step.get("status", 500), step.get("body", {}), step.get("headers"))

    def dispatch(self):
        r, m = self.route, self.command
        if (m, r) == ("GET", "/_health"):
            return self.reply(200, {"ok": True})
        auth = self.headers.get("Authorization") or ""
        if not auth.startswith("Bearer ") and not self.query.get("access_token"):
            return self.reply(*graph_error(2500, "An active access token must be used to "
                                                 "query information about the current user."))
        parts = r.strip("/").split("/")
        if m != "POST" or len(parts) != 3 or parts[0] != self.server.state.version:
            return self.reply(400, {"error": {
                "message": "Unknown path components: /" + "/".join(parts[1:]),
                "type": "OAuthException", "code": 2500, "fbtrace_id": fbtrace()}})
        node, edge = parts[1], parts[2]
        b = self.body if isinstance(self.body, dict) else None
        if b is None:
            return self.reply(*graph_error(100))
        if edge == "replies":
            if not isinstance(b.get("message"), str) or not b["message"]:
                return self.reply(*graph_error(100))
            return self.reply(200, {"id": str(17900000000000000 + self.count())})
        if edge != "messages":
            return self.reply(*graph_error(100))
        if b.get("messaging_product") == "whatsapp":
            return self.whatsapp(b)
        recipient = (b.get("recipient") or {}).get("id")
        text = (b.get("message") or {}).get("text")
        if not recipient or not isinstance(text, str):
            return self.reply(*graph_error(100))
        self.reply(200, {"recipient_id": recipient,
                         "message_id": "m_" + base64.urlsafe_b64encode(
                             secrets.token_bytes(24)).decode().rstrip("=")})

    def count(self):
        st = self.server.state
        with st.lock:
            st.sent += 1
            return st.sent

    def whatsapp(self, b):
        to, kind = b.get("to"), b.get("type", "text")
        if not isinstance(to, str) or not to:
            return self.reply(*graph_error(100))
        if kind == "text" and not ((b.get("text") or {}).get("body")):
            return self.reply(*graph_error(100))
        if kind == "template" and not ((b.get("template") or {}).get("name")):
            return self.reply(*graph_error(100))
        self.count()
        wa_id = "".join(ch for ch in to if ch.isdigit())
        wamid = "wamid." + base64.b64encode(secrets.token_bytes(30)).decode()
        self.reply(200, {"messaging_product": "whatsapp",
                         "contacts": [{"input": to, "wa_id": wa_id}],
                         "messages": [{"id": wamid}]})

    def control(self):
        st, c = self.server.state, self.body or {}
        with st.lock:
            st.apply(c, "latency_ms")
            st.add_script(c.get("script", {}))
        self.reply(200, {"ok": True})


if __name__ == "__main__":
    mocklib.main(Handler, State, server=mocklib.BusyServer, record=None, latency_ms=0,
                 version="v24.0")
