"""An HTTP destination for inlet, in standard-library Python.

inlet POSTs each Envelope signed with Standard Webhooks: ``webhook-id`` (the
Envelope id, the same on every retry), ``webhook-timestamp`` and
``webhook-signature`` (``v1,<base64 HMAC-SHA256>``; two while inlet rotates
secrets). This server verifies each delivery with the specification's
Python library, answers 200 and prints the Envelope; a delivery that does
not verify gets 401, which inlet treats as a permanent refusal of that event
(recorded and alarmed, not retried).

    WEBHOOK_SECRET=whsec_... python receiver.py          # 127.0.0.1:8000
    WEBHOOK_SECRET=whsec_... PORT=9100 python receiver.py

Needs ``pip install standardwebhooks==1.1.0``.
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

# inlet's Envelopes are at most the event queue's message size (1 MiB at
# the very most); anything larger is not from inlet.
MAX_BODY_BYTES = 1024 * 1024 + 64 * 1024


def on_envelope(envelope, delivery_id):
    """What to do with one verified Envelope: print it. Replace with your
    logic; key side effects by ``delivery_id`` (= ``envelope["id"]``), which
    a retry repeats."""
    message = envelope.get("message") or {}
    alert = envelope.get("alert") or {}
    summary = message.get("text") or alert.get("status") or ""
    print(f"{delivery_id}  {envelope['provider']}  {envelope['kind']}  {summary}", flush=True)
    print(json.dumps(envelope, indent=2, ensure_ascii=False), flush=True)


def make_handler(webhook, deliver=on_envelope):
    """A request handler class that verifies with ``webhook`` and hands each
    verified Envelope to ``deliver(envelope, webhook_id)``."""

    class DeliveryHandler(BaseHTTPRequestHandler):
        def do_POST(self):
            try:
                length = int(self.headers.get("content-length", ""))
            except ValueError:
                return self.answer(411, "a Content-Length is required")
            if length < 0 or length > MAX_BODY_BYTES:
                return self.answer(413, "body too large")
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                # Checks webhook-timestamp (within 5 minutes) and every v1
                # signature in webhook-signature against the exact bytes.
                webhook.verify(body, headers, json_parse=False)
            except (WebhookVerificationError, ValueError) as error:
                # ValueError: a header or body the library cannot even read
                # (a signature without its comma, bad base64, not UTF-8).
                self.log_message("refused: %s", str(error) or type(error).__name__)
                return self.answer(401, "invalid signature")
            try:
                envelope = json.loads(body)
            except ValueError:
                return self.answer(400, "not JSON")
            deliver(envelope, headers["webhook-id"])
            return self.answer(200, "ok")

        def answer(self, status, text):
            body = json.dumps({"status": text}).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):
            sys.stderr.write("receiver: " + (format % args) + "\n")

    return DeliveryHandler


def main():
    secret = os.environ.get("WEBHOOK_SECRET", "")
    if not secret:
        sys.exit("set WEBHOOK_SECRET to the whsec_ secret of inlet's secret_setting")
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    server = ThreadingHTTPServer((host, port), make_handler(Webhook(secret)))
    print(f"receiving inlet deliveries on http://{host}:{server.server_port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
