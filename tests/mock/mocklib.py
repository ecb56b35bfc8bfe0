"""What the mock servers in tests/mock share (tests and bench only): the
command line, the server, the record file, fixtures and a request handler's
plumbing.

    NAME.py [PORT] [--record FILE] [--lifetime SECONDS] [--FLAG VALUE]...

A mock listens on 127.0.0.1:PORT (0 picks a free port), prints the port on
the first line of stdout and stops after SECONDS (default 300). Its state
sits under one lock; POST /_control programs it, and its requests are
appended to the record file as JSON lines (keys sorted).
"""
import hashlib
import json
import os
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)


def spend(fail):
    """FAIL ({"times": N, ...}) while it has times left, one fewer from now
    on; else None."""
    if fail and fail["times"] > 0:
        fail["times"] -= 1
        return fail
    return None


def take_step(steps):
    """The next STEP of a script (a non-empty list of them, answered in
    order; a STEP with "times": N answers N requests)."""
    step = steps[0]
    left = step.get("times", 1) - 1
    if left > 0:
        steps[0] = dict(step, times=left)
    else:
        steps.pop(0)
    return step


def json_line(body):
    """BODY as one line of JSON; nothing for None."""
    return b"" if body is None else (json.dumps(body) + "\n").encode()


class State:
    """A mock's state: its lock and the record file, opened for each entry."""

    def __init__(self, record):
        self.lock = threading.Lock()
        self.record = record

    def set_record(self, path):
        self.record = path

    def log(self, entry):
        with self.lock:
            with open(self.record, "a") as f:
                f.write(json.dumps(entry, sort_keys=True) + "\n")

    def apply(self, c, *settings):
        """What every /_control request C may say: {"reset": true},
        {"record": FILE}, and SETTINGS, attributes set to C's values as they
        are. The caller holds the lock."""
        if c.get("reset"):
            self.reset()
        if "record" in c:
            self.set_record(c["record"])
        for key in settings:
            if key in c:
                setattr(self, key, c[key])


class OpenRecordState(State):
    """A State that keeps its record file open (None: records nothing), for
    mocks under a benchmark's load."""

    def __init__(self, record):
        super().__init__(open(record, "a") if record else None)

    def set_record(self, path):
        if self.record:
            self.record.close()
        self.record = open(path, "a") if path else None

    def log(self, entry):
        with self.lock:
            if self.record:
                self.record.write(json.dumps(entry, sort_keys=True) + "\n")
                self.record.flush()


class ScriptedState(OpenRecordState):
    """An OpenRecordState whose answers a test may script: script maps a
    route ("METHOD /path", or "*" for any) to the STEPs its next requests
    get (see take_step)."""

    def __init__(self, record):
        super().__init__(record)
        self.script = {}

    def add_script(self, script):
        """Appends the steps of SCRIPT ({route: [STEP, ...]}). The caller
        holds the lock."""
        for route, steps in script.items():
            self.script.setdefault(route, []).extend(steps)

    def take_step(self, route):
        """The next STEP scripted for ROUTE, else for "*"; None when none."""
        with self.lock:
            for key in (route, "*"):
                steps = self.script.get(key)
                if steps:
                    return take_step(steps)
            return None


class Handler(BaseHTTPRequestHandler):
    """Answers with self.reply(STATUS, BODY, HEADERS) then self.send(): BODY
    as JSON of content_type. A nodelay handler answers without Nagle's
    delay."""

    protocol_version = "HTTP/1.1"
    content_type = "application/json; charset=utf-8"
    nodelay = False

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        if self.nodelay:
            # headers and body are written apart: without this, Nagle's
            # algorithm and the client's delayed ACK add 40 ms to every answer
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def read_request(self):
        """The body; sets self.route (the path) and self.query (a dict)."""
        url = urllib.parse.urlsplit(self.path)
        self.route = url.path
        self.query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        return self.read_body()

    def read_json(self):
        """read_request, and the body's JSON value (None when empty or not
        JSON)."""
        raw = self.read_request()
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def auth_scheme(self):
        auth = self.headers.get("Authorization") or ""
        return auth.split(" ")[0].lower() if auth else None

    def bearer(self, default=None):
        """The token of "Authorization: Bearer TOKEN", else DEFAULT."""
        auth = self.headers.get("Authorization") or ""
        return auth[7:] if auth.startswith("Bearer ") else default

    def record(self, **fields):
        """Appends this request to the record file: ts, method, path, query
        and FIELDS."""
        self.server.state.log(dict({"ts": time.time(), "method": self.command,
                                    "path": self.route, "query": self.query}, **fields))

    def record_call(self, token, **fields):
        """record, with the scheme and SHA-256 of the credentials (TOKEN),
        the Idempotency-Key, the request's JSON (self.body) and the answer
        (self.out; None for none)."""
        self.record(auth=self.auth_scheme(),
                    token_sha256=hashlib.sha256(token.encode()).hexdigest() if token else None,
                    idempotency_key=self.headers.get("Idempotency-Key"), body=self.body,
                    status=self.out[0] if self.out else None,
                    response=self.out[1] if self.out else None, **fields)

    def reply(self, status, body, headers=None):
        self.out = (status, body, headers or {})

    def send(self):
        self.send_json(*self.out)

    def send_json(self, status, body, headers=None):
        """BODY as a line of JSON; None: an empty body without a type."""
        data = json_line(body)
        self.send_body(status, headers, data, self.content_type if data else None)

    def send_body(self, status, headers, data, content_type=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def hangs(self, step):
        """Whether STEP is {"hang_ms": N} or {"drop": true}: then there is
        no answer (self.out None), send_late closes the connection after N ms."""
        if step.get("hang_ms") is None and not step.get("drop"):
            return False
        self.out = None
        self.hang_ms = step.get("hang_ms") or 0
        self.close_connection = True
        return True

    def answer(self, dispatch):
        """Answers with the next STEP scripted for this request's route
        (self.scripted(STEP), a ScriptedState's), else with DISPATCH();
        returns how late to send it (ms): STEP's "latency_ms", else the
        state's latency_ms."""
        st = self.server.state
        step = st.take_step(self.command + " " + self.route)
        if step is None:
            dispatch()
            return st.latency_ms
        self.scripted(step)
        return step.get("latency_ms", st.latency_ms)

    def send_late(self, latency_ms):
        """Sends the answer LATENCY_MS late, or nothing (see hangs)."""
        if self.out is None:
            # recorded first: the client has given up long before this ends
            time.sleep(self.hang_ms / 1000)
            return
        if latency_ms:
            time.sleep(latency_ms / 1000)
        self.send()


class Server(ThreadingHTTPServer):
    daemon_threads = True


class BusyServer(Server):
    # many clients connect at once (curl multi): a short listen backlog
    # would drop their SYNs and add seconds of retransmission
    request_queue_size = 256


def main(handler, state, server=Server, record="requests.jsonl", **flags):
    """Runs a mock from its command line (see above): STATE(record=FILE,
    **FLAGS) is the server's state, HANDLER answers its requests. FLAGS
    are the mock's own options with their defaults (latency_ms=0 is
    --latency-ms N): an int takes a number, a list collects every value."""
    name = os.path.basename(sys.argv[0])
    args = sys.argv[1:]
    port = int(args.pop(0)) if args and not args[0].startswith("--") else 0
    options = dict(flags, record=record, lifetime=300)
    keys = {"--" + key.replace("_", "-"): key for key in options}
    while args:
        flag = args.pop(0)
        if flag not in keys:
            sys.exit(name + ": unknown option " + flag)
        key, value = keys[flag], args.pop(0)
        if isinstance(options[key], int):
            value = int(value)
        elif isinstance(options[key], list):
            value = options[key] + [value]
        options[key] = value
    lifetime = options.pop("lifetime")
    st = state(**options)
    httpd = server(("127.0.0.1", port), handler)
    httpd.state = st
    # bounded: the mock never outlives a test run
    threading.Timer(lifetime, httpd.shutdown).start()
    print(httpd.server_address[1], flush=True)
    httpd.serve_forever()
