#!/usr/bin/env python3
"""A mock Google Calendar API v3 (tests only): events.list, events.watch,
channels.stop.

    google_calendar.py PORT [--record FILE] [--lifetime SECONDS]

Listens on 127.0.0.1:PORT (0 picks a free port) and prints the port on the
first line of stdout. Every request needs "Authorization: Bearer ..." (else
401, Google's authError shape). It behaves as Google documents:

  * GET /calendar/v3/calendars/CAL/events: the calendar's events in pages of
    maxResults (or the programmed page_size, whichever is smaller), chained
    by nextPageToken; the last page has nextSyncToken. With syncToken: only
    the events changed since that token (cancelled ones as
    {kind, etag, id, status: "cancelled", recurringEventId?,
    originalStartTime?}). A token issued before an "invalidate" gets 410
    Gone with Google's fullSyncRequired body (the fixture). Cancelled events
    are listed only with showDeleted=true or a syncToken. Page envelopes
    (kind, etag, summary, timeZone, accessRole, defaultReminders...) are the
    fixture page's.
  * POST /calendar/v3/calendars/CAL/events/watch {id, type: web_hook,
    address, token, params: {ttl}}: the push guide's sample watch response
    (the fixture) with the channel's id, a new resourceId, resourceUri,
    token and expiration (epoch ms: a number there, as in the sample; the
    API's discovery document calls it an int64 string, and cx takes both);
    ttl defaults to 604800 s.
  * POST /calendar/v3/channels/stop {id, resourceId}: 204, or 404 for an
    unknown or stopped channel.

POST /_control (JSON) programs it, per calendar ("calendar": CAL):
  {"reset": true}, {"record": FILE}, {"now": EPOCH} (the clock of expirations
  and updated stamps; default the real one),
  {"load": [FIXTURE, ...]}: events from fixture pages (or arrays), as they are;
  {"upsert": [EVENT, ...]}: create or change events (a new etag and updated,
    as Google gives a changed event);
  {"cancel": [ID, ...]}: delete events (they stay as cancelled items);
  {"purge": [ID, ...]}: make events vanish without a trace (only a full
    listing notices);
  {"invalidate": true}: every sync and page token issued so far gets 410;
  {"generate": N}: N synthetic events gen0..gen(N-1) shaped like Google's
    (organizer, three attendees, time zone), for benchmarks;
  {"page_size": N}, {"delay_ms": N} (before answering a page that has a
    pageToken), {"fail": {"status": S, "times": N}} (next events.list
    requests);
  {"verbatim": {"first": FIXTURE, "pages": {PAGE_TOKEN: FIXTURE},
    "sync": {SYNC_TOKEN: FIXTURE}}}: answer events.list with those fixture
    pages exactly, chained by their own tokens (an unknown sync token: 410);
  {"notify": {"channel": ID, "state": "exists", "token"?: T,
    "resource_id"?: R}}: sends the push notification Google would send to
    the channel's address (X-Goog-* headers, empty body; token and resource
    id may be forged) and answers {"status": HTTP status, "body": ...}.

Every request except /_control is appended as one JSON line to the record
file: method, path, query, body, status, bearer (a SHA-256 prefix).
"""
import copy
import hashlib
import os
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from email.utils import formatdate

# Found beside this file, whatever sys.path says (python3 -P, PYTHONPATH).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mocklib  # noqa: E402
from mocklib import fixture

GONE = "google-calendar/compass_error_410_fullSyncRequired.json"
WATCH = "google-calendar/google_doc_watch_response_channel.json"
ENVELOPE_KEYS = ("kind", "etag", "summary", "description", "updated", "timeZone",
                 "accessRole", "defaultReminders")


class Calendar:
    def __init__(self):
        self.events = {}        # id -> item, in insertion order
        self.changed = {}       # id -> seq of its last change
        self.seq = 0
        self.gen = 1
        self.page_size = None
        self.envelope = {"kind": "calendar#events", "etag": "\"p3mock\"",
                         "summary": "mock", "updated": "2026-11-23T10:00:00.000Z",
                         "timeZone": "UTC", "accessRole": "owner",
                         "defaultReminders": []}
        self.verbatim = None

    def touch(self, eid):
        self.seq += 1
        self.changed[eid] = self.seq


class State(mocklib.State):
    def __init__(self, record):
        super().__init__(record)
        self.reset()

    def reset(self):
        self.calendars = {}
        self.channels = {}      # id -> {resourceId, token, calendar, address, expiration, stopped, n}
        self.now = None
        self.delay_ms = 0
        self.fail = None

    def clock(self):
        return self.now if self.now is not None else time.time()

    def cal(self, name):
        return self.calendars.setdefault(name, Calendar())


def rfc3339_ms(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (int(t * 1000) % 1000)


def cancelled_item(item, etag):
    out = {"kind": "calendar#event", "etag": etag, "id": item["id"], "status": "cancelled"}
    for k in ("recurringEventId", "originalStartTime"):
        if k in item:
            out[k] = item[k]
    return out


class Handler(mocklib.Handler):
    server_version = "mock-google-calendar/1"
    content_type = "application/json; charset=UTF-8"

    def handle_any(self):
        self.json = self.read_json()
        self.out = (500, {}, {})
        bearer = self.bearer("")
        if self.route == "/_control":
            self.control()
        elif not bearer:
            self.reply(401, {"error": {"code": 401, "message": "Invalid Credentials",
                                       "errors": [{"reason": "authError",
                                                   "domain": "global"}]}})
        else:
            self.dispatch()
        if self.route != "/_control":
            self.record(body=self.json, status=self.out[0],
                        bearer=hashlib.sha256(bearer.encode()).hexdigest()[:16]
                        if bearer else None)
        self.send()

    do_GET = do_POST = do_DELETE = handle_any

    def dispatch(self):
        parts = self.route.split("/")
        # /calendar/v3/calendars/CAL/events[/watch], /calendar/v3/channels/stop
        if parts[1:3] == ["calendar", "v3"] and len(parts) >= 6 and parts[3] == "calendars":
            cal = urllib.parse.unquote(parts[4])
            if parts[5:] == ["events"] and self.command == "GET":
                return self.events_list(cal)
            if parts[5:] == ["events", "watch"] and self.command == "POST":
                return self.watch(cal)
        if self.route == "/calendar/v3/channels/stop" and self.command == "POST":
            return self.stop()
        self.reply(404, {"error": {"code": 404, "message": "Not Found",
                                   "errors": [{"reason": "notFound"}]}})

    # --- events.list ----------------------------------------------------

    def gone(self):
        self.reply(410, fixture(GONE))

    def events_list(self, name):
        st, q = self.server.state, self.query
        with st.lock:
            fail = mocklib.spend(st.fail)
            delay = st.delay_ms
        if fail:
            return self.reply(fail["status"], {"error": {"code": fail["status"],
                                                         "message": "Backend Error",
                                                         "errors": [{"reason": "backendError"}]}})
        if "pageToken" in q and delay:
            time.sleep(delay / 1000)
        with st.lock:
            if name not in st.calendars:
                return self.reply(404, {"error": {"code": 404, "message": "Not Found",
                                                  "errors": [{"reason": "notFound"}]}})
            cal = st.cal(name)
            if cal.verbatim is not None:
                return self.verbatim(cal.verbatim)
            try:
                size = max(1, min(int(q.get("maxResults", "250")), 2500))
            except ValueError:
                return self.reply(400, {"error": {"code": 400, "message": "Invalid maxResults"}})
            if cal.page_size:
                size = min(size, cal.page_size)
            since = None
            if "pageToken" in q:
                try:
                    kind, gen, since, offset = q["pageToken"].split(":")
                    gen, offset = int(gen), int(offset)
                    since = None if since == "-" else int(since)
                except ValueError:
                    return self.reply(400, {"error": {"code": 400, "message": "Invalid pageToken"}})
                if gen != cal.gen:
                    return self.gone()
            else:
                offset = 0
                if "syncToken" in q:
                    try:
                        _, gen, since = q["syncToken"].split(":")
                        gen, since = int(gen), int(since)
                    except ValueError:
                        return self.gone()
                    if gen != cal.gen:
                        return self.gone()
            if since is None:
                show = q.get("showDeleted") == "true"
                ids = [i for i, e in cal.events.items()
                       if show or e.get("status") != "cancelled"]
            else:
                ids = sorted((i for i, s in cal.changed.items() if s > since and i in cal.events),
                             key=lambda i: cal.changed[i])
            page = [copy.deepcopy(cal.events[i]) for i in ids[offset:offset + size]]
            body = dict(cal.envelope)
            if offset + size < len(ids):
                body["nextPageToken"] = "p:%d:%s:%d" % (cal.gen, "-" if since is None else since,
                                                        offset + size)
            else:
                body["nextSyncToken"] = "s:%d:%d" % (cal.gen, cal.seq)
            body["items"] = page
        self.reply(200, body)

    def verbatim(self, v):
        q = self.query
        if "pageToken" in q:
            name = v.get("pages", {}).get(q["pageToken"])
            if not name:
                return self.reply(400, {"error": {"code": 400, "message": "Invalid pageToken"}})
        elif "syncToken" in q:
            name = v.get("sync", {}).get(q["syncToken"])
            if not name:
                return self.gone()
        else:
            name = v["first"]
        self.reply(200, fixture(name))

    # --- push channels ----------------------------------------------------

    def watch(self, name):
        st, b = self.server.state, self.json or {}
        if b.get("type") != "web_hook" or not b.get("id") or not b.get("address"):
            return self.reply(400, {"error": {"code": 400, "message": "Invalid channel",
                                              "errors": [{"reason": "invalid"}]}})
        try:
            ttl = int((b.get("params") or {}).get("ttl", "604800"))
        except ValueError:
            return self.reply(400, {"error": {"code": 400, "message": "Invalid ttl"}})
        with st.lock:
            if b["id"] in st.channels:
                return self.reply(400, {"error": {"code": 400,
                                                  "message": "Channel id not unique",
                                                  "errors": [{"reason": "channelIdNotUnique"}]}})
            resource = secrets.token_urlsafe(12)
            expiration = int((st.clock() + ttl) * 1000)
            host, port = self.server.server_address[:2]
            uri = "http://%s:%d/calendar/v3/calendars/%s/events?alt=json" % (
                host, port, urllib.parse.quote(name, safe=""))
            st.channels[b["id"]] = {"resourceId": resource, "token": b.get("token"),
                                    "calendar": name, "address": b["address"],
                                    "expiration": expiration, "stopped": False,
                                    "uri": uri, "n": 0}
        # the push guide's own watch response, with this channel's values
        body = fixture(WATCH)
        body.update({"id": b["id"], "resourceId": resource, "resourceUri": uri,
                     "token": b.get("token"), "expiration": expiration})
        self.reply(200, body)

    def stop(self):
        st, b = self.server.state, self.json or {}
        with st.lock:
            ch = st.channels.get(b.get("id") or "")
            ok = ch is not None and not ch["stopped"] and ch["resourceId"] == b.get("resourceId")
            if ok:
                ch["stopped"] = True
        if not ok:
            return self.reply(404, {"error": {"code": 404, "message": "Channel not found",
                                              "errors": [{"reason": "notFound"}]}})
        self.reply(204, None)

    # --- control ----------------------------------------------------------

    def control(self):
        st, c = self.server.state, self.json or {}
        result = {"ok": True}
        with st.lock:
            st.apply(c, "now", "delay_ms")
            if "fail" in c:
                st.fail = {"status": c["fail"].get("status", 500),
                           "times": c["fail"].get("times", 1)}
            name = c.get("calendar")
            cal = st.cal(name) if name is not None else None
            for f in c.get("load", []):
                data = fixture(f)
                items = data
                if isinstance(data, dict):
                    if not cal.events:
                        cal.envelope = {k: data[k] for k in ENVELOPE_KEYS if k in data}
                    items = data.get("items", [])
                for item in items:
                    cal.events[item["id"]] = item
                    cal.touch(item["id"])
            for i in range(c.get("generate", 0)):
                day = 1 + i % 28
                cal.touch("gen%d" % i)
                cal.events["gen%d" % i] = {
                    "kind": "calendar#event", "etag": "\"%d\"" % (3500000000000000 + i),
                    "id": "gen%d" % i, "status": "confirmed",
                    "created": "2026-01-01T00:00:00.000Z", "updated": "2026-01-02T00:00:00.000Z",
                    "summary": "Appointment %d" % i, "description": "Generated event number %d" % i,
                    "location": "Room %d" % (i % 50),
                    "creator": {"email": "owner@example.com", "self": True},
                    "organizer": {"email": "owner@example.com", "self": True},
                    "start": {"dateTime": "2026-02-%02dT09:00:00-06:00" % day,
                              "timeZone": "America/Chicago"},
                    "end": {"dateTime": "2026-02-%02dT10:00:00-06:00" % day,
                            "timeZone": "America/Chicago"},
                    "attendees": [{"email": "a%d@example.com" % i, "responseStatus": "accepted"},
                                  {"email": "b%d@example.com" % i, "responseStatus": "needsAction"},
                                  {"email": "owner@example.com", "organizer": True, "self": True,
                                   "responseStatus": "accepted"}],
                    "iCalUID": "gen%d@google.com" % i, "sequence": 0,
                    "reminders": {"useDefault": True}, "eventType": "default"}
            for item in c.get("upsert", []):
                cal.touch(item["id"])
                item = dict(item)
                item["etag"] = "\"%d\"" % (3600000000000000 + cal.seq)
                item["updated"] = rfc3339_ms(st.clock())
                item.setdefault("status", "confirmed")
                cal.events[item["id"]] = item
            for eid in c.get("cancel", []):
                cal.touch(eid)
                cal.events[eid] = cancelled_item(cal.events[eid],
                                                 "\"%d\"" % (3600000000000000 + cal.seq))
            for eid in c.get("purge", []):
                cal.events.pop(eid, None)
                cal.changed.pop(eid, None)
            if c.get("invalidate"):
                cal.gen += 1
            if "page_size" in c:
                cal.page_size = c["page_size"]
            if "verbatim" in c:
                cal.verbatim = c["verbatim"]
            notify = c.get("notify")
            if notify:
                ch = st.channels[notify["channel"]]
                ch["n"] += 1
                headers = {
                    "X-Goog-Channel-ID": notify["channel"],
                    "X-Goog-Channel-Token": notify.get("token", ch["token"]) or "",
                    "X-Goog-Channel-Expiration": formatdate(ch["expiration"] / 1000,
                                                            usegmt=True),
                    "X-Goog-Resource-ID": notify.get("resource_id", ch["resourceId"]),
                    "X-Goog-Resource-URI": ch["uri"],
                    "X-Goog-Resource-State": notify.get("state", "exists"),
                    "X-Goog-Message-Number": str(notify.get("message_number", ch["n"])),
                }
                address = ch["address"]
        if notify:
            # outside the lock: the receiver may take its time
            req = urllib.request.Request(address, data=b"", headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    result = {"status": r.status, "body": r.read().decode()}
            except urllib.error.HTTPError as e:
                result = {"status": e.code, "body": e.read().decode()}
            except OSError as e:
                result = {"status": 0, "body": str(e)}
        self.reply(200, result)


if __name__ == "__main__":
    mocklib.main(Handler, State)
