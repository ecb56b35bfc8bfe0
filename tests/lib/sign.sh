#!/bin/sh
# sign.sh [FILE]: prints Meta's X-Hub-Signature-256 value, "sha256=<hex>", the
# HMAC-SHA256 of FILE (default: stdin) with the secret in $CX_META_APP_SECRET,
# or in the variable named by $SIGN_SECRET_VAR (e.g. CX_META_APP_SECRET_PREVIOUS).
# The secret is read from the environment, never from the command line.
# Debian's python3 first: a version-manager shim can take a second to start.
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
exec "$py" -c '
import hashlib, hmac, os, sys
secret = os.environ[os.environ.get("SIGN_SECRET_VAR", "CX_META_APP_SECRET")]
data = open(sys.argv[1], "rb").read() if len(sys.argv) > 1 else sys.stdin.buffer.read()
print("sha256=" + hmac.new(secret.encode(), data, hashlib.sha256).hexdigest())
' "$@"
