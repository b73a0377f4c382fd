"""Sends replies with DingTalk's official robot SDK for Python
(dingtalk-stream) to the local DingTalk of tests/src/platforms/dingtalk.rs,
so tests/tests/replies/dingtalk.rs can put the requests the SDK built next
to inlet's for the same replies.

The SDK's ChatbotHandler.reply_text and reply_markdown POST to the
incoming message's session_webhook with requests; neither needs the Stream
connection (the handler's dingtalk_client stays None, as it is here).

stdin:  {"message": {...the robot message as DingTalk sends it: sessionWebhook,
                     sessionWebhookExpiredTime, senderStaffId, ...},
         "text": "...", "markdown": {"title": "...", "text": "..."}}
stdout: {"library": "dingtalk-stream 0.24.3", "results": [DingTalk's answers]},
        one answer per reply: reply_text's, then reply_markdown's.
"""

import json
import os
import sys

# requests sends through any proxy the environment names; the local server
# is on loopback and must be reached directly.
for name in list(os.environ):
    if name.lower() in ("http_proxy", "https_proxy", "all_proxy"):
        del os.environ[name]

import dingtalk_stream  # noqa: E402
from dingtalk_stream.version import VERSION_STRING  # noqa: E402


class Replier(dingtalk_stream.ChatbotHandler):
    async def process(self, callback):  # never called: no Stream connection
        return dingtalk_stream.AckMessage.STATUS_OK, "ok"


def main():
    given = json.load(sys.stdin)
    incoming = dingtalk_stream.ChatbotMessage.from_dict(given["message"])
    replier = Replier()
    assert replier.dingtalk_client is None, "the replies must not need a Stream connection"
    results = [
        replier.reply_text(given["text"], incoming),
        replier.reply_markdown(given["markdown"]["title"], given["markdown"]["text"], incoming),
    ]
    # The SDK logs a failed reply and returns None instead of raising.
    if any(result is None for result in results):
        sys.exit("dingtalk-stream did not get DingTalk's answer (see its log above): %r" % results)
    json.dump({"library": "dingtalk-stream " + VERSION_STRING, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
