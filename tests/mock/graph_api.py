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
import hashlib
import json
import secrets
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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


class State:
    def __init__(self, record, latency_ms, version):
        self.lock = threading.Lock()
        self.record = open(record, "a") if record else None
        self.version = version
        self.default_latency = latency_ms
        self.reset()

    def reset(self):
        self.latency_ms = self.default_latency
        self.script = {}
        self.sent = 0

    def set_record(self, path):
        if self.record:
            self.record.close()
        self.record = open(path, "a") if path else None

    def log(self, entry):
        with self.lock:
            if self.record:
                self.record.write(json.dumps(entry, sort_keys=True) + "\n")
                self.record.flush()

    def take_step(self, route):
        with self.lock:
            for key in (route, "*"):
                steps = self.script.get(key)
                if steps:
                    step = steps[0]
                    left = step.get("times", 1) - 1
                    if left > 0:
                        steps[0] = dict(step, times=left)
                    else:
                        steps.pop(0)
                    return step
            return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-graph-api/1"

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        # headers and body are written apart: without this, Nagle's
        # algorithm and the client's delayed ACK add 40 ms to every answer
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle_any(self):
        st = self.server.state
        url = urllib.parse.urlsplit(self.path)
        self.route = url.path
        self.query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            self.body = json.loads(raw) if raw else None
        except ValueError:
            self.body = None
        self.out = (500, {}, {})
        self.hang_ms = 0
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
        auth = self.headers.get("Authorization") or ""
        token = auth[7:] if auth.startswith("Bearer ") else self.query.get("access_token")
        st.log({
            "ts": time.time(), "method": self.command, "path": self.route,
            "query": {k: v for k, v in self.query.items() if k != "access_token"},
            "auth": auth.split(" ")[0].lower() if auth else None,
            "token_sha256": hashlib.sha256(token.encode()).hexdigest() if token else None,
            "idempotency_key": self.headers.get("Idempotency-Key"),
            "body": self.body, "status": self.out[0] if self.out else None,
            "response": self.out[1] if self.out else None,
        })
        if self.out is None:
            # recorded first: the client has given up long before this ends
            time.sleep(self.hang_ms / 1000)
            return
        if latency:
            time.sleep(latency / 1000)
        self.send()

    do_GET = do_POST = do_DELETE = handle_any

    def reply(self, status, body, headers=None):
        self.out = (status, body, headers or {})

    def send(self):
        status, body, headers = self.out
        data = json.dumps(body).encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, str(v))
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def scripted(self, step):
        if step.get("hang_ms") is not None or step.get("drop"):
            self.out = None
            self.hang_ms = step.get("hang_ms") or 0
            self.close_connection = True
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
            if c.get("reset"):
                st.reset()
            if "record" in c:
                st.set_record(c["record"])
            if "latency_ms" in c:
                st.latency_ms = c["latency_ms"]
            for route, steps in c.get("script", {}).items():
                st.script.setdefault(route, []).extend(steps)
        self.reply(200, {"ok": True})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # many clients connect at once (curl multi): a short listen backlog
    # would drop their SYNs and add seconds of retransmission
    request_queue_size = 256


def main():
    args = sys.argv[1:]
    port = int(args.pop(0)) if args and not args[0].startswith("--") else 0
    record, latency, version, lifetime = None, 0, "v24.0", 300
    while args:
        flag = args.pop(0)
        if flag == "--record":
            record = args.pop(0)
        elif flag == "--latency-ms":
            latency = int(args.pop(0))
        elif flag == "--version":
            version = args.pop(0)
        elif flag == "--lifetime":
            lifetime = int(args.pop(0))
        else:
            sys.exit("graph_api.py: unknown option " + flag)
    server = Server(("127.0.0.1", port), Handler)
    server.state = State(record, latency, version)
    # bounded: the mock never outlives a test run
    threading.Timer(lifetime, server.shutdown).start()
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
