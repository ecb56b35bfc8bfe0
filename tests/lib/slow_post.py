#!/usr/bin/env python3
"""slow_post.py PORT FILE PAUSE [PROVIDER]: POSTs FILE, signed with
$CX_META_APP_SECRET, to /webhooks/PROVIDER (default whatsapp) in two
halves: the headers and half the body, then PAUSE seconds later the rest.
Prints the status code and the response body on one line, or "error: ..."
when the connection failed. A request that is in flight for PAUSE seconds,
for shutdown tests."""
import hashlib
import hmac
import os
import socket
import sys
import time

port, path, pause = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
provider = sys.argv[4] if len(sys.argv) > 4 else "whatsapp"
body = open(path, "rb").read()
sig = hmac.new(os.environ["CX_META_APP_SECRET"].encode(), body, hashlib.sha256).hexdigest()
head = ("POST /webhooks/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nContent-Length: %d\r\n"
        "X-Hub-Signature-256: sha256=%s\r\nConnection: close\r\n\r\n"
        % (provider, len(body), sig)).encode()
half = len(body) // 2
try:
    s = socket.create_connection(("127.0.0.1", port), timeout=pause + 10)
    s.sendall(head + body[:half])
    time.sleep(pause)
    s.sendall(body[half:])
    got = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.close()
except OSError as e:
    print("error: %s" % e)
    sys.exit(0)
status, _, rest = got.partition(b"\r\n")
code = status.split(b" ")[1].decode() if status.count(b" ") >= 1 else "none"
print(code, rest.partition(b"\r\n\r\n")[2].decode().strip())
