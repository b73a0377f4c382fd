"""Judges and signs Standard Webhooks requests with the specification's
reference Python library, standardwebhooks (installed in the project venv
by `make tools`).

Run by official_lib.rs through inlet_shared::crosscheck::run: one JSON
document on stdin, one on stdout.

    in:  {"verdicts": [{"name", "secrets": [..], "body_b64", "headers": {..}, "now"}],
          "sign":     [{"name", "secret", "msg_id", "timestamp", "body_b64"}]}
    out: {"library": "standardwebhooks <version>",
          "verdicts": {name: {"authenticated", "event", "error"}},
          "signed":   {name: {"signature", "library_accepts"}}}

A verdict runs Webhook(secret).verify(body, headers) with each secret of
the source in turn (no secret: the library has nothing to verify with, a
refusal), with the clock pinned at `now` (the library reads
datetime.now(tz=timezone.utc) for its ±5 minute check). verify() checks the
headers, the timestamp and the signature, then returns json.loads(body):
"authenticated" means it got past the signature (a json.JSONDecodeError
after that is "authenticated, not an event"), "event" that it returned.
Signing is Webhook(secret).sign(msg_id, datetime of timestamp, body), the
library's own signer, then verified by the library at that timestamp.
"""

import base64
import importlib.metadata
import json
import sys
from datetime import datetime, timezone

import standardwebhooks.webhooks as webhooks
from standardwebhooks.webhooks import Webhook


def pin_clock(now):
    class PinnedDatetime(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.fromtimestamp(now, tz=tz)

    webhooks.datetime = PinnedDatetime


def judge(case):
    pin_clock(case["now"])
    body = base64.b64decode(case["body_b64"])
    authenticated, event, errors = False, False, []
    for secret in case["secrets"]:
        try:
            Webhook(secret).verify(body, dict(case["headers"]))
            authenticated, event = True, True
        except json.JSONDecodeError as error:
            authenticated = True
            errors.append(f"JSONDecodeError: {error}")
        except Exception as error:  # the library's refusal, whatever its class
            errors.append(f"{type(error).__name__}: {error}")
    if not case["secrets"]:
        errors.append("no secret for this source")
    return {"authenticated": authenticated, "event": event, "error": "; ".join(errors)[:300]}


def sign(recipe):
    body = base64.b64decode(recipe["body_b64"])
    at = datetime.fromtimestamp(recipe["timestamp"], tz=timezone.utc)
    signature = Webhook(recipe["secret"]).sign(recipe["msg_id"], at, body.decode("utf-8"))
    headers = {
        "webhook-id": recipe["msg_id"],
        "webhook-timestamp": str(recipe["timestamp"]),
        "webhook-signature": signature,
    }
    verdict = judge({"now": recipe["timestamp"], "body_b64": recipe["body_b64"], "headers": headers, "secrets": [recipe["secret"]]})
    return {"signature": signature, "library_accepts": verdict["event"]}


def main():
    spec = json.load(sys.stdin)
    report = {
        "library": "standardwebhooks " + importlib.metadata.version("standardwebhooks"),
        "verdicts": {case["name"]: judge(case) for case in spec.get("verdicts", [])},
        "signed": {recipe["name"]: sign(recipe) for recipe in spec.get("sign", [])},
    }
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
