#!/usr/bin/env python3
"""A mock of a client's package-upload API with tracked delivery (tests and
bench only): what cx-publish's upload channel sends to and cx-sync
deliveries polls.

    upload_target.py [PORT] [--record FILE] [--api-key KEY] [--store DIR]
                     [--sequence S1,S2,...] [--max-bytes N] [--latency-ms N]
                     [--lifetime SECONDS]

Listens on 127.0.0.1:PORT (0 picks a free port) and prints the port on the
first line of stdout. The key is --api-key, else $UPLOAD_TARGET_API_KEY,
else "upload-test-key".

  POST /packages   multipart/form-data (Content-Length or chunked), read as
                   it arrives: each file part is written to DIR (--store,
                   default a new temporary directory the mock leaves for
                   its caller to remove) while its size and
                   SHA-256 are counted, never held whole; other parts are
                   fields. 201 {"id": "pkg-000001", "status": "accepted"}
                   (ids count up from 1 per run).
  GET /packages/ID 200 {"id", "status"}: the package's sequence, one step
                   per poll, the last one repeated: by default accepted,
                   processing, delivered (--sequence, or "sequence" below).

  an Authorization other than "Bearer KEY"
                             401 {"error": "unauthorized", "message": ...}
                             (the body is read and dropped, not parsed; one
                             over --max-bytes is not read: the connection
                             closes)
  not multipart/form-data, no boundary, a malformed body or no file part
                             400 {"error": "bad_request", "message": ...}
  a body over --max-bytes (default 4 GiB)
                             413 {"error": "too_large", ...}
  an unknown ID              404 {"error": "not_found", ...}

POST /_control (JSON) programs it, per test:
  {"reset": true}, {"record": FILE}, {"latency_ms": N}, {"api_key": KEY},
  {"max_bytes": N},
  {"sequence": [S, ...]}  the statuses of packages uploaded from now on,
  {"package": ID, "sequence": [S, ...]}  one package's statuses from its
      next poll on,
  {"script": {"POST /packages" | "GET /packages/ID" | "*": [STEP, ...]}}
      the next authorized requests get these answers in order (a STEP with
      "times": N answers N requests). A STEP:
        {"status": S, "body": {...}, "headers": {...}}  (an upload is not
            kept, a poll does not advance)
        {"hang_ms": N} / {"drop": true}  the upload is kept (the poll
            advances), then no answer: the connection closes after N ms
        "latency_ms": N   this answer only, N ms late

Every request except /_control is appended to the record file as one JSON
line: ts, method, path, query, auth (scheme), token_sha256, correlation_id
(X-Correlation-Id), content_type (without parameters), length (the body's
bytes), fields ([name, value] in the order sent), files ([{name, filename,
content_type, size, sha256, path}]), id, status, response."""
import email.message
import email.parser
import email.policy
import hashlib
import hmac
import os
import sys
import tempfile
import urllib.parse

# Found beside this file, whatever sys.path says (python3 -P, PYTHONPATH).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mocklib  # noqa: E402

CHUNK = 1 << 16
HEADER_LIMIT = 16384


class BadForm(Exception):
    """What makes a body no multipart form (the 400's message)."""


class TooLarge(Exception):
    pass


def body_chunks(rfile, headers, limit):
    """The request body in chunks as it arrives (Content-Length or chunked
    transfer coding), at most LIMIT bytes."""
    if (headers.get("Transfer-Encoding") or "").lower() == "chunked":
        total = 0
        while True:
            line = rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise BadForm("malformed chunked body")
            if size == 0:
                while rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return
            total += size
            if total > limit:
                raise TooLarge()
            while size:
                data = rfile.read(min(size, CHUNK))
                if not data:
                    raise BadForm("body ended early")
                size -= len(data)
                yield data
            rfile.readline(1024)
    try:
        left = int(headers.get("Content-Length") or 0)
    except ValueError:
        left = -1
    if left < 0:
        raise BadForm("a bad Content-Length")
    if left > limit:
        raise TooLarge()
    while left:
        data = rfile.read(min(left, CHUNK))
        if not data:
            raise BadForm("body ended early")
        left -= len(data)
        yield data


class Part:
    """A part being read: its headers, and a file it streams to (file
    parts) or its bytes (fields)."""

    def __init__(self, head, store, name):
        msg = email.parser.BytesHeaderParser(policy=email.policy.HTTP).parsebytes(head)
        if msg.get_content_disposition() != "form-data":
            raise BadForm("a part without Content-Disposition: form-data")
        self.name = msg.get_param("name", header="content-disposition")
        if self.name is None:
            raise BadForm("a part without a name")
        self.filename = msg.get_filename()
        self.content_type = msg.get_content_type()
        self.size = 0
        self.sha = hashlib.sha256()
        self.data = bytearray()
        self.path = None
        self.out = None
        if self.filename is not None:
            self.path = os.path.join(store, name)
            self.out = open(self.path, "wb")

    def write(self, data):
        self.size += len(data)
        self.sha.update(data)
        if self.out:
            self.out.write(data)
        elif len(self.data) + len(data) > HEADER_LIMIT * 64:
            raise BadForm("a field over 1 MiB")
        else:
            self.data += data

    def close(self):
        if self.out:
            self.out.close()
            self.out = None


def parse_multipart(chunks, boundary, store, prefix):
    """(fields, files) of a multipart body read from CHUNKS, file parts
    streamed to STORE/PREFIX-N; BadForm when it is malformed (nothing is
    then left in STORE)."""
    delim = b"\r\n--" + boundary
    buf = bytearray(b"\r\n")
    it = iter(chunks)

    def more():
        data = next(it, None)
        if data is None:
            raise BadForm("the body ended before the closing boundary")
        buf.extend(data)

    def find(needle, limit):
        while (i := buf.find(needle)) < 0:
            if len(buf) > limit:
                raise BadForm("no boundary, or part headers over 16 KiB")
            more()
        return i

    parts = []
    try:
        del buf[:find(delim, HEADER_LIMIT) + len(delim)]
        while True:
            while len(buf) < 2:
                more()
            if buf[:2] == b"--":
                break
            if buf[:2] != b"\r\n":
                raise BadForm("a boundary followed by neither CRLF nor --")
            del buf[:2]
            i = find(b"\r\n\r\n", HEADER_LIMIT)
            part = Part(bytes(buf[:i + 2]), store, "%s-%d" % (prefix, len(parts)))
            parts.append(part)
            del buf[:i + 4]
            while (i := buf.find(delim)) < 0:
                if len(buf) > len(delim):
                    part.write(bytes(buf[:-len(delim)]))
                    del buf[:-len(delim)]
                more()
            part.write(bytes(buf[:i]))
            part.close()
            del buf[:i + len(delim)]
        for _ in it:
            pass
    except BadForm:
        for p in parts:
            p.close()
            if p.path:
                os.unlink(p.path)
        raise
    fields, files = [], []
    for p in parts:
        if p.path is None:
            try:
                fields.append([p.name, p.data.decode("utf-8")])
            except UnicodeDecodeError:
                raise BadForm("a field that is not UTF-8")
        else:
            files.append({"name": p.name, "filename": p.filename,
                          "content_type": p.content_type, "size": p.size,
                          "sha256": p.sha.hexdigest(), "path": p.path})
    return fields, files


class Package:
    def __init__(self, pid, sequence):
        self.id = pid
        self.sequence = list(sequence)
        self.polls = 0

    def poll(self):
        """The status of this poll; the next poll gets the next one."""
        status = self.sequence[min(self.polls, len(self.sequence) - 1)]
        self.polls += 1
        return status


class State(mocklib.ScriptedState):
    def __init__(self, record, api_key, store, sequence, max_bytes, latency_ms):
        super().__init__(record)
        self.store = store or tempfile.mkdtemp(prefix="upload-target.")
        self.defaults = (api_key or os.environ.get("UPLOAD_TARGET_API_KEY")
                         or "upload-test-key", sequence.split(","), latency_ms, max_bytes)
        self.requests = 0
        self.reset()

    def reset(self):
        self.api_key, self.sequence, self.latency_ms, self.max_bytes = self.defaults
        self.packages = {}
        self.script = {}

    def register(self):
        """A new package (the caller holds the lock)."""
        pid = "pkg-%06d" % (len(self.packages) + 1)
        self.packages[pid] = Package(pid, self.sequence)
        return pid


class Handler(mocklib.Handler):
    server_version = "mock-upload-target/1"
    nodelay = True

    def handle_any(self):
        st = self.server.state
        self.out = (500, {}, {})
        self.pid = None
        self.form = (None, None)
        self.form_error = None
        self.length = 0
        url = self.path.split("?")[0]
        if url == "/_control":
            self.body = self.read_json()
            self.control()
            return self.send()
        self.read_request_line()
        token = self.bearer()
        try:
            if self.authorized(token):
                if self.command == "POST" and self.route == "/packages":
                    self.read_form()
                latency = self.answer(self.dispatch)
            else:
                self.drain()
                latency = st.latency_ms
        except TooLarge:
            self.reply(413, {"error": "too_large", "message": "The body is over %d bytes."
                             % st.max_bytes})
            self.close_connection = True
            latency = 0
        fields, files = self.form
        self.record(auth=self.auth_scheme(),
                    token_sha256=hashlib.sha256(token.encode()).hexdigest() if token else None,
                    correlation_id=self.headers.get("X-Correlation-Id"),
                    content_type=(self.headers.get("Content-Type") or "").split(";")[0] or None,
                    length=self.length, fields=fields, files=files, id=self.pid,
                    status=self.out[0] if self.out else None,
                    response=self.out[1] if self.out else None)
        self.send_late(latency)

    do_GET = do_POST = do_PUT = do_DELETE = handle_any

    def read_request_line(self):
        """Sets self.route and self.query, leaving the body unread."""
        url = urllib.parse.urlsplit(self.path)
        self.route = url.path
        self.query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))

    def chunks(self):
        for data in body_chunks(self.rfile, self.headers, self.server.state.max_bytes):
            self.length += len(data)
            yield data

    def drain(self):
        try:
            for _ in self.chunks():
                pass
        except (BadForm, TooLarge):
            self.close_connection = True

    def authorized(self, token):
        """Whether TOKEN is the key; else self.out is the 401."""
        with self.server.state.lock:
            key = self.server.state.api_key
        if token is not None and hmac.compare_digest(token.encode(), key.encode()):
            return True
        self.reply(401, {"error": "unauthorized",
                         "message": "A valid API key is required (Authorization: Bearer)."})
        return False

    def read_form(self):
        """Reads the upload into self.form, or sets self.form_error."""
        st = self.server.state
        msg = email.message.EmailMessage(policy=email.policy.HTTP)
        msg["Content-Type"] = self.headers.get("Content-Type") or "text/plain"
        boundary = msg.get_param("boundary")
        if msg.get_content_type() != "multipart/form-data" or not boundary:
            self.form_error = "The body must be multipart/form-data with a boundary."
            return self.drain()
        with st.lock:
            st.requests += 1
            prefix = "upload%d" % st.requests
        try:
            self.form = parse_multipart(self.chunks(), boundary.encode(), st.store, prefix)
        except BadForm as e:
            self.form_error = "Malformed multipart body: %s." % e
            self.close_connection = True
            return
        if not self.form[1]:
            self.form_error = "The form has no file part."

    def dispatch(self):
        st = self.server.state
        if self.command == "POST" and self.route == "/packages":
            if self.form_error:
                return self.reply(400, {"error": "bad_request", "message": self.form_error})
            with st.lock:
                self.pid = st.register()
            return self.reply(201, {"id": self.pid, "status": "accepted"})
        parts = self.route.split("/")
        if self.command == "GET" and len(parts) == 3 and parts[1] == "packages":
            with st.lock:
                pkg = st.packages.get(parts[2])
                status = pkg.poll() if pkg else None
            if pkg:
                self.pid = pkg.id
                return self.reply(200, {"id": pkg.id, "status": status})
            return self.reply(404, {"error": "not_found",
                                    "message": "No package " + parts[2] + "."})
        self.reply(404, {"error": "not_found", "message": "No such endpoint."})

    def scripted(self, step):
        if step.get("hang_ms") is not None or step.get("drop"):
            self.dispatch()
            self.hangs(step)
            return
        self.reply(step.get("status", 500), step.get("body", {}), step.get("headers"))

    def control(self):
        st, c = self.server.state, self.body or {}
        with st.lock:
            st.apply(c, "latency_ms", "api_key", "max_bytes")
            if "package" in c:
                pkg = st.packages[c["package"]]
                pkg.sequence, pkg.polls = list(c["sequence"]), 0
            elif "sequence" in c:
                st.sequence = list(c["sequence"])
            st.add_script(c.get("script", {}))
        self.reply(200, {"ok": True})


if __name__ == "__main__":
    mocklib.main(Handler, State, server=mocklib.BusyServer, record=None, api_key="",
                 store="", sequence="accepted,processing,delivered",
                 max_bytes=4 << 30, latency_ms=0)
