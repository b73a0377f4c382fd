"""Judges Razorpay webhook requests with Razorpay's official Python library,
razorpay (razorpay.Utility.verify_webhook_signature). Run by
official_lib.rs through _check.main (the input and output are described
there).

A verdict is Utility().verify_webhook_signature(body, x-razorpay-signature,
secret): SignatureVerificationError is a refusal, True is authenticated,
then the receiver reads the body with json.loads. The library does not
look at the clock (Razorpay sends no signed timestamp).

The library has no signer: what it accepts is shown with inlet's samples
and the library's own test vector, judged in the verdicts.
"""

import sys

from razorpay.utility.utility import Utility

sys.dont_write_bytecode = True  # no __pycache__ beside the tests
import _check  # noqa: E402


def attempt(case, secret):
    text = _check.text_of(case)
    signature = case["headers"].get("x-razorpay-signature")
    if signature is None:
        raise KeyError("no x-razorpay-signature header")
    Utility().verify_webhook_signature(text, signature, secret)
    return _check.json_event(text)


def judge(case):
    return _check.judge_with_secrets(case, attempt)


if __name__ == "__main__":
    _check.main("razorpay", judge)
