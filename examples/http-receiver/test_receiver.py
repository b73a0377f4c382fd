"""The receiver against deliveries signed as inlet signs them.

Run: python -m unittest (from this directory; `make unit` does).
"""

import base64
import http.client
import io
import json
import threading
import unittest
from contextlib import redirect_stderr
from datetime import datetime, timedelta, timezone
from http.server import ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

import receiver

SECRET = "whsec_" + base64.b64encode(b"inlet-example-receiver-secret-32").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"not-the-secret-the-receiver-has!").decode()

ENVELOPE = {
    "id": "lark:ev-42",
    "provider": "lark",
    "kind": "im.message.receive_v1",
    "received_at": "2026-01-05T09:30:00Z",
    "verification": {"scheme": "lark-signature", "matched": "LARK_ENCRYPT_KEY#1"},
    "message": {"chat_id": "oc_devchat", "text": "/deploy api"},
    "payload": {"schema": "2.0"},
}


def signed(body, secret=SECRET, msg_id="lark:ev-42", at=None):
    """The headers inlet's HTTP destination sends with `body`."""
    at = at or datetime.now(tz=timezone.utc)
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body.decode()),
    }


class ReceiverTest(unittest.TestCase):
    def setUp(self):
        self.delivered = []
        handler = receiver.make_handler(Webhook(SECRET), lambda e, i: self.delivered.append((i, e)))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)

    def post(self, body, headers):
        connection = http.client.HTTPConnection("127.0.0.1", self.server.server_port, timeout=5)
        self.addCleanup(connection.close)
        # The server logs each request and refusal to stderr: keep test output clean.
        with redirect_stderr(io.StringIO()):
            connection.request("POST", "/", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
        return response.status

    def test_a_signed_delivery_is_accepted_and_handed_over(self):
        body = json.dumps(ENVELOPE).encode()
        self.assertEqual(self.post(body, signed(body)), 200)
        self.assertEqual(self.delivered, [("lark:ev-42", ENVELOPE)])

    def test_two_signatures_while_rotating_verify_with_either_secret(self):
        body = json.dumps(ENVELOPE).encode()
        headers = signed(body, secret=OTHER_SECRET)
        headers["webhook-signature"] += " " + signed(body)["webhook-signature"]
        self.assertEqual(self.post(body, headers), 200)

    def test_tampered_or_unsigned_deliveries_are_refused_with_401(self):
        body = json.dumps(ENVELOPE).encode()
        headers = signed(body)
        tampered_body = body.replace(b"/deploy api", b"/deploy all")
        unsigned = {k: v for k, v in headers.items() if k != "webhook-signature"}
        stale = signed(body, at=datetime.now(tz=timezone.utc) - timedelta(minutes=10))
        cases = {
            "tampered body": (tampered_body, headers),
            "other webhook-id": (body, {**headers, "webhook-id": "lark:ev-43"}),
            "wrong secret": (body, signed(body, secret=OTHER_SECRET)),
            "no signature": (body, unsigned),
            "unreadable signature": (body, {**headers, "webhook-signature": "v1"}),
            "stale timestamp": (body, stale),
        }
        for case, (sent, sent_headers) in cases.items():
            with self.subTest(case):
                self.assertEqual(self.post(sent, sent_headers), 401)
        self.assertEqual(self.delivered, [])


if __name__ == "__main__":
    unittest.main()
