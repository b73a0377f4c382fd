"""Judges Square webhook requests with Square's official Python library,
squareup (square.utils.webhooks_helper.verify_signature). Run by
official_lib.rs through _check.main (the input and output are described
there).

A verdict is verify_signature(request_body=body, signature_header=
x-square-hmacsha256-signature, signature_key=secret, notification_url=url)
where `url` is the public URL of the request (Square signs the
notification URL of the subscription, which a receiver behind a proxy
rebuilds); True is authenticated, then the receiver reads the body with
json.loads. The library does not look at the clock (Square sends no
signed timestamp).

The library has no signer: what it accepts is shown with the vectors of
its own test suite (tests/integration/test_webhooks_helper.py), judged in
the verdicts.
"""

import sys

from square.utils.webhooks_helper import verify_signature

sys.dont_write_bytecode = True  # no __pycache__ beside the tests
import _check  # noqa: E402


def attempt(case, secret):
    text = _check.text_of(case)
    signature = case["headers"].get("x-square-hmacsha256-signature")
    if signature is None:
        raise KeyError("no x-square-hmacsha256-signature header")
    valid = verify_signature(
        request_body=text, signature_header=signature, signature_key=secret, notification_url=case["url"]
    )
    return _check.json_event(text) if valid else False


def judge(case):
    return _check.judge_with_secrets(case, attempt)


if __name__ == "__main__":
    _check.main("squareup", judge)
