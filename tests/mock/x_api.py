#!/usr/bin/env python3
"""A mock of the X API v2 endpoints cx-publish uses (tests and bench only).

    x_api.py PORT [--record FILE] [--latency-ms N] [--user-id ID]
                  [--username NAME] [--lifetime SECONDS]

Listens on 127.0.0.1:PORT (0 picks a free port) and prints the port on the
first line of stdout. It answers as X does (bodies as recorded from the real
API, see tests/fixtures SOURCES: shared/fixtures/x):

  POST /2/tweets             201 {"data": {"id", "text", "edit_history_tweet_ids"}}
                             with x-rate-limit-* headers; 401 without a bearer
                             token; 400 for a missing text; 403 "duplicate
                             content" when the account already posted the
                             same text
  GET  /2/users/me           the account (data.id, name, username)
  GET  /2/users/ID/tweets    the account's posts, newest first, max_results
                             (5..100, default 10) and pagination_token/next_token

POST /_control (JSON) programs it, per test:
  {"reset": true}            forget posts, scripts and settings
  {"record": FILE}           append every request to FILE from now on
  {"latency_ms": N}          answer every request N ms late (after the post
                             is created, as a slow server would)
  {"user_id": ID, "username": NAME}
  {"posts": [{"text": T, "in_reply_to": ID?}]}  posts already on the account
  {"script": {"POST /2/tweets": [STEP, ...]}}   the next requests to a route
      get these answers, one STEP each, in order (a STEP with "times": N
      answers N requests); then the route behaves normally again. A STEP:
        {"status": S, "body": {...}, "headers": {...}}  answer this
        {"x_error": 429|401|403|500|503, "reset": EPOCH, "retry_after": S}
                             X's recorded error body for that status
        "create": true       create the post first anyway (a 5xx after the
                             fact, as a flaky gateway does)
        {"hang_ms": N}       read the request, create the post, then send
                             nothing for N ms and drop the connection (the
                             client times out after sending)
        {"drop": true}       read the request, create the post, close the
                             connection without an answer

Every request except /_control is appended to the record file as one JSON
line: ts, method, path, query, auth (scheme), token_sha256,
idempotency_key, body (parsed JSON), status, response, created (post id)."""
import os
import sys
import time

# Found beside this file, whatever sys.path says (python3 -P, PYTHONPATH).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mocklib  # noqa: E402

# Recorded X API bodies (shared/fixtures/x, copied verbatim).
ERROR_401 = {"title": "Unauthorized", "type": "about:blank", "status": 401,
             "detail": "Unauthorized"}
ERROR_403_DUPLICATE = {"detail": "You are not allowed to create a Tweet with duplicate content.",
                       "type": "about:blank", "title": "Forbidden", "status": 403}
ERROR_429 = {"title": "Too Many Requests", "detail": "Too Many Requests",
             "type": "about:blank", "status": 429}
ERROR_400 = {"errors": [{"parameters": {"text": []}, "message": "The `text` field is required."}],
             "title": "Invalid Request",
             "detail": "One or more parameters to your request was invalid.",
             "type": "https://api.twitter.com/2/problems/invalid-request"}
ERROR_5XX = {"title": "Service Unavailable", "detail": "Service Unavailable",
             "type": "about:blank"}

FIRST_ID = 1856000000000000000


class State(mocklib.OpenRecordState):
    def __init__(self, record, latency_ms, user_id, username):
        super().__init__(record)
        self.defaults = (latency_ms, user_id, username)
        self.reset()

    def reset(self):
        self.latency_ms, self.user_id, self.username = self.defaults
        self.posts = []          # newest last: {id, text, author, in_reply_to, created_at}
        self.next_id = FIRST_ID
        self.script = {}         # route -> [step...]

    def create(self, text, reply_to):
        with self.lock:
            self.next_id += 1
            post = {"id": str(self.next_id), "text": text, "author": self.user_id,
                    "in_reply_to": reply_to,
                    "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())}
            self.posts.append(post)
            return post

    def take_step(self, route):
        with self.lock:
            steps = self.script.get(route)
            return mocklib.take_step(steps) if steps else None


class Handler(mocklib.Handler):
    server_version = "mock-x-api/1"
    nodelay = True

    def handle_any(self):
        st = self.server.state
        self.body = self.read_json()
        self.out = (500, {}, {})
        self.created = None
        if self.route == "/_control":
            self.control()
            return self.send()
        step = st.take_step(self.command + " " + self.route)
        if step is not None:
            self.scripted(step)
        else:
            self.dispatch()
        self.record_call(self.bearer(), created=self.created)
        self.send_late(st.latency_ms)

    do_GET = do_POST = do_DELETE = handle_any

    def send(self):
        status, body, headers = self.out
        self.send_body(status, headers, mocklib.json_line(body), self.content_type)

    def rate_headers(self, remaining=199):
        return {"x-rate-limit-limit": "200", "x-rate-limit-remaining": str(remaining),
                "x-rate-limit-reset": str(int(time.time()) + 900)}

    # --- scripted answers ---------------------------------------------------

    def scripted(self, step):
        if self.hangs(step):
            if step.get("create", True):
                self.create_post()
            return
        if step.get("create"):
            self.create_post()
        if "x_error" in step:
            status = step["x_error"]
            headers = {}
            if status == 429:
                body = ERROR_429
                headers = {"x-rate-limit-limit": "200", "x-rate-limit-remaining": "0",
                           "x-rate-limit-reset": str(step.get("reset", int(time.time()) + 900))}
            elif status == 401:
                body = ERROR_401
            elif status == 403:
                body = ERROR_403_DUPLICATE
            elif status == 400:
                body = ERROR_400
            else:
                body = dict(ERROR_5XX, status=status)
            if "retry_after" in step:
                headers["retry-after"] = str(step["retry_after"])
            return self.reply(status, body, headers)
        self.reply(step.get("status", 500), step.get("body", {}), step.get("headers"))

    def create_post(self):
        b = self.body if isinstance(self.body, dict) else {}
        reply = (b.get("reply") or {}).get("in_reply_to_tweet_id")
        post = self.server.state.create(b.get("text", ""), reply)
        self.created = post["id"]
        return post

    # --- X ------------------------------------------------------------------

    def dispatch(self):
        r, m = self.route, self.command
        if (m, r) == ("GET", "/_health"):
            return self.reply(200, {"ok": True})
        auth = self.headers.get("Authorization") or ""
        if not auth.startswith("Bearer ") or len(auth) <= 7:
            return self.reply(401, ERROR_401)
        if (m, r) == ("POST", "/2/tweets"):
            return self.post_tweet()
        if (m, r) == ("GET", "/2/users/me"):
            st = self.server.state
            return self.reply(200, {"data": {"id": st.user_id, "name": "Cx Test",
                                             "username": st.username}})
        parts = r.strip("/").split("/")
        if m == "GET" and len(parts) == 4 and parts[:2] == ["2", "users"] and parts[3] == "tweets":
            return self.timeline(parts[2])
        self.reply(404, {"title": "Not Found Error", "type": "about:blank", "status": 404,
                         "detail": "Sorry, that page does not exist"})

    def post_tweet(self):
        st, b = self.server.state, self.body
        if not isinstance(b, dict) or not isinstance(b.get("text"), str) or not b["text"]:
            return self.reply(400, ERROR_400)
        with st.lock:
            dup = any(p["text"] == b["text"] and p["author"] == st.user_id for p in st.posts)
        if dup:
            return self.reply(403, ERROR_403_DUPLICATE)
        post = self.create_post()
        self.reply(201, {"data": {"id": post["id"], "text": post["text"],
                                  "edit_history_tweet_ids": [post["id"]]}},
                   dict(self.rate_headers(), location="https://api.x.com/2/tweets/" + post["id"]))

    def timeline(self, user):
        st, q = self.server.state, self.query
        try:
            n = max(5, min(100, int(q.get("max_results", "10"))))
        except ValueError:
            return self.reply(400, ERROR_400)
        start = 0
        if q.get("pagination_token"):
            try:
                start = int(q["pagination_token"].lstrip("p"))
            except ValueError:
                return self.reply(400, ERROR_400)
        with st.lock:
            mine = [p for p in reversed(st.posts) if p["author"] == user]
        page = mine[start:start + n]
        data = []
        for p in page:
            t = {"id": p["id"], "text": p["text"], "edit_history_tweet_ids": [p["id"]],
                 "created_at": p["created_at"]}
            if p["in_reply_to"]:
                t["referenced_tweets"] = [{"type": "replied_to", "id": p["in_reply_to"]}]
            data.append(t)
        meta = {"result_count": len(data)}
        if data:
            meta.update(newest_id=data[0]["id"], oldest_id=data[-1]["id"])
        if start + n < len(mine):
            meta["next_token"] = "p%d" % (start + n)
        body = {"meta": meta}
        if data:
            body["data"] = data
        self.reply(200, body, self.rate_headers())

    # --- programming ----------------------------------------------------------

    def control(self):
        st, c = self.server.state, self.body or {}
        with st.lock:
            st.apply(c, "latency_ms", "user_id", "username")
            for route, steps in c.get("script", {}).items():
                st.script.setdefault(route, []).extend(steps)
        for p in c.get("posts", []):
            st.create(p["text"], p.get("in_reply_to"))
        self.reply(200, {"ok": True})


if __name__ == "__main__":
    mocklib.main(Handler, State, server=mocklib.BusyServer, record=None, latency_ms=0,
                 user_id="1072250532645998596", username="TweepyDev")
