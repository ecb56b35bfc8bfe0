#!/usr/bin/env python3
"""A mock of X's GET /2/users/:id/mentions (tests only).

    x_mentions.py PORT [--record FILE] [--lifetime SECONDS]

Listens on 127.0.0.1:PORT (0 picks a free port) and prints the port on the
first line of stdout. Like X's API v2:

  * "Authorization: Bearer ..." is required (else 401 with X's body);
  * the timeline is newest first; since_id keeps only newer posts and
    until_id only older ones (ids are compared as numbers); max_results
    (5..100, else 400) sizes the pages,
    chained by meta.next_token / pagination_token; meta has result_count,
    newest_id and oldest_id, and a page with nothing has no "data";
  * tweet.fields=created_at,author_id,conversation_id add those fields when
    the post has them; expansions=author_id adds includes.users, the known
    users (id, name, username) who wrote the page's posts, as X does;
  * every answer carries x-rate-limit-limit, x-rate-limit-remaining and
    x-rate-limit-reset (epoch seconds) as X sends them; each request uses
    one of the window's requests, and once none is left X answers 429 with
    its body and x-rate-limit-remaining: 0.

POST /_control (JSON): {"reset": true}, {"record": FILE}, {"user": ID}
(whose mentions these are; others get 404), {"users": [USER, ...]} (the
accounts X knows: id, name, username), {"load": FIXTURE} (a recorded
mentions page: its "data" become the timeline), {"add": [POST, ...]} (new
mentions, newest last in the list), {"page_size": N} (a cap below
max_results), {"window": {"remaining": N, "reset": EPOCH}} (the requests
left in the current rate-limit window, and its end; null: a fresh window
per request), {"rate_limit": {"times": N, "reset": EPOCH, "after": K}}
(after K more answered requests, N requests get 429 whatever the window
says, as when another client spends the limit).

Every request except /_control is appended as one JSON line to the record
file: method, path, query, status.
"""
import json
import os
import sys
import time

# Found beside this file, whatever sys.path says (python3 -P, PYTHONPATH).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mocklib  # noqa: E402
from mocklib import fixture


class State(mocklib.State):
    def __init__(self, record):
        super().__init__(record)
        self.reset()

    def reset(self):
        self.user = None
        self.users = {}          # id -> {"id", "name", "username"}
        self.posts = []          # newest first
        self.page_size = None
        self.limit = None        # {"times", "reset", "after"}
        self.window = None       # {"remaining", "reset"}
        self.cursors = {}        # next_token -> offset


def newer(a, b):
    return (len(a), a) > (len(b), b)


class Handler(mocklib.Handler):
    server_version = "mock-x/1"

    def handle_any(self):
        raw = self.read_request()
        if self.route == "/_control":
            self.control(json.loads(raw or b"{}"))
        else:
            self.mentions()
            self.record(status=self.out[0])
        self.send()

    do_GET = do_POST = handle_any

    def too_many(self, reset):
        self.reply(429, fixture("x/error_429_too_many_requests.json"), {
            "x-rate-limit-limit": "450", "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(reset)})

    def mentions(self):
        st, q = self.server.state, self.query
        auth = self.headers.get("Authorization") or ""
        parts = self.route.split("/")
        if not auth.startswith("Bearer ") or len(auth) < 8:
            return self.reply(401, fixture("x/error_401_unauthorized.json"))
        if self.command != "GET" or len(parts) != 5 or parts[1:3] != ["2", "users"] \
                or parts[4] != "mentions":
            return self.reply(404, {"title": "Not Found", "status": 404})
        with st.lock:
            if parts[3] != st.user:
                return self.reply(404, {"title": "Not Found Error", "status": 404,
                                        "detail": "Could not find user."})
            limit, window = st.limit, st.window
            if limit and limit.get("after", 0) > 0:
                limit["after"] -= 1
            elif limit and limit["times"] > 0:
                limit["times"] -= 1
                return self.too_many(limit["reset"])
            if window is None:
                remaining, reset = 449, int(time.time()) + 900
            elif window["remaining"] <= 0:
                return self.too_many(window["reset"])
            else:
                window["remaining"] -= 1
                remaining, reset = window["remaining"], window["reset"]
            try:
                size = int(q.get("max_results", "10"))
            except ValueError:
                size = 0
            if not 5 <= size <= 100:
                return self.reply(400, {"title": "Invalid Request", "status": 400,
                                        "detail": "max_results must be 5 to 100"})
            if st.page_size:
                size = min(size, st.page_size)
            posts = st.posts
            if "since_id" in q:
                posts = [p for p in posts if newer(p["id"], q["since_id"])]
            if "until_id" in q:
                posts = [p for p in posts if newer(q["until_id"], p["id"])]
            offset = 0
            if "pagination_token" in q:
                if q["pagination_token"] not in st.cursors:
                    return self.reply(400, {"title": "Invalid Request", "status": 400})
                offset = st.cursors[q["pagination_token"]]
            page = posts[offset:offset + size]
            fields = set(q.get("tweet.fields", "").split(","))
            data = []
            for p in page:
                d = {k: v for k, v in p.items() if k in ("id", "text", "edit_history_tweet_ids")
                     or k in fields}
                data.append(d)
            meta = {"result_count": len(data)}
            if data:
                meta["newest_id"], meta["oldest_id"] = data[0]["id"], data[-1]["id"]
            if offset + size < len(posts):
                token = "t%dx%d" % (len(st.cursors) + 1, offset + size)
                st.cursors[token] = offset + size
                meta["next_token"] = token
            authors = []
            if "author_id" in q.get("expansions", "").split(","):
                for p in page:
                    a = st.users.get(p.get("author_id"))
                    if a and a not in authors:
                        authors.append(a)
        body = {"meta": meta}
        if data:
            body = {"data": data, "meta": meta}
        if authors:
            body["includes"] = {"users": authors}
        self.reply(200, body, {"x-rate-limit-limit": "450",
                               "x-rate-limit-remaining": str(remaining),
                               "x-rate-limit-reset": str(reset)})

    def control(self, c):
        st = self.server.state
        with st.lock:
            st.apply(c, "user", "page_size")
            if "load" in c:
                st.posts = list(fixture(c["load"]).get("data", []))
            for u in c.get("users", []):
                st.users[u["id"]] = u
            for p in c.get("add", []):
                st.posts.insert(0, p)
            if "rate_limit" in c:
                st.limit = dict(c["rate_limit"])
            if "window" in c:
                st.window = dict(c["window"]) if c["window"] else None
        self.reply(200, {"ok": True})


if __name__ == "__main__":
    mocklib.main(Handler, State)
