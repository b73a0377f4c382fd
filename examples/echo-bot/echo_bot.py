"""An echo bot for Lark, Telegram, Slack, Discord, DingTalk and WeCom.

inlet delivers each event to this HTTP endpoint (an `http` destination),
signed with Standard Webhooks; the answer {"reply": {"text": ...}} is sent
back to the conversation the event came from by inlet's reply clients.

    WEBHOOK_SECRET=whsec_... PORT=8000 python echo_bot.py
"""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook


def answer_for(envelope):
    """The reply to one event: echo a message's text, ignore anything else."""
    text = (envelope.get("message") or {}).get("text")
    return {"reply": {"text": f"echo: {text}"}} if text else {}


class EchoBot(BaseHTTPRequestHandler):
    webhook = None  # set in main(): Webhook(WEBHOOK_SECRET)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            headers = {name.lower(): value for name, value in self.headers.items()}
            envelope = self.webhook.verify(body, headers)
        except Exception:  # a bad signature or timestamp, or unreadable headers
            return self.send(401, {})
        self.send(200, answer_for(envelope))

    def send(self, status, document):
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    EchoBot.webhook = Webhook(os.environ["WEBHOOK_SECRET"])
    port = int(os.environ.get("PORT", "8000"))
    ThreadingHTTPServer(("127.0.0.1", port), EchoBot).serve_forever()


if __name__ == "__main__":
    main()
