#!/usr/bin/env python3
"""A mock of Amazon SES API v2 SendEmail (tests and bench only).

    ses.py [PORT] [--record FILE] [--access-key ID] [--secret-key KEY]
           [--region REGION] [--latency-ms N] [--lifetime SECONDS]

Listens on 127.0.0.1:PORT (0 picks a free port) and prints the port on the
first line of stdout. It answers as SES does:

  POST /v2/email/outbound-emails   200 {"MessageId": "<new id>"}

Every request must carry an AWS Signature Version 4 for service "ses" in the
mock's region, by the access key it was given. The mock signs the request
again with botocore (SigV4Auth over the received method, path, query, the
headers the client named in SignedHeaders and the body's SHA-256) and
compares. Refusals have AWS's shape, the code in x-amzn-ErrorType and
{"message": ...} as the body:
  no Authorization                403 MissingAuthenticationTokenException
  a malformed one, no X-Amz-Date  400 IncompleteSignatureException
  another access key              403 UnrecognizedClientException
  another region or service in the credential scope, or another signature
                                  403 SignatureDoesNotMatch
  X-Amz-Date over 5 minutes off   403 InvalidSignatureException ("Signature
                                  expired: ..." / "... not yet current ...")
Then the body: JSON with Content holding exactly one of Simple
{Subject{Data}, Body{Text|Html{Data}}} or Raw {Data: base64 of a message
with a header and a body}; Simple needs FromEmailAddress and a recipient in
Destination; Raw needs one in Destination or in its To/Cc headers; every
address ASCII (SES takes no SMTPUTF8: domains in punycode); EmailTags names
and values of [A-Za-z0-9_-]{1,256}. Else 400 BadRequestException.

POST /_control (JSON) programs it, per test:
  {"reset": true}, {"record": FILE}, {"latency_ms": N},
  {"access_key": ID, "secret_key": KEY, "region": R}
  {"script": {"POST /v2/email/outbound-emails": [STEP, ...]}} (or the route
      "*") the next signed requests get these answers in order (a STEP with
      "times": N answers N requests). A STEP:
        {"ses_error": CODE, "message"?: M}  SES's error CODE with its HTTP
            status: TooManyRequestsException (429), MessageRejected,
            SendingPausedException, AccountSuspendedException,
            MailFromDomainNotVerifiedException, LimitExceededException,
            BadRequestException (400), NotFoundException (404),
            InternalFailure (500), ServiceUnavailable (503)
        {"status": S, "body": {...}, "headers": {...}}
        {"hang_ms": N} / {"drop": true}  accept the message, then answer
            nothing (N ms, then the connection closes)
        "latency_ms": N   this answer only, N ms late

Every request except /_control is appended to the record file as one JSON
line: ts, method, path, query, headers (content-type, host, x-amz-date,
x-amz-content-sha256), signed_headers, credential_scope, access_key,
signature ("ok", or why not: missing, incomplete, unknown_key, scope,
expired, mismatch), body (the JSON; Raw's Data replaced by its size and
sha256), raw (Raw's message parsed: headers as [name, value] pairs and
parts with content_type, filename, size, sha256 and the text of text
parts), status, response, message_id (of an accepted message)."""
import base64
import binascii
import datetime
import email.parser
import email.policy
import email.utils
import hashlib
import hmac
import json
import os
import re
import sys
import time
import uuid

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

# Found beside this file, whatever sys.path says (python3 -P, PYTHONPATH).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mocklib  # noqa: E402

ROUTE = "/v2/email/outbound-emails"
SERVICE = "ses"
SKEW = datetime.timedelta(minutes=5)
AMZ_DATE = "%Y%m%dT%H%M%SZ"
AUTH_RE = re.compile(r"AWS4-HMAC-SHA256 Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),"
                     r"\s*Signature=([0-9a-f]{64})$")
TAG_RE = re.compile(r"[A-Za-z0-9_-]{1,256}$")
MISMATCH = ("The request signature we calculated does not match the signature you "
            "provided. Check your AWS Secret Access Key and signing method. Consult the "
            "service documentation for details.")

# SES's errors: HTTP status and the message it gives.
SES_ERRORS = {
    "TooManyRequestsException": (429, "Maximum sending rate exceeded."),
    "MessageRejected": (400, "Email address is not verified. The following identities "
                             "failed the check in region US-EAST-1: sender@example.com"),
    "SendingPausedException": (400, "Sending is paused for this account."),
    "AccountSuspendedException": (400, "Sending is suspended for this account."),
    "MailFromDomainNotVerifiedException": (400, "The MAIL FROM domain is not verified."),
    "LimitExceededException": (400, "Daily message quota exceeded."),
    "BadRequestException": (400, "Bad request."),
    "NotFoundException": (404, "Configuration set does not exist."),
    "InternalFailure": (500, "An internal error occurred."),
    "ServiceUnavailable": (503, "Service Unavailable"),
}


def ses_error(code, message=None, status=None):
    """(STATUS, BODY, HEADERS) of an AWS error as a rest-json service sends it."""
    default_status, default_message = SES_ERRORS.get(code, (400, code))
    return (status or default_status, {"message": message or default_message},
            {"x-amzn-ErrorType": code, "x-amzn-RequestId": str(uuid.uuid4())})


def message_id():
    """An id shaped like SES's: 0100 + ms clock, a UUID, -000000."""
    return "%016x-%s-000000" % (0x0100 << 48 | int(time.time() * 1000), uuid.uuid4())


def ascii_address(a):
    """Whether A ("Name <x@y>" or x@y) has an ASCII addr-spec with a domain."""
    _, addr = email.utils.parseaddr(a)
    local, _, domain = addr.rpartition("@")
    return bool(local and domain and "." in domain and addr.isascii()
                and not any(c.isspace() for c in addr))


class State(mocklib.OpenRecordState):
    def __init__(self, record, access_key, secret_key, region, latency_ms):
        super().__init__(record)
        self.defaults = (access_key, secret_key, region, latency_ms)
        self.reset()

    def reset(self):
        self.access_key, self.secret_key, self.region, self.latency_ms = self.defaults
        self.script = {}

    def take_step(self, route):
        with self.lock:
            for key in (route, "*"):
                steps = self.script.get(key)
                if steps:
                    return mocklib.take_step(steps)
            return None


class Handler(mocklib.Handler):
    server_version = "mock-ses/1"
    content_type = "application/json"
    nodelay = True

    def handle_any(self):
        st = self.server.state
        raw = self.read_request()
        try:
            self.body = json.loads(raw) if raw else None
        except ValueError:
            self.body = None
        self.out = (500, {}, {})
        self.message_id = None
        if self.route == "/_control":
            self.control()
            return self.send()
        latency = st.latency_ms
        self.signature = self.check_signature(raw)
        if self.signature == "ok":
            step = st.take_step(self.command + " " + self.route)
            if step is not None:
                latency = step.get("latency_ms", latency)
                self.scripted(step)
            else:
                self.dispatch()
        self.record_request()
        self.send_late(latency)

    do_GET = do_POST = do_PUT = do_DELETE = handle_any

    def send(self):
        status, body, headers = self.out
        self.send_body(status, headers, json.dumps(body).encode() if body is not None else b"",
                       self.content_type)

    # --- SigV4 ----------------------------------------------------------------

    def check_signature(self, raw):
        """"ok", or why not (self.out then holds AWS's refusal)."""
        st = self.server.state
        auth = self.headers.get("Authorization")
        if not auth:
            self.out = ses_error("MissingAuthenticationTokenException",
                                 "Missing Authentication Token", 403)
            return "missing"
        m = AUTH_RE.match(auth)
        amz_date = self.headers.get("X-Amz-Date") or ""
        self.scope = m.group(1).split("/") if m else []
        self.signed = m.group(2).split(";") if m else []
        if not m or len(self.scope) != 5 or self.scope[4] != "aws4_request" \
                or "host" not in self.signed:
            self.out = ses_error("IncompleteSignatureException",
                                 "Authorization header requires 'Credential', 'Signature' "
                                 "and 'SignedHeaders' (with host) parameters.", 400)
            return "incomplete"
        try:
            when = datetime.datetime.strptime(amz_date, AMZ_DATE)
        except ValueError:
            self.out = ses_error("IncompleteSignatureException",
                                 "Authorization header requires existence of either a "
                                 "'X-Amz-Date' or a 'Date' header.", 400)
            return "incomplete"
        with st.lock:
            key, secret, region = st.access_key, st.secret_key, st.region
        if not hmac.compare_digest(self.scope[0], key):
            self.out = ses_error("UnrecognizedClientException",
                                 "The security token included in the request is invalid.", 403)
            return "unknown_key"
        now = datetime.datetime.utcnow().replace(microsecond=0)
        if when < now - SKEW or when > now + SKEW:
            late = when < now - SKEW
            self.out = ses_error("InvalidSignatureException", (
                "Signature expired: %s is now earlier than %s (%s - 5 min.)" if late else
                "Signature not yet current: %s is still later than %s (%s + 5 min.)") % (
                amz_date, (now - SKEW if late else now + SKEW).strftime(AMZ_DATE),
                now.strftime(AMZ_DATE)), 403)
            return "expired"
        problem = self.scope_problem(amz_date, region)
        if problem:
            self.out = ses_error("SignatureDoesNotMatch", problem, 403)
            return "scope"
        if not hmac.compare_digest(self.expected_signature(raw, key, secret, region, amz_date),
                                   m.group(3)):
            self.out = ses_error("SignatureDoesNotMatch", MISMATCH, 403)
            return "mismatch"
        return "ok"

    def scope_problem(self, amz_date, region):
        """What AWS says of a credential scope that is not this request's."""
        date, scope_region, service = self.scope[1:4]
        if date != amz_date[:8]:
            return ("Date in Credential scope does not match YYYYMMDD from ISO-8601 version "
                    "of date from HTTP: '%s' != '%s', from '%s'.") % (date, amz_date[:8], amz_date)
        if scope_region != region:
            return "Credential should be scoped to a valid region, not '%s'. " % scope_region
        if service != SERVICE:
            return "Credential should be scoped to correct service: '%s'. " % SERVICE
        return None

    def expected_signature(self, raw, key, secret, region, amz_date):
        """The signature botocore gives the request as received: its method,
        path and query, the headers it signed, the body."""
        headers = {}
        for name in self.signed:
            values = self.headers.get_all(name) or []
            headers[name] = ",".join(" ".join(v.split()) for v in values)
        # http: botocore then always hashes the body, as SigV4 asks
        req = AWSRequest(method=self.command, url="http://" + (self.headers.get("Host") or "")
                         + self.path, headers=headers, data=raw)
        req.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(key, secret), SERVICE, region)
        canonical = signer.canonical_request(req)
        return signer.signature(signer.string_to_sign(req, canonical), req)

    # --- SES --------------------------------------------------------------------

    def dispatch(self):
        if (self.command, self.route) != ("POST", ROUTE):
            self.out = ses_error("UnknownOperationException", None, 404)
            return
        problem = self.check_body(self.body)
        if problem:
            self.out = ses_error("BadRequestException", problem, 400)
            return
        self.accept()

    def accept(self):
        self.message_id = message_id()
        self.out = (200, {"MessageId": self.message_id},
                    {"x-amzn-RequestId": str(uuid.uuid4())})

    def check_body(self, b):
        """What is wrong with the SendEmail request B, or None."""
        if not isinstance(b, dict):
            return "The request body is not a JSON object."
        content = b.get("Content")
        if not isinstance(content, dict):
            return "1 validation error detected: Value null at 'content' failed to " \
                   "satisfy constraint: Member must not be null"
        kinds = [k for k in ("Simple", "Raw", "Template") if k in content]
        if len(kinds) != 1:
            return "Exactly one of Simple, Raw or Template content must be given."
        dest = b.get("Destination") or {}
        if not isinstance(dest, dict):
            return "Destination is not an object."
        recipients = []
        for key in ("ToAddresses", "CcAddresses", "BccAddresses"):
            lst = dest.get(key, [])
            if not isinstance(lst, list) or not all(isinstance(a, str) for a in lst):
                return "Destination.%s is not a list of addresses." % key
            recipients += lst
        addresses = recipients + list(b.get("ReplyToAddresses") or [])
        if "FromEmailAddress" in b:
            addresses.append(b["FromEmailAddress"])
        for a in addresses:
            if not isinstance(a, str) or not ascii_address(a):
                return "Illegal address"
        for tag in b.get("EmailTags") or []:
            if not isinstance(tag, dict) or not TAG_RE.match(str(tag.get("Name", ""))) \
                    or not TAG_RE.match(str(tag.get("Value", ""))):
                return "Invalid tag: names and values may contain only ASCII letters, " \
                       "digits, '_' and '-', 1 to 256 of them."
        if kinds[0] == "Simple":
            return self.check_simple(b, content["Simple"], recipients)
        if kinds[0] == "Raw":
            return self.check_raw(content["Raw"], recipients)
        return "Template content is not supported by this mock."

    @staticmethod
    def check_simple(b, simple, recipients):
        if not isinstance(b.get("FromEmailAddress"), str):
            return "Missing required header 'From'."
        if not recipients:
            return "Missing final '@domain'"
        subject = simple.get("Subject") if isinstance(simple, dict) else None
        body = simple.get("Body") if isinstance(simple, dict) else None
        if not isinstance(subject, dict) or not isinstance(subject.get("Data"), str):
            return "1 validation error detected: Value null at 'content.simple.subject.data' " \
                   "failed to satisfy constraint: Member must not be null"
        parts = [body.get(k) for k in ("Text", "Html")] if isinstance(body, dict) else []
        parts = [p for p in parts if p is not None]
        if not parts or not all(isinstance(p, dict) and isinstance(p.get("Data"), str)
                                for p in parts):
            return "1 validation error detected: Value null at 'content.simple.body' " \
                   "failed to satisfy constraint: Member must not be null"
        return None

    def check_raw(self, raw, recipients):
        data = raw.get("Data") if isinstance(raw, dict) else None
        try:
            msg = base64.b64decode(data, validate=True) if isinstance(data, str) else None
        except (binascii.Error, ValueError):
            msg = None
        if not msg:
            return "Could not parse the raw message: Data is not base64."
        if b"\r\n\r\n" not in msg and b"\n\n" not in msg:
            return "Could not parse the raw message: no blank line after the header."
        parsed = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(msg)
        if not parsed.get("From"):
            return "Missing required header 'From'."
        if not recipients and not (parsed.get_all("To") or parsed.get_all("Cc")):
            return "Missing final '@domain'"
        return None

    # --- scripted answers -----------------------------------------------------

    def scripted(self, step):
        if self.hangs(step):
            self.message_id = message_id()
            return
        if "ses_error" in step:
            self.out = ses_error(step["ses_error"], step.get("message"), step.get("status"))
            return
        self.out = (step.get("status", 500), step.get("body", {}), step.get("headers") or {})

    # --- the record -------------------------------------------------------------

    def record_request(self):
        body, raw = self.body, None
        content = body.get("Content") if isinstance(body, dict) else None
        if isinstance(content, dict) and isinstance(content.get("Raw"), dict) \
                and isinstance(content["Raw"].get("Data"), str):
            data = content["Raw"]["Data"]
            try:
                raw = parse_raw(base64.b64decode(data))
            except (binascii.Error, ValueError):
                raw = None
            body = dict(body, Content=dict(content, Raw={
                "size": len(data), "sha256": hashlib.sha256(data.encode()).hexdigest()}))
        self.record(
            headers={k: self.headers.get(k) for k in
                     ("content-type", "host", "x-amz-date", "x-amz-content-sha256")},
            signed_headers=getattr(self, "signed", None),
            credential_scope="/".join(getattr(self, "scope", [])[1:]) or None,
            access_key=(getattr(self, "scope", None) or [None])[0],
            signature=self.signature, body=body, raw=raw,
            status=self.out[0] if self.out else None,
            response=self.out[1] if self.out else None, message_id=self.message_id)

    # --- programming ------------------------------------------------------------

    def control(self):
        st, c = self.server.state, self.body or {}
        with st.lock:
            st.apply(c, "latency_ms", "access_key", "secret_key", "region")
            for route, steps in c.get("script", {}).items():
                st.script.setdefault(route, []).extend(steps)
        self.out = (200, {"ok": True}, {})


def parse_raw(data):
    """A raw message's headers and leaf parts, for the record."""
    msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(data)
    parts = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True) or b""
        entry = {"content_type": part.get_content_type(), "filename": part.get_filename(),
                 "size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
        if part.get_content_maintype() == "text" and not part.get_filename():
            entry["text"] = payload.decode(part.get_content_charset() or "ascii", "replace")
        parts.append(entry)
    return {"headers": [[k, str(v)] for k, v in msg.items()], "parts": parts}


if __name__ == "__main__":
    mocklib.main(Handler, State, server=mocklib.BusyServer, record=None,
                 access_key="AKIDEXAMPLE",
                 secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                 region="us-east-1", latency_ms=0)
