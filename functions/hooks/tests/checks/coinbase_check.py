"""Judges and signs Coinbase Commerce webhook requests with Coinbase's
official Python library, coinbase-commerce (coinbase_commerce.webhook).
Run by official_lib.rs through _check.main (the input and output are
described there).

A verdict is WebhookSignature.verify_sig_header(body, x-cc-webhook-signature,
secret), the library's check (SignatureVerificationError is a refusal),
then Webhook.construct_event(body, signature, secret), the call a receiver
makes, which returns the Event or raises WebhookInvalidPayload for a body
that is not JSON with an "event" object: authenticated, not an event.
(construct_event alone reads the body before the signature, so it cannot
tell the two apart.) The library does not look at the clock (Coinbase
sends no signed timestamp).

Signing is the library's own WebhookSignature._compute_signature(body,
secret) (what verify_sig_header compares against), checked by
verify_sig_header before it is returned.

    sign recipe: {"name", "secret", "body_b64"}
    answer:      {"signature", "library_accepts"}
"""

import sys

from coinbase_commerce.error import SignatureVerificationError, WebhookInvalidPayload
from coinbase_commerce.webhook import Webhook, WebhookSignature

sys.dont_write_bytecode = True  # no __pycache__ beside the tests
import _check  # noqa: E402


def attempt(case, secret):
    text = _check.text_of(case)
    signature = case["headers"].get("x-cc-webhook-signature")
    if signature is None:
        raise KeyError("no x-cc-webhook-signature header")
    WebhookSignature.verify_sig_header(text, signature, secret)
    try:
        Webhook.construct_event(text, signature, secret)
    except WebhookInvalidPayload as error:
        raise _check.NotAnEvent(_check.error_text(error)) from error
    return True


def judge(case):
    return _check.judge_with_secrets(case, attempt)


def sign(recipe):
    text = _check.text_of(recipe)
    signature = WebhookSignature._compute_signature(text, recipe["secret"])
    try:
        accepted = WebhookSignature.verify_sig_header(text, signature, recipe["secret"])
    except SignatureVerificationError:
        accepted = False
    return {"signature": signature, "library_accepts": accepted}


if __name__ == "__main__":
    _check.main("coinbase-commerce", judge, sign)
