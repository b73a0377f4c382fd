"""Times lark-oapi's event dispatcher on one request (make bench-peers).

Reads {"encrypt_key", "verification_token", "path", "headers", "body",
"iterations", "runs"} as JSON on stdin; prints {"sdk", "accepted",
"us_per_event"} where us_per_event is the best run's mean. Each iteration is
what lark-oapi's web adapters do per request: build a RawRequest and call
EventDispatcherHandler.do, which checks the signature, decrypts, parses,
checks the token and calls the registered handler (here: one that counts).
"""

import importlib.metadata
import json
import logging
import sys
import time

from lark_oapi.core.model import RawRequest
from lark_oapi.event.dispatcher_handler import EventDispatcherHandler

logging.getLogger("Lark").setLevel(logging.CRITICAL)


def main():
    case = json.load(sys.stdin)
    handled = []
    dispatcher = (
        EventDispatcherHandler.builder(case["encrypt_key"], case["verification_token"])
        .register_p2_customized_event("im.message.receive_v1", handled.append)
        .build()
    )
    body = case["body"].encode("utf-8")
    # Web frameworks hand the SDK canonical header names (werkzeug: title case).
    headers = {name.title(): value for name, value in case["headers"].items()}

    def handle():
        request = RawRequest()
        request.uri = case["path"]
        request.headers = headers
        request.body = body
        return dispatcher.do(request)

    response = handle()
    accepted = response.status_code == 200 and len(handled) == 1
    best = float("inf")
    for _ in range(case["runs"]):
        start = time.perf_counter()
        for _ in range(case["iterations"]):
            handle()
        best = min(best, (time.perf_counter() - start) / case["iterations"])
    version = importlib.metadata.version("lark-oapi")
    print(json.dumps({"sdk": f"lark-oapi {version}", "accepted": accepted, "us_per_event": best * 1e6}))


main()
