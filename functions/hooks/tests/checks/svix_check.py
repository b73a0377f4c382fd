"""Judges and signs Svix webhook requests with Svix's official Python
library, svix (svix.webhooks.Webhook), which also verifies the senders that
deliver through Svix: Clerk and Resend document it as their verifier. Run
by official_lib.rs through _check.main (the input and output are described
there).

A verdict is Webhook(secret).verify(body, headers) with the request's
headers (svix-id, svix-timestamp, svix-signature; the library also takes
the webhook-* names), the clock pinned at `now` (the library's ±5 minute
check reads datetime.now in standardwebhooks, which svix delegates to).
verify returning is authenticated; the receiver then reads the body with
json.loads (svix's verify no longer does since 1.x).

Signing is Webhook(secret).sign(msg_id, timestamp, body), checked by
verify before it is returned.

    sign recipe: {"name", "secret", "msg_id", "timestamp", "body_b64"}
    answer:      {"signature", "library_accepts"}
"""

import sys
from datetime import datetime, timezone

import standardwebhooks.webhooks as standard
from svix.webhooks import Webhook

sys.dont_write_bytecode = True  # no __pycache__ beside the tests
import _check  # noqa: E402


def pin_clock(now):
    standard.datetime = _check.pinned_datetime(now)


def attempt(case, secret):
    text = _check.text_of(case)
    Webhook(secret).verify(text, dict(case["headers"]))
    return _check.json_event(text)


def judge(case):
    pin_clock(case["now"])
    return _check.judge_with_secrets(case, attempt)


def sign(recipe):
    text = _check.text_of(recipe)
    at = datetime.fromtimestamp(recipe["timestamp"], tz=timezone.utc)
    signature = Webhook(recipe["secret"]).sign(recipe["msg_id"], at, text)
    headers = {"svix-id": recipe["msg_id"], "svix-timestamp": str(recipe["timestamp"]), "svix-signature": signature}
    case = {"secrets": [recipe["secret"]], "body_b64": recipe["body_b64"], "headers": headers, "now": recipe["timestamp"]}
    return {"signature": signature, "library_accepts": judge(case)["authenticated"]}


if __name__ == "__main__":
    _check.main("svix", judge, sign)
