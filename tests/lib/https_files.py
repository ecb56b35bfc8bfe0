"""https_files.py: an HTTPS server for the SNS tests, standing in for AWS's
certificate host (tests only).

    https_files.py DIR CERT KEY LOG

Listens on 127.0.0.1 (a free port, printed on the first line of stdout)
with the certificate CERT and its key KEY; answers GET /confirm... (a
SubscribeURL) with 200 and a ConfirmSubscriptionResponse, and GET /NAME
with the file DIR/NAME (404 when there is none). Every request is appended
to LOG as a JSON line {"method","path"}. Stops after 300 s.
"""
import json
import os
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT, CERT, KEY, LOG = sys.argv[1:5]
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        with LOCK, open(LOG, "a") as f:
            f.write(json.dumps({"method": "GET", "path": self.path}) + "\n")
        if self.path.startswith("/confirm"):
            body = b"<ConfirmSubscriptionResponse/>"
        else:
            path = os.path.join(ROOT, os.path.basename(self.path.split("?")[0]))
            if not os.path.isfile(path):
                self.send_error(404)
                return
            with open(path, "rb") as f:
                body = f.read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(CERT, KEY)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
threading.Timer(300, server.shutdown).start()
server.serve_forever()
