#!/usr/bin/env python3
"""raw.py PORT [HOST]: sends standard input as is to HOST:PORT (default
127.0.0.1), half-closes, and prints the server's status line, or "closed"
when the server closed the connection without answering. Gives up after $RAW_TIMEOUT seconds (default 2)
("timeout"). For malformed requests that curl will not send."""
import socket
import sys

port = int(sys.argv[1])
host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
data = sys.stdin.buffer.read()
s = socket.create_connection((host, port), timeout=float(__import__("os").environ.get("RAW_TIMEOUT", "2")))
try:
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    got = b""
    while b"\r\n" not in got:
        chunk = s.recv(4096)
        if not chunk:
            break
        got += chunk
except socket.timeout:
    print("timeout")
    sys.exit(0)
except (ConnectionResetError, BrokenPipeError):
    got = b""
finally:
    s.close()
line = got.split(b"\r\n", 1)[0].decode("latin-1")
print(line if line else "closed")
