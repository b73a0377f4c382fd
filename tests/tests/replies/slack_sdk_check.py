"""Sends replies with Slack's official Python SDK (slack-sdk) to the local
Slack of tests/src/platforms/slack.rs, so the test can put the requests the
SDK built next to inlet's for the same replies.

stdin:  {"response_url": "...", "base_url": ".../api/", "token": "xoxb-...",
         "calls": [{"kind": "webhook" | "chat_postMessage" | "chat_update",
                    "args": {...keyword arguments...}}]}
stdout: {"library": "slack-sdk 3.39.0", "results": [...]}, one result per
        call: the webhook's {"status", "body"}, the Web API's {"ok", "ts"}.
"""

import json
import os
import sys

# The SDK (and urllib under it) send through any proxy the environment
# names; the local server is on loopback and must be reached directly.
for name in list(os.environ):
    if name.lower() in ("http_proxy", "https_proxy", "all_proxy"):
        del os.environ[name]

from slack_sdk import WebClient  # noqa: E402
from slack_sdk.version import __version__  # noqa: E402
from slack_sdk.webhook import WebhookClient  # noqa: E402


def main():
    given = json.load(sys.stdin)
    web = WebClient(token=given["token"], base_url=given["base_url"])
    results = []
    for call in given["calls"]:
        kind, args = call["kind"], call["args"]
        if kind == "webhook":
            answer = WebhookClient(given["response_url"]).send(**args)
            results.append({"status": answer.status_code, "body": answer.body})
        elif kind == "chat_postMessage":
            answer = web.chat_postMessage(**args)
            results.append({"ok": answer["ok"], "ts": answer.get("ts")})
        elif kind == "chat_update":
            answer = web.chat_update(**args)
            results.append({"ok": answer["ok"], "ts": answer.get("ts")})
        else:
            raise ValueError(f"unknown call {kind!r}")
    json.dump({"library": f"slack-sdk {__version__}", "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
