#!/usr/bin/env python3
"""A mock OAuth2 authorization server for X, Google and Meta (tests only).

    oauth_server.py PORT [--record FILE] [--redirect URI]... [--lifetime SECONDS]

Listens on 127.0.0.1:PORT (0 picks a free port) and prints the port on the
first line of stdout. It checks what the real servers check:

  * client authentication: X wants HTTP Basic (confidential client), Google
    client_id/client_secret in the form (or Basic), Meta client_id and
    client_secret parameters;
  * redirect_uri registered at /authorize and equal at the code exchange;
  * codes are single use and bound to client, redirect URI and PKCE
    challenge; S256(code_verifier) must equal the code_challenge;
  * refresh tokens: X rotates them (the old one dies on use), Google keeps
    them; an unknown or dead one gets the provider's real error body;
  * Google's JWT bearer grant: RS256 signature (checked with the openssl
    command against the registered public key), iss, aud, scope, iat/exp;
  * access tokens on the identity endpoints.

Simulated consent: GET <provider authorize URL> answers 302 to the redirect
URI with code and state, as a browser would see after the user clicks
"Authorize". mock_scopes=... grants fewer scopes, mock_deny=1 redirects
with error=access_denied.

POST /_control (JSON) programs it: {"reset": true} forgets what earlier
tests programmed and were issued, {"record": FILE} switches the record
file, {"redirect_uris": [...]} adds redirect
URIs, {"fail": {"/x/2/users/me": {"status": 500, "times": 1}}} makes the
next requests to a path fail, {"expires_in": N}, {"refresh_delay_ms": N},
{"kill_refresh_tokens": true} (the user revoked the app),
{"service_account": {"email": E, "public_key_pem": PEM}}.

Every request is appended as one JSON line to the record file: method,
path, query, form, auth scheme, status and the response body.
"""
import base64
import hashlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.parse

# Found beside this file, whatever sys.path says (python3 -P, PYTHONPATH).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mocklib  # noqa: E402
from mocklib import fixture

CLIENTS = {
    "x": ("x-client-id", "x-client-secret"),
    "google": ("google-client-id.apps.googleusercontent.com", "google-client-secret"),
    "meta": ("1234567890", "meta-app-secret"),
}
GRAPH = "/meta/v24.0"
TOKEN_FIXTURES = {
    "x": "oauth/x_oauth2_token_response_authorization_code.json",
    "google": "oauth/google_token_response_authorization_code.json",
    "meta": "oauth/meta_long_lived_user_token_exchange.json",
}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class State(mocklib.State):
    def __init__(self, record, redirect):
        super().__init__(record)
        self.registered = list(redirect)
        self.reset()

    def reset(self):
        """Forgets everything a test programmed or was issued."""
        self.redirects = set(self.registered)
        self.codes = {}          # code -> {provider, redirect, challenge, scopes, used}
        self.access = {}         # token -> {provider, scopes}
        self.refresh = {}        # token -> {provider, scopes, alive}
        self.fail = {}           # path -> {status, times, body}
        self.expires_in = {"x": 7200, "google": 3920, "meta": 5183944}
        self.refresh_delay_ms = 0
        self.service_account = None


class Handler(mocklib.Handler):
    server_version = "mock-oauth/1"
    content_type = "application/json"

    # --- plumbing -------------------------------------------------------

    def handle_any(self):
        st = self.server.state
        raw = self.read_request()
        self.form = {}
        self.json = None
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype == "application/x-www-form-urlencoded":
            self.form = dict(urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True))
        elif ctype == "application/json" and raw:
            self.json = json.loads(raw)
        self.params = dict(self.query)
        self.params.update(self.form)
        self.out = (500, {}, {})
        with st.lock:
            fail = mocklib.spend(st.fail.get(self.route))
        if fail:
            self.reply(fail["status"], fail.get("body", {"error": "server_error"}))
        else:
            self.dispatch()
        if self.route != "/_control":
            self.record(form=self.form, auth=self.auth_scheme(),
                        status=self.out[0], response=self.out[1])
        self.send()

    do_GET = do_POST = do_DELETE = handle_any

    def send(self):
        status, body, headers = self.out
        self.send_json(status, None if status == 302 else body, headers)

    def basic_client(self):
        auth = self.headers.get("Authorization") or ""
        if not auth.startswith("Basic "):
            return None
        try:
            user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
        except Exception:
            return None
        return urllib.parse.unquote(user), urllib.parse.unquote(pw)

    def access_token(self):
        return self.bearer(self.params.get("access_token"))

    # --- routing --------------------------------------------------------

    def dispatch(self):
        r, m = self.route, self.command
        routes = {
            ("POST", "/_control"): self.control,
            ("GET", "/_health"): lambda: self.reply(200, {"ok": True}),
            ("GET", "/x/authorize"): lambda: self.authorize("x"),
            ("POST", "/x/2/oauth2/token"): lambda: self.token("x"),
            ("POST", "/x/2/oauth2/revoke"): lambda: self.revoke("x"),
            ("GET", "/x/2/users/me"): self.x_me,
            ("GET", "/google/authorize"): lambda: self.authorize("google"),
            ("POST", "/google/token"): lambda: self.token("google"),
            ("POST", "/google/revoke"): lambda: self.revoke("google"),
            ("GET", "/google/oauth2/v3/userinfo"): self.google_userinfo,
            ("GET", "/meta/v24.0/dialog/oauth"): lambda: self.authorize("meta"),
            ("GET", GRAPH + "/oauth/access_token"): lambda: self.token("meta"),
            ("POST", GRAPH + "/oauth/access_token"): lambda: self.token("meta"),
            ("GET", GRAPH + "/me"): self.meta_me,
            ("GET", GRAPH + "/me/permissions"): self.meta_permissions,
            ("DELETE", GRAPH + "/me/permissions"): lambda: self.revoke("meta"),
        }
        handler = routes.get((m, r))
        if handler:
            handler()
        else:
            self.reply(404, {"error": "not_found"})

    def control(self):
        st, c = self.server.state, self.json or {}
        with st.lock:
            st.apply(c, "refresh_delay_ms", "service_account")
            st.redirects.update(c.get("redirect_uris", []))
            for path, f in c.get("fail", {}).items():
                st.fail[path] = {"status": f.get("status", 500), "times": f.get("times", 1),
                                 "body": f.get("body", {"error": "server_error"})}
            if "expires_in" in c:
                for p in st.expires_in:
                    st.expires_in[p] = c["expires_in"]
            if c.get("kill_refresh_tokens"):
                for t in st.refresh.values():
                    t["alive"] = False
        self.reply(200, {"ok": True})

    # --- authorization (the user's browser) -------------------------------

    def authorize(self, provider):
        st, q = self.server.state, self.query
        if q.get("client_id") != CLIENTS[provider][0]:
            return self.reply(400, {"error": "invalid_client"})
        redirect = q.get("redirect_uri", "")
        with st.lock:
            registered = redirect in st.redirects
        if not registered:
            # never redirect to an unregistered URI
            return self.reply(400, {"error": "redirect_uri_mismatch"})
        if q.get("response_type") != "code" or not q.get("state"):
            return self.reply(400, {"error": "invalid_request"})
        if provider in ("x", "google"):
            if provider == "x" and q.get("code_challenge_method") != "S256":
                return self.reply(400, {"error": "invalid_request",
                                        "error_description": "PKCE S256 required"})
        sep = "," if provider == "meta" else " "
        requested = [s for s in q.get("scope", "").split(sep) if s]
        granted = q.get("mock_scopes")
        granted = granted.split() if granted is not None else requested
        target = urllib.parse.urlsplit(redirect)
        if q.get("mock_deny"):
            params = {"error": "access_denied", "state": q["state"]}
        else:
            code = b64url(secrets.token_bytes(24))
            with st.lock:
                st.codes[code] = {
                    "provider": provider, "redirect": redirect, "used": False,
                    "challenge": q.get("code_challenge"),
                    "method": q.get("code_challenge_method"),
                    "scopes": granted,
                }
            params = {"state": q["state"], "code": code}
        query = urllib.parse.urlencode(params)
        location = urllib.parse.urlunsplit(target._replace(
            query=(target.query + "&" if target.query else "") + query))
        self.reply(302, None, {"Location": location})

    # --- token endpoint ---------------------------------------------------

    def client_ok(self, provider):
        cid, secret = CLIENTS[provider]
        basic = self.basic_client()
        if provider == "x":
            return basic == (cid, secret)
        if basic:
            return basic == (cid, secret)
        return self.params.get("client_id") == cid and self.params.get("client_secret") == secret

    def bad_token(self, provider):
        if provider == "x":
            return self.reply(400, fixture("oauth/x_oauth2_token_error_invalid_token_400.json"))
        if provider == "google":
            return self.reply(400, fixture("oauth/google_token_error_invalid_grant_compass.json"))
        return self.reply(400, fixture("oauth/meta_graph_api_error_oauthexception_190.json"))

    def issue(self, provider, scopes, with_refresh):
        """A token response shaped like the provider's real one (fixture),
        with fresh token values."""
        st = self.server.state
        body = fixture(TOKEN_FIXTURES[provider])
        access = b64url(secrets.token_bytes(32))
        body["access_token"] = access
        body["expires_in"] = st.expires_in[provider]
        body.pop("refresh_token", None)
        if "scope" in body:
            body["scope"] = " ".join(scopes)
        with st.lock:
            st.access[access] = {"provider": provider, "scopes": scopes}
            if with_refresh:
                refresh = b64url(secrets.token_bytes(32))
                st.refresh[refresh] = {"provider": provider, "scopes": scopes, "alive": True}
                body["refresh_token"] = refresh
        return body

    def token(self, provider):
        st, p = self.server.state, self.params
        grant = p.get("grant_type")
        if provider == "meta" and grant is None and "code" in p:
            grant = "authorization_code"
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer" and provider == "google":
            return self.jwt_bearer()
        if not self.client_ok(provider):
            if provider == "meta":
                return self.reply(400, fixture("oauth/meta_graph_api_error_oauthexception_190.json"))
            return self.reply(401, {"error": "invalid_client",
                                    "error_description": "Client authentication failed"})
        if grant == "authorization_code":
            with st.lock:
                c = st.codes.get(p.get("code", ""))
                fresh = c is not None and not c["used"] and c["provider"] == provider
                if c is not None:
                    c["used"] = True     # a code is spent by its first presentation
            if not fresh:
                return self.bad_token(provider)
            if p.get("redirect_uri") != c["redirect"]:
                return self.reply(400, {"error": "invalid_grant",
                                        "error_description": "redirect_uri mismatch"})
            if c["challenge"] is not None:
                verifier = p.get("code_verifier") or ""
                if not (43 <= len(verifier) <= 128) or \
                        b64url(hashlib.sha256(verifier.encode()).digest()) != c["challenge"]:
                    return self.reply(400, {"error": "invalid_grant",
                                            "error_description": "code_verifier mismatch"})
            offline = provider == "google" or "offline.access" in c["scopes"]
            body = self.issue(provider, c["scopes"], offline and provider != "meta")
            if provider == "meta":
                body["expires_in"] = 5400   # short-lived, to be exchanged
            return self.reply(200, body)
        if grant == "refresh_token":
            if st.refresh_delay_ms:
                time.sleep(st.refresh_delay_ms / 1000)
            with st.lock:
                t = st.refresh.get(p.get("refresh_token", ""))
                ok = t is not None and t["alive"] and t["provider"] == provider
                if ok and provider == "x":
                    t["alive"] = False   # X rotates refresh tokens
            if not ok:
                return self.bad_token(provider)
            body = self.issue(provider, t["scopes"], provider == "x")
            return self.reply(200, body)
        if grant == "fb_exchange_token" and provider == "meta":
            if st.refresh_delay_ms:
                time.sleep(st.refresh_delay_ms / 1000)
            with st.lock:
                t = st.access.get(p.get("fb_exchange_token", ""))
                dead = any(not r["alive"] for r in st.refresh.values() if r["provider"] == "meta")
            if t is None or t["provider"] != "meta" or dead:
                return self.bad_token(provider)
            body = self.issue(provider, t["scopes"], False)
            body["token_type"] = "bearer"
            return self.reply(200, body)
        return self.reply(400, {"error": "unsupported_grant_type"})

    def jwt_bearer(self):
        st = self.server.state
        sa = st.service_account
        bad = {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        try:
            head, claims, sig = self.params.get("assertion", "").split(".")
            h = json.loads(b64url_decode(head))
            c = json.loads(b64url_decode(claims))
        except Exception:
            return self.reply(400, bad)
        if not sa or h.get("alg") != "RS256" or c.get("iss") != sa["email"]:
            return self.reply(400, bad)
        aud = "http://%s:%d/google/token" % self.server.server_address[:2]
        if c.get("aud") != aud or not c.get("scope") or \
                not (0 < c.get("exp", 0) - c.get("iat", 0) <= 3600):
            return self.reply(400, {"error": "invalid_grant",
                                    "error_description": "Invalid JWT claims."})
        with tempfile.TemporaryDirectory() as d:
            key, sigfile = os.path.join(d, "pub.pem"), os.path.join(d, "sig")
            with open(key, "w") as f:
                f.write(sa["public_key_pem"])
            with open(sigfile, "wb") as f:
                f.write(b64url_decode(sig))
            check = subprocess.run(["openssl", "dgst", "-sha256", "-verify", key,
                                    "-signature", sigfile],
                                   input=(head + "." + claims).encode(),
                                   capture_output=True)
        if check.returncode != 0:
            return self.reply(400, bad)
        scopes = c["scope"].split()
        body = self.issue("google", scopes, False)
        body["token_type"] = "Bearer"
        del body["scope"]
        self.reply(200, body)

    def revoke(self, provider):
        st = self.server.state
        if provider == "meta":
            token = self.access_token()
            with st.lock:
                known = st.access.pop(token or "", None)
            return self.reply(200 if known else 400, {"success": bool(known)})
        if not self.client_ok(provider) and provider == "x":
            return self.reply(401, {"error": "invalid_client"})
        token = self.params.get("token", "")
        with st.lock:
            st.access.pop(token, None)
            if token in st.refresh:
                st.refresh[token]["alive"] = False
        self.reply(200, {"revoked": True} if provider == "x" else {})

    # --- identity ---------------------------------------------------------

    def access_ok(self, provider):
        with self.server.state.lock:
            t = self.server.state.access.get(self.access_token() or "")
        return t if t and t["provider"] == provider else None

    def x_me(self):
        if not self.access_ok("x"):
            return self.reply(401, fixture("oauth/x_error_401_unauthorized.json"))
        self.reply(200, fixture("oauth/x_tweepy_get_2_users_me.json"))

    def google_userinfo(self):
        if not self.access_ok("google"):
            return self.reply(401, {"error": "invalid_request",
                                    "error_description": "Invalid Credentials"})
        self.reply(200, {"sub": "110248495921238986420", "email": "jane.doe@example.com",
                         "email_verified": True, "name": "Jane Doe"})

    def meta_me(self):
        if not self.access_ok("meta"):
            return self.reply(400, fixture("oauth/meta_graph_api_error_oauthexception_190.json"))
        self.reply(200, {"id": "102938475610", "name": "Cx Test Admin"})

    def meta_permissions(self):
        t = self.access_ok("meta")
        if not t:
            return self.reply(400, fixture("oauth/meta_graph_api_error_oauthexception_190.json"))
        self.reply(200, {"data": [{"permission": s, "status": "granted"} for s in t["scopes"]]})


if __name__ == "__main__":
    mocklib.main(Handler, State, redirect=[])
