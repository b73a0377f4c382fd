"""Sends replies with the official Lark SDK (lark-oapi) to the local Lark
server, so that tests/tests/replies/lark.rs can set what the server received
from lark-oapi next to what it received from inlet for the same replies.

Run by the Rust test with the project's venv python (`make tools` installs
lark-oapi there). Reads one JSON document on stdin:

    {"domain": "http://127.0.0.1:PORT", "app_id": "...", "app_secret": "...",
     "reply": {"message_id": "...", "text": "...", "uuid": "..."},
     "card_update": {"token": "...", "card": {...}}}

and writes {"library": "lark-oapi <version>", "reply": {...}, "card_update":
{...}} to stdout, each {"code", "msg", "message_id"} as the SDK read the
answer.

The reply goes through the SDK's typed API (client.im.v1.message.reply),
which fetches the tenant token itself. lark-oapi 1.7.5 has no typed method
for the card callback's delayed update (interactive/v1/card/update): it is
sent through the SDK's generic request (client.request with a BaseRequest
that asks for a tenant token), so only its path, method and token are the
SDK's (that path sends no Content-Type); the body is the one Lark
documents, built here.
"""

import importlib.metadata
import json
import logging
import os
import sys

# The SDK logs to stdout, where the report goes.
logging.getLogger("Lark").handlers = [logging.StreamHandler(sys.stderr)]
# The local server is on loopback: no proxy of the environment may take it.
os.environ["NO_PROXY"] = "127.0.0.1,localhost"
os.environ["no_proxy"] = "127.0.0.1,localhost"

import lark_oapi as lark  # noqa: E402
from lark_oapi.api.im.v1 import ReplyMessageRequest, ReplyMessageRequestBody  # noqa: E402
from lark_oapi.core.enum import AccessTokenType, HttpMethod  # noqa: E402
from lark_oapi.core.model import BaseRequest  # noqa: E402


def main():
    case = json.load(sys.stdin)
    client = (
        lark.Client.builder()
        .app_id(case["app_id"])
        .app_secret(case["app_secret"])
        .domain(case["domain"])
        .log_level(lark.LogLevel.ERROR)
        .build()
    )
    report = {"library": "lark-oapi " + importlib.metadata.version("lark-oapi")}

    reply = case.get("reply")
    if reply is not None:
        body = (
            ReplyMessageRequestBody.builder()
            .msg_type("text")
            .content(json.dumps({"text": reply["text"]}, ensure_ascii=False))
            .uuid(reply["uuid"])
            .build()
        )
        request = ReplyMessageRequest.builder().message_id(reply["message_id"]).request_body(body).build()
        response = client.im.v1.message.reply(request)
        report["reply"] = {
            "code": response.code,
            "msg": response.msg,
            "message_id": response.data.message_id if response.data else None,
        }

    update = case.get("card_update")
    if update is not None:
        request = (
            BaseRequest.builder()
            .http_method(HttpMethod.POST)
            .uri("/open-apis/interactive/v1/card/update")
            .token_types({AccessTokenType.TENANT})
            .body({"token": update["token"], "card": update["card"]})
            .build()
        )
        response = client.request(request)
        report["card_update"] = {"code": response.code, "msg": response.msg, "message_id": None}

    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
