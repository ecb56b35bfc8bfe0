#!/usr/bin/env python3
"""A proxy in front of a real CalDAV server (tests only), to play the
servers Radicale is not: one without the sync-collection REPORT (RFC 6578),
one that truncates its sync-collection answers, one that asks for HTTP
Digest authentication (RFC 7616), one that redirects.

    caldav_proxy.py PORT --upstream URL [--record FILE] [--lifetime SECONDS]

Listens on 127.0.0.1:PORT (0 picks a free port) and prints the port on the
first line of stdout. Every request (method, path, query, headers, body) is
forwarded to the upstream (scheme://host:port) and answered with what the
upstream answered, except as programmed:

  * refuse: a sync-collection REPORT gets the status a server without
    RFC 6578 answers, with, when "error" names one, the precondition body
    <error xmlns="DAV:"><NAME/></error> (valid-sync-token: servers that
    refuse every token; supported-report: RFC 3253 §3.6); with "advertise":
    false, the DAV:supported-report-set of PROPFIND answers no longer
    lists sync-collection either;
  * truncate: a sync-collection answer holds at most N changed members, in
    href order; when more changed, the answer ends, as RFC 6578 §3.6 says,
    with a response for the collection whose status is 507 and a sync-token
    of the proxy's own. Asked with that token, the proxy asks the upstream
    again from the token the client started from and answers what changed
    since the members it already gave (a member gone since then: 404), in
    pieces of N again, the last one with the upstream's token;
  * delete_after_truncated: PATH is deleted at the upstream (with the
    client's credentials) when the client asks for the piece after the
    first truncated answer, as if someone deleted it while the client was
    fetching what that answer named;
  * fail_continuation: a request with one of the proxy's tokens gets this
    status;
  * stall: truncated answers give back the token they were asked with;
  * corrupt: the calendar-data of resource PATH in REPORT answers is
    replaced by text that is not iCalendar (or by "with": TEXT), as a
    server that stores whatever it is given sends it back;
  * garble: REPORT answers (207) are cut in the middle;
  * hide: REPORT answers leave out the response for resource PATH, and
    drop_missing their 404 responses, as servers that answer a
    calendar-multiget only with what they found;
  * advertise "empty": the DAV:supported-report-set of PROPFIND answers
    is sent empty;
  * digest: every request must carry Digest credentials (SHA-256, qop
    auth) of {"user", "password"}, else it gets 401 with a challenge; it
    goes upstream with those as Basic credentials;
  * redirect: a request whose path starts with FROM gets STATUS (default
    301) with Location TO and the rest of the path (TO is a path or a
    URL); after the digest check, as servers authenticate first.

POST /_control (JSON): {"reset": true}, {"record": FILE},
{"refuse": {"status": N, "error": NAME, "advertise": BOOL}}, {"truncate": N},
{"delete_after_truncated": PATH}, {"fail_continuation": N}, {"stall": true},
{"corrupt": PATH, "with": TEXT}, {"garble": true}, {"hide": PATH},
{"drop_missing": true}, {"advertise": "empty"},
{"digest": {"user": U, "password": P}}, {"redirect": {"from": FROM, "to": TO,
"status": N}}.

Every request except /_control is appended as one JSON line to the record
file: method, path, depth, report (the REPORT's root element, e.g.
sync-collection), sync_token (the one asked with), status, auth (the scheme
of the Authorization header the request came with, or null).
"""
import base64
import copy
import hashlib
import http.client
import json
import os
import secrets
import sys
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

# Found beside this file, whatever sys.path says (python3 -P, PYTHONPATH).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mocklib  # noqa: E402

DAV = "{DAV:}"
PART = "http://cx-tests.invalid/ns/part/"
HOP = {"host", "connection", "content-length", "transfer-encoding", "accept-encoding", "expect",
       "keep-alive"}
ET.register_namespace("d", "DAV:")
ET.register_namespace("c", "urn:ietf:params:xml:ns:caldav")


class State(mocklib.State):
    def __init__(self, record, upstream):
        if not upstream:
            sys.exit("caldav_proxy.py: --upstream URL is required")
        super().__init__(record)
        self.upstream = upstream
        self.reset()

    def reset(self):
        self.refuse = None
        self.truncate = None
        self.delete_after = None
        self.fail_continuation = None
        self.stall = False
        self.corrupt = None
        self.corrupt_with = "this is not iCalendar"
        self.garble = False
        self.hide = None
        self.drop_missing = False
        self.advertise = None
        self.digest = None
        self.nonces = set()
        self.redirect = None
        self.parts = {}          # proxy token -> {"base", "delivered"}


def member_state(resp):
    """(status, etag) of a multistatus <response>."""
    status = resp.find(DAV + "status")
    if status is not None:
        return (int(status.text.split()[1]), None)
    for ps in resp.findall(DAV + "propstat"):
        code = int(ps.find(DAV + "status").text.split()[1])
        if code == 200:
            etag = ps.find(DAV + "prop/" + DAV + "getetag")
            return (200, etag.text if etag is not None else None)
    return (0, None)


def response(href, status):
    r = ET.Element(DAV + "response")
    ET.SubElement(r, DAV + "href").text = href
    ET.SubElement(r, DAV + "status").text = status
    return r


class Handler(mocklib.Handler):
    server_version = "caldav-proxy/1"

    def handle_any(self):
        st = self.server.state
        raw = self.read_body()
        if self.path == "/_control":
            self.control(json.loads(raw or b"{}"))
            return self.send_body(200, {"Content-Type": "application/json"}, b'{"ok":true}\n')
        auth = self.headers.get("Authorization")
        entry = {"ts": time.time(), "method": self.command, "path": self.path,
                 "depth": self.headers.get("Depth"), "report": None, "sync_token": None,
                 "auth": auth.split()[0] if auth else None}
        if st.digest and not self.digest_ok(auth):
            return self.answer(entry, 401, {"WWW-Authenticate": self.challenge()}, b"")
        if st.redirect and self.path.startswith(st.redirect["from"]):
            to = st.redirect["to"] + self.path[len(st.redirect["from"]):]
            return self.answer(entry, st.redirect.get("status", 301), {"Location": to}, b"")
        report, token = None, None
        if self.command == "REPORT" and raw:
            root = ET.fromstring(raw)
            report = root.tag.split("}")[-1]
            if report == "sync-collection":
                token = root.findtext(DAV + "sync-token") or ""
        if report == "sync-collection":
            status, headers, body = self.sync_collection(raw, token)
        else:
            status, headers, body = self.forward(self.command, raw)
            if self.command == "PROPFIND" and status == 207:
                body = self.unadvertise(body)
            if report and status == 207 and st.corrupt:
                body = self.corrupt(body, st.corrupt)
            if report and status == 207 and (st.hide or st.drop_missing):
                body = self.leave_out(body)
            if report and status == 207 and st.garble:
                body = body[:len(body) // 2]
        entry.update(report=report, sync_token=token)
        self.answer(entry, status, headers, body)

    def answer(self, entry, status, headers, body):
        self.server.state.log(dict(entry, status=status))
        self.send_body(status, headers, body)

    def challenge(self):
        st = self.server.state
        nonce = secrets.token_hex(16)
        with st.lock:
            st.nonces.add(nonce)
        return 'Digest realm="cx-tests", qop="auth", algorithm=SHA-256, nonce="%s"' % nonce

    def digest_ok(self, auth):
        """Whether AUTH is a valid RFC 7616 Digest answer to one of our
        challenges for this request."""
        st = self.server.state
        if not auth or not auth.startswith("Digest "):
            return False
        fields = dict(urllib.request.parse_keqv_list(urllib.request.parse_http_list(auth[7:])))
        h = lambda s: hashlib.sha256(s.encode()).hexdigest()
        user, password = st.digest["user"], st.digest["password"]
        if fields.get("username") != user or fields.get("nonce") not in st.nonces or \
                fields.get("uri") != self.path or fields.get("qop") != "auth":
            return False
        ha1 = h("%s:%s:%s" % (user, fields.get("realm"), password))
        ha2 = h("%s:%s" % (self.command, fields["uri"]))
        want = h(":".join([ha1, fields["nonce"], fields.get("nc", ""), fields.get("cnonce", ""),
                           "auth", ha2]))
        return secrets.compare_digest(want, fields.get("response", ""))

    do_GET = do_PUT = do_DELETE = do_POST = do_OPTIONS = do_PROPFIND = do_REPORT = \
        do_MKCALENDAR = do_HEAD = handle_any

    def forward(self, method, body, path=None):
        up = urllib.parse.urlsplit(self.server.state.upstream)
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        if self.server.state.digest:
            d = self.server.state.digest
            headers["Authorization"] = "Basic " + base64.b64encode(
                ("%s:%s" % (d["user"], d["password"])).encode()).decode()
        conn.request(method, path or self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        out = {k: v for k, v in resp.getheaders() if k.lower() not in HOP}
        conn.close()
        return resp.status, out, data

    def unadvertise(self, body):
        st = self.server.state
        empty = st.advertise == "empty"
        if not empty and (not st.refuse or st.refuse.get("advertise", True)):
            return body
        root = ET.fromstring(body)
        for srs in root.iter(DAV + "supported-report-set"):
            for sr in list(srs):
                if empty or sr.find(DAV + "report/" + DAV + "sync-collection") is not None:
                    srs.remove(sr)
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)

    def corrupt(self, body, path):
        root = ET.fromstring(body)
        for r in root.findall(DAV + "response"):
            if r.findtext(DAV + "href") == path:
                for data in r.iter("{urn:ietf:params:xml:ns:caldav}calendar-data"):
                    data.text = self.server.state.corrupt_with
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)

    def leave_out(self, body):
        st = self.server.state
        root = ET.fromstring(body)
        for r in root.findall(DAV + "response"):
            if r.findtext(DAV + "href") == st.hide or \
                    (st.drop_missing and member_state(r)[0] == 404):
                root.remove(r)
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)

    def sync_collection(self, raw, token):
        st = self.server.state
        xml = {"Content-Type": "application/xml; charset=utf-8"}
        if st.refuse:
            error = st.refuse.get("error")
            body = b""
            if error:
                body = ('<?xml version="1.0" encoding="utf-8"?>'
                        '<d:error xmlns:d="DAV:"><d:%s/></d:error>' % error).encode()
            return st.refuse["status"], xml if body else {}, body
        with st.lock:
            part = st.parts.get(token)
            delete = part.pop("delete", None) if part else None
        if token.startswith(PART) and st.fail_continuation:
            return st.fail_continuation, {}, b""
        if delete:
            self.forward("DELETE", None, delete)
        base = part["base"] if part else token
        delivered = dict(part["delivered"]) if part else {}
        root = ET.fromstring(raw)
        root.find(DAV + "sync-token").text = base
        status, headers, body = self.forward("REPORT", ET.tostring(root, encoding="utf-8"))
        if status != 207 or (not st.truncate and not part):
            return status, headers, body
        answer = ET.fromstring(body)
        members = {r.findtext(DAV + "href"): r for r in answer.findall(DAV + "response")}
        changed = [(h, r) for h, r in members.items() if delivered.get(h) != member_state(r)]
        for h, was in delivered.items():
            if h not in members and was[0] == 200:
                changed.append((h, response(h, "HTTP/1.1 404 Not Found")))
        changed.sort(key=lambda c: c[0])
        out = ET.Element(DAV + "multistatus")
        limit = st.truncate or len(changed)
        for _, r in changed[:limit]:
            out.append(copy.deepcopy(r))
        if len(changed) > limit:
            for h, r in changed[:limit]:
                delivered[h] = member_state(r)
            with st.lock:
                next_token = token if st.stall else PART + str(len(st.parts) + 1)
                st.parts[next_token] = {"base": base, "delivered": delivered}
                if st.delete_after:
                    st.parts[next_token]["delete"], st.delete_after = st.delete_after, None
            out.append(response(urllib.parse.urlsplit(self.path).path,
                                "HTTP/1.1 507 Insufficient Storage"))
            ET.SubElement(out, DAV + "sync-token").text = next_token
        else:
            ET.SubElement(out, DAV + "sync-token").text = answer.findtext(DAV + "sync-token")
        return 207, xml, ET.tostring(out, encoding="utf-8", xml_declaration=True)

    def control(self, c):
        st = self.server.state
        with st.lock:
            st.apply(c, "refuse", "truncate", "fail_continuation", "corrupt", "advertise",
                     "digest", "redirect", "hide", "drop_missing")
            if "with" in c:
                st.corrupt_with = c["with"]
            if "delete_after_truncated" in c:
                st.delete_after = c["delete_after_truncated"]
            if "stall" in c:
                st.stall = bool(c["stall"])
            if "garble" in c:
                st.garble = bool(c["garble"])


if __name__ == "__main__":
    mocklib.main(Handler, State, upstream=None)
