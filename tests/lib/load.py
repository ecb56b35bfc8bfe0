#!/usr/bin/env python3
"""load.py: a load generator for cx-ingest serve's tests.

    load.py --port PORT [--provider whatsapp] [--threads 8] [--requests N]
            [--body FILE] [--out FILE] [--seconds S]

Each of --threads threads POSTs --requests signed deliveries to
/webhooks/PROVIDER over one keep-alive connection (reconnecting after an
error). Bodies are distinct JSON objects unless --body gives one file to send
every time. The signature uses $CX_META_APP_SECRET (read from the
environment, never from the command line).

Every correlation_id answered with 200 is appended to --out at once, one a
line, so the file is complete even if the server dies mid-run. A thread stops
when the server refuses connections (it is gone) or after --seconds. At the
end, one JSON line on stdout: {"sent", "ok", "errors", "status": {code: n}}.
"""
import argparse
import hashlib
import hmac
import http.client
import json
import os
import sys
import threading
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--provider", default="whatsapp")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--body")
    ap.add_argument("--out")
    ap.add_argument("--seconds", type=float, default=60)
    a = ap.parse_args()

    secret = os.environ["CX_META_APP_SECRET"].encode()
    fixed = open(a.body, "rb").read() if a.body else None
    out = open(a.out, "a") if a.out else None
    lock = threading.Lock()
    totals = {"sent": 0, "ok": 0, "errors": 0, "status": {}}
    deadline = time.monotonic() + a.seconds
    nonce = os.urandom(6).hex()

    def record(status, cid):
        with lock:
            totals["sent"] += 1
            key = str(status)
            totals["status"][key] = totals["status"].get(key, 0) + 1
            if status == 200:
                totals["ok"] += 1
                if out:
                    out.write(cid + "\n")
                    out.flush()

    def worker(t):
        conn = None
        for i in range(a.requests):
            if time.monotonic() > deadline:
                break
            body = fixed or json.dumps({
                "object": "whatsapp_business_account", "entry": [],
                "load": {"run": nonce, "thread": t, "n": i}}).encode()
            sig = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(a.host, a.port, timeout=15)
                conn.request("POST", "/webhooks/" + a.provider, body,
                             {"Content-Type": "application/json",
                              "X-Hub-Signature-256": sig})
                resp = conn.getresponse()
                text = resp.read()
                cid = ""
                if resp.status == 200:
                    cid = json.loads(text)["correlation_id"]
                record(resp.status, cid)
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except ConnectionRefusedError:
                with lock:
                    totals["errors"] += 1
                break
            except (OSError, http.client.HTTPException, ValueError):
                with lock:
                    totals["errors"] += 1
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(a.threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if out:
        out.close()
    print(json.dumps(totals, sort_keys=True))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
