#!/usr/bin/env python3
"""A mock of Amazon S3 objects and multipart uploads (tests and bench only).

    s3.py [PORT] --dir DIR [--bucket NAME]... [--record FILE]
          [--access-key ID] [--secret-key KEY] [--region REGION]
          [--domain D] [--lifetime SECONDS]

Listens on 127.0.0.1:PORT (0 picks a free port) and prints the port on the
first line of stdout. Buckets and objects live on disk under DIR (or
$CX_S3_MOCK_DIR): DIR/BUCKET/objects/<sha256 of key>.{data,json} (a
multipart object: its parts in <sha256 of key>.parts/, in order, not joined)
and DIR/BUCKET/uploads/<upload id>/. Bodies are streamed to disk in 1 MiB
chunks, never held whole. Addressing: path style (http://HOST/BUCKET/KEY),
or virtual host (Host: BUCKET.D[:port], D defaulting to "localhost").

Every request must carry an AWS Signature Version 4 for service "s3" in the
mock's region. The mock signs the request again with botocore (S3SigV4Auth
over the received method, path, query and all the headers the client named
in SignedHeaders, with the declared x-amz-content-sha256) and compares;
only then does it answer "Expect: 100-continue" and stream the body, whose
SHA-256 must be the declared one. Refusals are S3's <Error> XML (the
connection closes when a body is left unread):
  no Authorization                    403 AccessDenied
  malformed, no x-amz-date            400 AuthorizationHeaderMalformed
  no x-amz-content-sha256             400 InvalidRequest
  UNSIGNED-PAYLOAD, STREAMING-*       501 NotImplemented
  another access key                  403 InvalidAccessKeyId
  x-amz-date over 15 minutes off      403 RequestTimeTooSkewed
  another region in the scope         400 AuthorizationHeaderMalformed
  another service or signature        403 SignatureDoesNotMatch
  a body of another SHA-256           400 XAmzContentSHA256Mismatch
  a body without Content-Length       411 MissingContentLength
  no such bucket, key, upload         404 NoSuchBucket, NoSuchKey, NoSuchUpload
  another operation                   501 NotImplemented
Operations (checksums base64 SHA-256, as S3's x-amz-checksum-sha256):
  PUT /B                       CreateBucket
  PUT /B/K                     PutObject; x-amz-checksum-sha256 checked
                               (400 BadDigest), Content-MD5 too; x-amz-meta-*
                               kept; ETag the MD5 hex
  HEAD, GET /B/K               HeadObject, GetObject (x-amz-checksum-sha256
                               answered with x-amz-checksum-mode: ENABLED)
  POST /B/K?uploads            CreateMultipartUpload (x-amz-checksum-algorithm)
  PUT /B/K?partNumber&uploadId UploadPart (1..10000; a SHA256 upload needs
                               each part's x-amz-checksum-sha256, checked)
  GET /B/K?uploadId            ListParts (max-parts, part-number-marker)
  POST /B/K?uploadId           CompleteMultipartUpload: parts ascending, ETags
                               and checksums as uploaded, each but the last
                               >= 5 MiB; the checksum "<base64 of SHA-256 of
                               the parts' binary checksums>-<n>", the ETag the
                               MD5 of the parts' binary MD5s + "-<n>"
  DELETE /B/K?uploadId         AbortMultipartUpload (204)

POST /_control (JSON) programs it, per test:
  {"reset": true} (the keys and script; stored objects stay),
  {"record": FILE}, {"access_key": ID, "secret_key": KEY, "region": R}
  {"script": {OPERATION: [STEP, ...]}} the next signed requests of
      OPERATION (PutObject, UploadPart, "UploadPart 3" for part 3 only,
      ListParts, CompleteMultipartUpload, ...; or "*") get these answers in
      order (a STEP with "times": N answers N requests). A STEP:
        {"s3_error": CODE, "status"?: S, "message"?: M}  after reading
            the body, S3's error CODE (InternalError 500, SlowDown 503, ...)
        {"drop": true}  read half the body, then close the connection
        {"hang_ms": N}  read the body, answer nothing for N ms, then close

Every request except /_control is appended to the record file as one JSON
line: ts, method, path, query, operation, bucket, key, headers (host,
content-type, content-length, x-amz-date, x-amz-content-sha256,
x-amz-checksum-sha256, x-amz-checksum-algorithm, x-amz-checksum-mode),
signed_headers, credential_scope, access_key, signature ("ok", or why not:
missing, incomplete, no_payload_hash, unsigned_payload, bad_payload_hash,
unknown_key, expired, scope, mismatch), body_size and body_sha256 of what
was read (never a body), status (null when none was sent), code (S3's error
code, or dropped, hung, client_closed: a client gone mid-body), etag,
checksum (of what was stored)."""
import base64
import binascii
import datetime
import hashlib
import hmac
import json
import os
import re
import shutil
import sys
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from email.utils import formatdate

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

# Found beside this file, whatever sys.path says (python3 -P, PYTHONPATH).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mocklib  # noqa: E402

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
SERVICE = "s3"
SKEW = datetime.timedelta(minutes=15)
AMZ_DATE = "%Y%m%dT%H%M%SZ"
CHUNK = 1 << 20
MIN_PART = 5 << 20
MAX_XML = 4 << 20
AUTH_RE = re.compile(r"AWS4-HMAC-SHA256 Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),"
                     r"\s*Signature=([0-9a-f]{64})$")
BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MISMATCH = ("The request signature we calculated does not match the signature you "
            "provided. Check your key and signing method.")
RECORDED = ("host", "content-type", "content-length", "x-amz-date", "x-amz-content-sha256",
            "x-amz-checksum-sha256", "x-amz-checksum-algorithm", "x-amz-checksum-mode")
STATUS = {"InternalError": 500, "SlowDown": 503, "ServiceUnavailable": 503,
          "AccessDenied": 403, "NoSuchUpload": 404, "NoSuchKey": 404, "NoSuchBucket": 404,
          "NotImplemented": 501, "SignatureDoesNotMatch": 403, "InvalidAccessKeyId": 403,
          "RequestTimeTooSkewed": 403}


class Resigner(S3SigV4Auth):
    """botocore's S3 signer over the headers the client signed, all of
    them: botocore itself never signs Expect or User-Agent, S3 takes them."""

    def headers_to_sign(self, request):
        headers = HTTPHeaders()
        for name, value in request.headers.items():
            headers[name.lower()] = value
        return headers


class S3Error(Exception):
    """S3's error CODE with its HTTP STATUS, MESSAGE and extra XML fields."""

    def __init__(self, status, code, message, **extra):
        super().__init__(code)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def xml(root, fields, ns=True):
    """<ROOT> holding FIELDS ([(name, text or list of pairs)]) as bytes."""
    def fill(parent, items):
        for name, value in items:
            child = ET.SubElement(parent, name)
            if isinstance(value, list):
                fill(child, value)
            elif value is not None:
                child.text = str(value)
    top = ET.Element(root, xmlns=NS) if ns else ET.Element(root)
    fill(top, fields)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(top)


def b64(digest):
    return base64.b64encode(digest).decode()


def checksum_bytes(value):
    """The 32 bytes of the base64 SHA-256 VALUE; S3Error when it is not one."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise S3Error(400, "InvalidRequest", "Value for x-amz-checksum-sha256 header is invalid.")
    return raw


def http_date(t):
    return formatdate(t, usegmt=True)


def iso_date(t):
    return datetime.datetime.utcfromtimestamp(t).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def read_json(path):
    with open(path) as f:
        return json.load(f)


def write_json(path, value):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(value, f)
    os.replace(tmp, path)


class State(mocklib.ScriptedState):
    def __init__(self, record, dir, bucket, access_key, secret_key, region, domain):
        super().__init__(record)
        self.dir = dir or os.environ.get("CX_S3_MOCK_DIR")
        if not self.dir:
            sys.exit("s3.py: --dir DIR or CX_S3_MOCK_DIR is needed")
        for name in bucket:
            os.makedirs(os.path.join(self.dir, name, "objects"), exist_ok=True)
        self.domain = domain
        self.defaults = (access_key, secret_key, region)
        self.reset()

    def reset(self):
        self.access_key, self.secret_key, self.region = self.defaults
        self.script = {}


class Handler(mocklib.Handler):
    server_version = "AmazonS3"
    nodelay = True
    # a client that stalls mid-body is dropped, not waited for forever
    timeout = 60

    def handle_any(self):
        url = self.path.split("?", 1)
        self.route = url[0]
        self.query = dict(urllib.parse.parse_qsl(url[1] if len(url) > 1 else "",
                                                 keep_blank_values=True))
        length = self.headers.get("Content-Length")
        self.left = int(length) if length and length.isdigit() else 0
        self.expects_100 = (self.headers.get("Expect") or "").lower() == "100-continue"
        self.body_size = self.body_sha256 = self.etag = self.checksum = None
        self.signature, self.operation, self.code = None, None, None
        self.out = (500, b"", {})
        if self.route == "/_control":
            return self.control()
        self.bucket, self.key = self.address()
        hang = None
        try:
            self.signature = self.check_signature()
            self.operation = self.name_operation()
            step = self.server.state.take_step(self.operation + " " + self.query.get(
                "partNumber", "")) if self.operation == "UploadPart" else None
            step = step or self.server.state.take_step(self.operation)
            if step is not None:
                hang = self.scripted(step)
            else:
                getattr(self, "op_" + self.operation)()
        except S3Error as e:
            self.error(e)
        except ConnectionError:
            # the client went away mid-body
            self.code, hang = "client_closed", 0
        if self.left:
            # an unread body: the connection cannot carry another request
            self.close_connection = True
        self.record_request()
        if hang is not None:
            time.sleep(hang / 1000)
            self.close_connection = True
            return
        try:
            self.send()
        except OSError:
            # the client is gone
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = handle_any

    def handle_expect_100(self):
        # as S3: "100 Continue" only once the request is signed and valid
        # (receive), else the refusal at once, before the body is sent
        return True

    def send(self):
        status, body, headers = self.out
        headers = dict({"x-amz-request-id": uuid.uuid4().hex[:16].upper()}, **headers)
        if isinstance(body, str):
            # a file to stream: GetObject
            self.send_file(status, headers, body)
            return
        self.send_body(status, headers, body, "application/xml" if body else None)

    def send_file(self, status, headers, path):
        """Streams an object: its .data file, or the part files its
        multipart upload left in .parts (kept as they are, not copied)."""
        parts = sorted(os.listdir(path[:-5] + ".parts")) if path.endswith(".data") \
            and os.path.isdir(path[:-5] + ".parts") else None
        paths = [os.path.join(path[:-5] + ".parts", p) for p in parts] if parts is not None \
            else [path]
        size = sum(os.path.getsize(p) for p in paths)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if self.command == "HEAD":
            return
        for p in paths:
            with open(p, "rb") as f:
                shutil.copyfileobj(f, self.wfile, CHUNK)

    def error(self, e):
        self.code = e.code
        rid = uuid.uuid4().hex[:16].upper()
        fields = [("Code", e.code), ("Message", e.message)] + list(e.extra.items())
        fields += [("RequestId", rid), ("HostId", b64(os.urandom(48)))]
        body = xml("Error", fields, ns=False) if self.command != "HEAD" else b""
        self.out = (e.status, body, {})

    # --- addressing -------------------------------------------------------------

    def address(self):
        """(bucket, key) of this request, virtual host or path style."""
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
        path = urllib.parse.unquote(self.route)
        suffix = "." + self.server.state.domain
        if host.endswith(suffix):
            return host[:-len(suffix)], path[1:]
        bucket, _, key = path[1:].partition("/")
        return bucket, key

    def name_operation(self):
        q, m, has_key = self.query, self.command, bool(self.key)
        if not self.bucket or not BUCKET_RE.match(self.bucket):
            raise S3Error(400, "InvalidBucketName", "The specified bucket is not valid.",
                          BucketName=self.bucket)
        if not has_key:
            if m == "PUT":
                return "CreateBucket"
        elif m == "POST" and "uploads" in q:
            return "CreateMultipartUpload"
        elif "uploadId" in q:
            ops = {"PUT": "UploadPart", "GET": "ListParts", "POST": "CompleteMultipartUpload",
                   "DELETE": "AbortMultipartUpload"}
            if m in ops and (m != "PUT" or "partNumber" in q):
                return ops[m]
        elif m in ("PUT", "GET", "HEAD") and not q.keys() - {"x-id"}:
            return {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject"}[m]
        raise S3Error(501, "NotImplemented", "A header or query you provided implies "
                      "functionality that is not implemented.")

    def bucket_dir(self):
        d = os.path.join(self.server.state.dir, self.bucket)
        if not os.path.isdir(d):
            raise S3Error(404, "NoSuchBucket", "The specified bucket does not exist.",
                          BucketName=self.bucket)
        return d

    def object_path(self):
        name = hashlib.sha256(self.key.encode()).hexdigest()
        return os.path.join(self.bucket_dir(), "objects", name)

    # --- SigV4 ------------------------------------------------------------------

    def check_signature(self):
        """"ok", or raises S3's refusal (self.signature says why)."""
        st = self.server.state
        auth = self.headers.get("Authorization")
        if not auth:
            self.signature = "missing"
            raise S3Error(403, "AccessDenied", "Access Denied")
        m = AUTH_RE.match(auth)
        amz_date = self.headers.get("X-Amz-Date") or ""
        self.scope = m.group(1).split("/") if m else []
        self.signed = m.group(2).split(";") if m else []
        if not m or len(self.scope) != 5 or self.scope[4] != "aws4_request" \
                or "host" not in self.signed or not re.match(r"\d{8}T\d{6}Z$", amz_date):
            self.signature = "incomplete"
            raise S3Error(400, "AuthorizationHeaderMalformed",
                          "The authorization header is malformed; the Credential, "
                          "SignedHeaders, Signature and x-amz-date are required.")
        self.check_payload_header()
        with st.lock:
            key, secret, region = st.access_key, st.secret_key, st.region
        if not hmac.compare_digest(self.scope[0], key):
            self.signature = "unknown_key"
            raise S3Error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided "
                          "does not exist in our records.", AWSAccessKeyId=self.scope[0])
        self.check_scope(amz_date, region)
        canonical, to_sign, signature = self.expected_signature(key, secret, region, amz_date)
        if not hmac.compare_digest(signature, m.group(3)):
            self.signature = "mismatch"
            raise S3Error(403, "SignatureDoesNotMatch", MISMATCH, AWSAccessKeyId=key,
                          StringToSign=to_sign, SignatureProvided=m.group(3),
                          CanonicalRequest=canonical)
        return "ok"

    def check_payload_header(self):
        declared = self.headers.get("X-Amz-Content-SHA256")
        if declared is None or "x-amz-content-sha256" not in self.signed:
            self.signature = "no_payload_hash"
            raise S3Error(400, "InvalidRequest", "Missing required header for this request: "
                          "x-amz-content-sha256")
        if declared == "UNSIGNED-PAYLOAD" or declared.startswith("STREAMING-"):
            self.signature = "unsigned_payload"
            raise S3Error(501, "NotImplemented", "x-amz-content-sha256 %s: this mock takes "
                          "only a signed payload (the hex SHA-256 of the body)." % declared)
        if not re.match(r"[0-9a-f]{64}$", declared):
            self.signature = "bad_payload_hash"
            raise S3Error(400, "InvalidArgument", "x-amz-content-sha256 must be "
                          "UNSIGNED-PAYLOAD, STREAMING-... or a valid sha256 value.")

    def check_scope(self, amz_date, region):
        when = datetime.datetime.strptime(amz_date, AMZ_DATE)
        now = datetime.datetime.utcnow().replace(microsecond=0)
        if abs(when - now) > SKEW:
            self.signature = "expired"
            raise S3Error(403, "RequestTimeTooSkewed", "The difference between the request "
                          "time and the current time is too large.",
                          RequestTime=amz_date, ServerTime=now.strftime(AMZ_DATE),
                          MaxAllowedSkewMilliseconds=900000)
        date, scope_region, service = self.scope[1:4]
        if scope_region != region:
            self.signature = "scope"
            raise S3Error(400, "AuthorizationHeaderMalformed", "The authorization header "
                          "is malformed; the region '%s' is wrong; expecting '%s'"
                          % (scope_region, region), Region=region)
        if date != amz_date[:8] or service != SERVICE:
            self.signature = "scope"
            raise S3Error(403, "SignatureDoesNotMatch", MISMATCH)

    def expected_signature(self, key, secret, region, amz_date):
        """(canonical request, string to sign, signature) that botocore
        gives the request as received: method, path, query, the headers it
        signed and the declared payload hash."""
        headers = {}
        for name in self.signed:
            values = self.headers.get_all(name) or []
            headers[name] = ",".join(" ".join(v.split()) for v in values)
        req = AWSRequest(method=self.command, url="http://" + (self.headers.get("Host") or "")
                         + self.path, headers=headers)
        req.context["timestamp"] = amz_date
        signer = Resigner(Credentials(key, secret), SERVICE, region)
        canonical = signer.canonical_request(req)
        to_sign = signer.string_to_sign(req, canonical)
        return canonical, to_sign, signer.signature(to_sign, req)

    # --- bodies -----------------------------------------------------------------

    def receive(self, path, limit=None):
        """Streams the body to PATH (None: nowhere) in chunks, at most LIMIT
        bytes of it (then the connection is dropped); checks it against
        x-amz-content-sha256. Returns (size, sha256 digest, md5 digest)."""
        if self.expects_100:
            self.expects_100 = False
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
        sha, md5, size = hashlib.sha256(), hashlib.md5(), 0
        want = self.left if limit is None else min(limit, self.left)
        out = open(path + ".part", "wb") if path else None
        try:
            while size < want:
                try:
                    chunk = self.rfile.read(min(CHUNK, want - size))
                except OSError:
                    # reset, or stalled past the timeout: as an early end
                    chunk = b""
                if not chunk:
                    break
                sha.update(chunk)
                md5.update(chunk)
                size += len(chunk)
                if out:
                    out.write(chunk)
        finally:
            if out:
                out.close()
        self.left -= size
        self.body_size, self.body_sha256 = size, sha.hexdigest()
        if size < want or limit is not None:
            self.remove(path and path + ".part")
            self.close_connection = True
            raise ConnectionAbortedError()
        if self.body_sha256 != self.headers.get("X-Amz-Content-SHA256"):
            self.remove(path and path + ".part")
            raise S3Error(400, "XAmzContentSHA256Mismatch", "The provided "
                          "'x-amz-content-sha256' header does not match what was computed.",
                          ClientComputedContentSHA256=self.headers.get("X-Amz-Content-SHA256"),
                          S3ComputedContentSHA256=self.body_sha256)
        return size, sha.digest(), md5.digest()

    @staticmethod
    def remove(path):
        if path and os.path.exists(path):
            os.unlink(path)

    def receive_checked(self, path):
        """receive, then x-amz-checksum-sha256 and Content-MD5 checked
        (400 BadDigest, the file removed); (size, sha256, md5)."""
        if not (self.headers.get("Content-Length") or "").isdigit():
            # a chunked body, or none: S3 needs the length up front
            self.close_connection = True
            raise S3Error(411, "MissingContentLength", "You must provide the Content-Length "
                          "HTTP header.")
        claimed = self.headers.get("x-amz-checksum-sha256")
        claimed_raw = checksum_bytes(claimed) if claimed is not None else None
        size, sha, md5 = self.receive(path)
        content_md5 = self.headers.get("Content-MD5")
        if claimed_raw is not None and claimed_raw != sha:
            self.remove(path + ".part")
            raise S3Error(400, "BadDigest", "The SHA256 you specified did not match the "
                          "calculated checksum.")
        if content_md5 is not None and content_md5 != b64(md5):
            self.remove(path + ".part")
            raise S3Error(400, "BadDigest", "The Content-MD5 you specified did not match "
                          "what we received.", ExpectedDigest=content_md5,
                          CalculatedDigest=b64(md5))
        os.replace(path + ".part", path)
        return size, sha, md5

    # --- objects ----------------------------------------------------------------

    def op_CreateBucket(self):
        self.receive(None)
        os.makedirs(os.path.join(self.server.state.dir, self.bucket, "objects"),
                    exist_ok=True)
        self.out = (200, b"", {"Location": "/" + self.bucket})

    def metadata(self):
        return {k.lower(): v for k, v in self.headers.items()
                if k.lower().startswith("x-amz-meta-")}

    def op_PutObject(self):
        path = self.object_path()
        size, sha, md5 = self.receive_checked(path + ".data")
        shutil.rmtree(path + ".parts", ignore_errors=True)
        self.etag = '"%s"' % md5.hex()
        self.checksum = b64(sha)
        write_json(path + ".json", {
            "key": self.key, "size": size, "etag": self.etag, "checksum": self.checksum,
            "content_type": self.headers.get("Content-Type") or "binary/octet-stream",
            "meta": self.metadata(), "mtime": time.time()})
        headers = {"ETag": self.etag}
        if self.headers.get("x-amz-checksum-sha256"):
            headers["x-amz-checksum-sha256"] = self.checksum
        self.out = (200, b"", headers)

    def op_HeadObject(self):
        self.receive(None)
        path = self.object_path()
        if not os.path.exists(path + ".json"):
            raise S3Error(404, "NoSuchKey", "The specified key does not exist.", Key=self.key)
        o = read_json(path + ".json")
        self.etag = o["etag"]
        headers = {"ETag": o["etag"], "Last-Modified": http_date(o["mtime"]),
                   "Content-Type": o["content_type"], "Accept-Ranges": "bytes"}
        headers.update(o["meta"])
        if (self.headers.get("x-amz-checksum-mode") or "").upper() == "ENABLED" \
                and o["checksum"]:
            headers["x-amz-checksum-sha256"] = self.checksum = o["checksum"]
        self.out = (200, path + ".data", headers)

    op_GetObject = op_HeadObject

    # --- multipart --------------------------------------------------------------

    def upload_dir(self):
        uid = self.query.get("uploadId", "")
        d = os.path.join(self.bucket_dir(), "uploads", uid)
        if not re.match(r"[0-9a-f]{32}$", uid) or not os.path.isdir(d) \
                or read_json(os.path.join(d, "upload.json"))["key"] != self.key:
            raise S3Error(404, "NoSuchUpload", "The specified upload does not exist. The "
                          "upload ID may be invalid, or the upload may have been aborted "
                          "or completed.", UploadId=uid)
        return d, read_json(os.path.join(d, "upload.json"))

    def op_CreateMultipartUpload(self):
        self.receive(None)
        algorithm = self.headers.get("x-amz-checksum-algorithm")
        if algorithm not in (None, "SHA256"):
            raise S3Error(400, "InvalidRequest", "Checksum algorithm %s is not supported by "
                          "this mock (SHA256 is)." % algorithm)
        uid = uuid.uuid4().hex
        d = os.path.join(self.bucket_dir(), "uploads", uid)
        os.makedirs(d)
        write_json(os.path.join(d, "upload.json"), {
            "key": self.key, "algorithm": algorithm, "meta": self.metadata(),
            "content_type": self.headers.get("Content-Type") or "binary/octet-stream"})
        fields = [("Bucket", self.bucket), ("Key", self.key), ("UploadId", uid)]
        headers = {"x-amz-checksum-algorithm": algorithm} if algorithm else {}
        self.out = (200, xml("InitiateMultipartUploadResult", fields), headers)

    def op_UploadPart(self):
        d, upload = self.upload_dir()
        n = self.query.get("partNumber", "")
        if not n.isdigit() or not 1 <= int(n) <= 10000:
            raise S3Error(400, "InvalidArgument", "Part number must be an integer between "
                          "1 and 10000, inclusive", ArgumentName="partNumber",
                          ArgumentValue=n)
        if upload["algorithm"] == "SHA256" and not self.headers.get("x-amz-checksum-sha256"):
            raise S3Error(400, "InvalidRequest", "Checksum Type mismatch occurred, expected "
                          "checksum Type: sha256, actual checksum Type: null")
        path = os.path.join(d, "part-%05d" % int(n))
        size, sha, md5 = self.receive_checked(path + ".data")
        self.etag, self.checksum = '"%s"' % md5.hex(), b64(sha)
        write_json(path + ".json", {"n": int(n), "size": size, "etag": self.etag,
                                    "checksum": self.checksum, "mtime": time.time()})
        headers = {"ETag": self.etag}
        if self.headers.get("x-amz-checksum-sha256"):
            headers["x-amz-checksum-sha256"] = self.checksum
        self.out = (200, b"", headers)

    @staticmethod
    def parts(d):
        """The parts uploaded in D, by number."""
        return [read_json(os.path.join(d, f)) for f in sorted(os.listdir(d))
                if f.startswith("part-") and f.endswith(".json")]

    def number(self, name, default):
        """Query parameter NAME, a number (DEFAULT when absent)."""
        value = self.query.get(name, str(default))
        if not value.isdigit():
            raise S3Error(400, "InvalidArgument", "Provided %s not an integer or within "
                          "integer range" % name, ArgumentName=name, ArgumentValue=value)
        return int(value)

    def op_ListParts(self):
        self.receive(None)
        d, upload = self.upload_dir()
        marker = self.number("part-number-marker", 0)
        most = min(self.number("max-parts", 1000), 1000)
        after = [p for p in self.parts(d) if p["n"] > marker]
        shown = after[:most]
        fields = [("Bucket", self.bucket), ("Key", self.key),
                  ("UploadId", self.query["uploadId"]), ("PartNumberMarker", marker),
                  ("NextPartNumberMarker", shown[-1]["n"] if shown else marker),
                  ("MaxParts", most), ("IsTruncated", str(len(after) > most).lower())]
        for p in shown:
            part = [("PartNumber", p["n"]), ("LastModified", iso_date(p["mtime"])),
                    ("ETag", p["etag"]), ("Size", p["size"])]
            if upload["algorithm"] == "SHA256":
                part.append(("ChecksumSHA256", p["checksum"]))
            fields.append(("Part", part))
        fields.append(("StorageClass", "STANDARD"))
        if upload["algorithm"]:
            fields.append(("ChecksumAlgorithm", upload["algorithm"]))
        self.out = (200, xml("ListPartsResult", fields), {})

    def op_AbortMultipartUpload(self):
        self.receive(None)
        d, _ = self.upload_dir()
        shutil.rmtree(d)
        self.out = (204, b"", {})

    def requested_parts(self, path):
        """The (number, ETag, checksum) of the CompleteMultipartUpload body
        in PATH."""
        malformed = S3Error(400, "MalformedXML", "The XML you provided was not well-formed "
                            "or did not validate against our published schema.")
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError:
            raise malformed from None
        ns = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        if root.tag != ns + "CompleteMultipartUpload":
            raise malformed
        out = []
        for part in root.findall(ns + "Part"):
            n, etag = part.findtext(ns + "PartNumber"), part.findtext(ns + "ETag")
            if not n or not n.strip().isdigit() or not etag:
                raise malformed
            etag = etag.strip()
            out.append((int(n), etag if etag.startswith('"') else '"%s"' % etag,
                        part.findtext(ns + "ChecksumSHA256")))
        if not out:
            raise malformed
        return out

    def op_CompleteMultipartUpload(self):
        d, upload = self.upload_dir()
        if self.left > MAX_XML:
            # parsed whole: bounded, as S3 bounds it
            self.close_connection = True
            raise S3Error(400, "MaxMessageLengthExceeded", "Your request was too big.")
        body = os.path.join(d, "complete.xml")
        self.receive_checked(body)
        asked = self.requested_parts(body)
        have = {p["n"]: p for p in self.parts(d)}
        if [n for n, _, _ in asked] != sorted({n for n, _, _ in asked}):
            raise S3Error(400, "InvalidPartOrder", "The list of parts was not in ascending "
                          "order. Parts must be ordered by part number.")
        for i, (n, etag, checksum) in enumerate(asked):
            p = have.get(n)
            if p is None or p["etag"] != etag or (checksum and checksum != p["checksum"]):
                raise S3Error(400, "InvalidPart", "One or more of the specified parts could "
                              "not be found. The part may not have been uploaded, or the "
                              "specified entity tag may not match the part's entity tag.",
                              UploadId=self.query["uploadId"], PartNumber=n, ETag=etag)
            if upload["algorithm"] == "SHA256" and not checksum:
                raise S3Error(400, "InvalidRequest", "The upload was created using a sha256 "
                              "checksum. The complete request must include the checksum for "
                              "each part. It was missing for part %d in the request." % n)
            if i < len(asked) - 1 and p["size"] < MIN_PART:
                raise S3Error(400, "EntityTooSmall", "Your proposed upload is smaller than "
                              "the minimum allowed object size.", ProposedSize=p["size"],
                              MinSizeAllowed=MIN_PART, PartNumber=n, ETag=etag)
        self.assemble(d, upload, [have[n] for n, _, _ in asked])

    def assemble(self, d, upload, parts):
        """Makes PARTS of the upload in D the object: as S3, without copying
        them (they move to the object's .parts folder, read in order)."""
        path = self.object_path()
        shutil.rmtree(path + ".parts.new", ignore_errors=True)
        os.makedirs(path + ".parts.new")
        for i, p in enumerate(parts):
            os.rename(os.path.join(d, "part-%05d.data" % p["n"]),
                      os.path.join(path + ".parts.new", "%05d" % i))
        shutil.rmtree(path + ".parts", ignore_errors=True)
        os.rename(path + ".parts.new", path + ".parts")
        self.remove(path + ".data")
        md5s = b"".join(bytes.fromhex(p["etag"].strip('"')) for p in parts)
        self.etag = '"%s-%d"' % (hashlib.md5(md5s).hexdigest(), len(parts))
        if upload["algorithm"] == "SHA256":
            sums = b"".join(base64.b64decode(p["checksum"]) for p in parts)
            self.checksum = "%s-%d" % (b64(hashlib.sha256(sums).digest()), len(parts))
        write_json(path + ".json", {
            "key": self.key, "size": sum(p["size"] for p in parts), "etag": self.etag,
            "checksum": self.checksum, "content_type": upload["content_type"],
            "meta": upload["meta"], "mtime": time.time()})
        shutil.rmtree(d)
        fields = [("Location", "http://%s/%s/%s" % (self.headers.get("Host"), self.bucket,
                                                    self.key)),
                  ("Bucket", self.bucket), ("Key", self.key), ("ETag", self.etag)]
        if self.checksum:
            fields.append(("ChecksumSHA256", self.checksum))
        self.out = (200, xml("CompleteMultipartUploadResult", fields), {})

    # --- scripted answers -------------------------------------------------------

    def scripted(self, step):
        """Answers with STEP; returns how long to hang (ms), or None."""
        if step.get("drop"):
            try:
                self.receive(None, limit=self.left // 2)
            except ConnectionAbortedError:
                pass
            self.code = "dropped"
            return 0
        self.receive(None)
        if step.get("hang_ms") is not None:
            self.code = "hung"
            return step["hang_ms"]
        code = step.get("s3_error", "InternalError")
        raise S3Error(step.get("status", STATUS.get(code, 400)), code,
                      step.get("message", "We encountered an internal error. Please try "
                               "again." if code == "InternalError" else code))

    # --- the record -------------------------------------------------------------

    def record_request(self):
        self.record(
            operation=self.operation, bucket=self.bucket, key=self.key,
            headers={k: self.headers.get(k) for k in RECORDED},
            signed_headers=getattr(self, "signed", None),
            credential_scope="/".join(getattr(self, "scope", [])[1:]) or None,
            access_key=(getattr(self, "scope", None) or [None])[0],
            signature=self.signature, body_size=self.body_size,
            body_sha256=self.body_sha256, status=self.out[0] if self.code not in (
                "dropped", "hung", "client_closed") else None,
            code=self.code, etag=self.etag, checksum=self.checksum)

    # --- programming ------------------------------------------------------------

    def control(self):
        st = self.server.state
        try:
            c = json.loads(self.read_body() or b"{}")
        except ValueError:
            c = None
        if not isinstance(c, dict):
            return self.send_json(400, {"error": "not a JSON object"})
        with st.lock:
            st.apply(c, "access_key", "secret_key", "region")
            st.add_script(c.get("script", {}))
        self.send_json(200, {"ok": True})


if __name__ == "__main__":
    mocklib.main(Handler, State, server=mocklib.BusyServer, record=None, dir="", bucket=[],
                 access_key="AKIDEXAMPLE",
                 secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                 region="us-east-1", domain="localhost")
