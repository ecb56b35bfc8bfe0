"""A real SMTP server for the tests and the benchmark (aiosmtpd, Debian's
python3-aiosmtpd), not a mock: SMTP is an open protocol.

    smtpd.py [PORT] --cert CERT --key KEY --user U --password P --maildir DIR
             [--implicit-tls] [--record FILE] [--lifetime SECONDS]

It listens on 127.0.0.1:PORT (0 picks a free port), prints the port on the
first line of stdout and stops after SECONDS (default 300). STARTTLS is
offered and required before AUTH, AUTH (PLAIN or LOGIN, as U and P) before
MAIL; with --implicit-tls the connection is TLS from its first byte (smtps).
Each accepted message is written as it arrived to DIR/NNNNNN.eml, and one
JSON line is appended to the record file (keys sorted):
{"session": N, "mail_from", "rcpt_tos", "file", "tls", "auth_user"}, where
N numbers the TCP connections, so a test can tell how many carried its mail.
"""
import argparse
import asyncio
import hmac
import itertools
import json
import logging
import os
import ssl
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def options():
    p = argparse.ArgumentParser(prog="smtpd.py")
    p.add_argument("port", nargs="?", type=int, default=0)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--maildir", required=True)
    p.add_argument("--implicit-tls", action="store_true")
    p.add_argument("--record", default="smtp.jsonl")
    p.add_argument("--lifetime", type=float, default=300)
    return p.parse_args()


class Connection(SMTP):
    """One TCP connection (its session survives STARTTLS, aiosmtpd's does
    not): its number and whether it is encrypted."""

    numbers = itertools.count(1)
    implicit_tls = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.number = next(self.numbers)

    def encrypted(self):
        return self.implicit_tls or self._tls_protocol is not None


class Mailbox:
    """Checks the credentials and stores what is accepted."""

    def __init__(self, opts):
        self.user = opts.user.encode()
        self.password = opts.password.encode()
        self.maildir = os.path.abspath(opts.maildir)
        self.record = opts.record
        os.makedirs(self.maildir, exist_ok=True)
        # a second server on the same DIR adds to what is there
        self.count = sum(1 for f in os.listdir(self.maildir) if f.endswith(".eml"))

    def authenticate(self, server, session, envelope, mechanism, data):
        ok = (isinstance(data, LoginPassword)
              and hmac.compare_digest(data.login, self.user)
              and hmac.compare_digest(data.password, self.password))
        return AuthResult(success=ok, handled=False,
                          auth_data=data.login.decode() if ok else None)

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        path = os.path.join(self.maildir, "%06d.eml" % self.count)
        with open(path, "wb") as f:
            f.write(envelope.original_content)
        entry = {"session": server.number, "mail_from": envelope.mail_from,
                 "rcpt_tos": envelope.rcpt_tos, "file": path,
                 "tls": server.encrypted(), "auth_user": session.auth_data}
        with open(self.record, "a") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")
        return "250 OK queued as %06d" % self.count


def tls_context(opts):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(opts.cert, opts.key)
    return ctx


async def serve(opts):
    box = Mailbox(opts)
    ctx = tls_context(opts)
    Connection.implicit_tls = opts.implicit_tls
    loop = asyncio.get_running_loop()

    def connection():
        # implicit TLS: the socket is TLS already, so AUTH needs no STARTTLS
        return Connection(box, hostname="localhost", loop=loop,
                          tls_context=None if opts.implicit_tls else ctx,
                          require_starttls=not opts.implicit_tls,
                          auth_require_tls=not opts.implicit_tls,
                          auth_required=True, authenticator=box.authenticate)

    server = await loop.create_server(connection, "127.0.0.1", opts.port,
                                      ssl=ctx if opts.implicit_tls else None)
    print(server.sockets[0].getsockname()[1], flush=True)
    # bounded: the server never outlives a test run
    await asyncio.sleep(opts.lifetime)
    server.close()


def main():
    opts = options()
    # aiosmtpd warns of what it does itself (it sets the login_data it
    # deprecates) and of AUTH without STARTTLS, which implicit TLS makes safe
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    try:
        asyncio.run(serve(opts))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
