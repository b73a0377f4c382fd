"""The echo bot against deliveries signed as inlet signs them.

Run: python -m unittest (from this directory; `make unit` does).
"""

import base64
import http.client
import json
import threading
import unittest
from datetime import datetime, timezone
from http.server import ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

import echo_bot

SECRET = "whsec_" + base64.b64encode(b"inlet-example-echo-bot-secret-32").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"not-the-secret-the-echo-bot-has!").decode()


def envelope(provider, text):
    message = {"chat_id": "c1", "reply_handle": {"chat_id": "c1"}}
    if text is not None:
        message["text"] = text
    return {"id": f"{provider}:e1", "provider": provider, "kind": "message", "message": message, "payload": {}}


class EchoBotTest(unittest.TestCase):
    def setUp(self):
        echo_bot.EchoBot.webhook = Webhook(SECRET)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), echo_bot.EchoBot)
        self.server.RequestHandlerClass.log_message = lambda *args: None
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()

    def post(self, document, secret=SECRET):
        body = json.dumps(document).encode()
        at = datetime.now(tz=timezone.utc)
        signature = Webhook(secret).sign(document["id"], at, body.decode())
        headers = {
            "content-type": "application/json",
            "webhook-id": document["id"],
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signature,
        }
        connection = http.client.HTTPConnection("127.0.0.1", self.server.server_address[1], timeout=5)
        connection.request("POST", "/", body=body, headers=headers)
        response = connection.getresponse()
        answer = (response.status, json.loads(response.read() or b"{}"))
        connection.close()
        return answer

    def test_a_lark_or_telegram_message_is_answered_with_its_text(self):
        for provider in ["lark", "telegram"]:
            status, answer = self.post(envelope(provider, "hello"))
            self.assertEqual((status, answer), (200, {"reply": {"text": "echo: hello"}}), provider)

    def test_an_event_without_text_is_taken_without_a_reply(self):
        self.assertEqual(self.post(envelope("lark", None)), (200, {}))

    def test_a_delivery_signed_with_another_secret_is_refused(self):
        self.assertEqual(self.post(envelope("lark", "hello"), secret=OTHER_SECRET)[0], 401)


if __name__ == "__main__":
    unittest.main()
