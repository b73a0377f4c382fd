"""Judges Paddle Billing webhook requests with Paddle's official Python
library, paddle-python-sdk (paddle_billing.Notifications.Verifier). Run by
official_lib.rs through _check.main (the input and output are described
there).

A verdict is Verifier().verify(request, [Secret(secret)]) with the
library's default maximum_variance (5 s) and the clock pinned at `now`,
where `request` carries the body and the headers (looked up without regard
to case, as the web frameworks the library documents do). True is
authenticated (False, ValueError for a key it does not know, or
ConnectionRefusedError when no secret matches, a refusal); the receiver
then reads the body with json.loads. Each secret is tried on its own, as
for every library here.

The library has no signer: what it accepts is shown with the vector of its
own test suite (tests/Unit/Notification/test_Verifier.py: body
"hello-world", ts 1696195954, three secrets of which the third signed it),
judged in the verdicts.
"""

import sys

from paddle_billing.Notifications import Secret, Verifier

sys.dont_write_bytecode = True  # no __pycache__ beside the tests
import _check  # noqa: E402

# paddle_billing.Notifications.Verifier reads the clock with `from time import time`.
VERIFIER_MODULE = sys.modules["paddle_billing.Notifications.Verifier"]


class Headers(dict):
    def get(self, key, default=None):
        return super().get(key.lower(), default)


class Request:
    def __init__(self, body, headers):
        self.body = body
        self.headers = Headers(headers)


def attempt(case, secret):
    body = _check.body_of(case)
    if not Verifier().verify(Request(body, case["headers"]), [Secret(secret)]):
        return False
    return _check.json_event(body.decode("utf-8"))


def judge(case):
    VERIFIER_MODULE.time = lambda: float(case["now"])
    return _check.judge_with_secrets(case, attempt)


if __name__ == "__main__":
    _check.main("paddle-python-sdk", judge)
