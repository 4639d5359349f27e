"""What the alert channels reach in the tests, each run as its own process on loopback:

- ``python -m tests.alert_receivers smtp PORT OUT``: an SMTP server (aiosmtpd) appending each
  message it receives to ``OUT`` as one JSON line ``{"channel": "email", "subject", "body"}``;
- ``python -m tests.alert_receivers http PORT OUT MODE``: an HTTP receiver of webhook POSTs,
  appending ``{"channel": "webhook", "text"}``; ``MODE`` ``ok`` answers 200, ``500`` answers
  500 (recording nothing), ``slow`` answers after 30 s (a timeout for the caller).
"""

import email
import json
import sys
import threading
import time
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_lock = threading.Lock()


def _append(out: Path, record: dict) -> None:
    with _lock, out.open("a") as file:
        file.write(json.dumps(record) + "\n")


def smtp(port: int, out: Path) -> None:
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            message = email.message_from_bytes(envelope.content, policy=policy.default)
            body = message.get_body(("plain",)).get_content()
            _append(out, {"channel": "email", "subject": message["Subject"], "body": body})
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    threading.Event().wait()


def http(port: int, out: Path, mode: str) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if mode == "slow":
                time.sleep(30)
            if mode in ("500", "slow"):
                self.send_response(500)
                self.end_headers()
                return
            _append(out, {"channel": "webhook", "text": json.loads(body)["text"]})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    kind, port, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    if kind == "smtp":
        smtp(port, out)
    else:
        http(port, out, sys.argv[4])
