"""Judges SendGrid (Twilio SendGrid) Event Webhook requests with SendGrid's
official Python library, sendgrid (sendgrid.helpers.eventwebhook.EventWebhook).
Run by official_lib.rs through _check.main (the input and output are
described there). The "secrets" of a case are the base64 public keys
SendGrid shows for the webhook, as the library and inlet take them.

A verdict is EventWebhook(public_key).verify_signature(body, signature,
timestamp) with the X-Twilio-Email-Event-Webhook-Signature and -Timestamp
headers; True is authenticated, then the receiver reads the body with
json.loads. The library does not look at the clock: it verifies a
timestamp of any age.

The library has no signer (SendGrid signs with a private key it keeps).
To sign, the script makes an ECDSA P-256 key pair with pyca/cryptography,
the library's own dependency, and signs timestamp + body with SHA-256, DER
encoded and base64ed: the form the library's verify_signature reads. That
signer is the script's, not the library's; the answer says which key it
used and is checked by the library before it is returned. The library's
own test vector (test/unit/test_eventwebhook.py) is judged in the verdicts.

    sign recipe: {"name", "timestamp", "body_b64"}
    answer:      {"public_key", "signature", "library_accepts"}
"""

import base64
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.eventwebhook.eventwebhook_header import EventWebhookHeader

sys.dont_write_bytecode = True  # no __pycache__ beside the tests
import _check  # noqa: E402

SIGNATURE = EventWebhookHeader.SIGNATURE.lower()
TIMESTAMP = EventWebhookHeader.TIMESTAMP.lower()


def attempt(case, public_key):
    text = _check.text_of(case)
    headers = case["headers"]
    if SIGNATURE not in headers or TIMESTAMP not in headers:
        raise KeyError("no signature or timestamp header")
    if not EventWebhook(public_key).verify_signature(text, headers[SIGNATURE], headers[TIMESTAMP]):
        return False
    return _check.json_event(text)


def judge(case):
    return _check.judge_with_secrets(case, attempt)


PRIVATE_KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC_KEY = base64.b64encode(
    PRIVATE_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()


def sign(recipe):
    text = _check.text_of(recipe)
    timestamp = str(recipe["timestamp"])
    der = PRIVATE_KEY.sign((timestamp + text).encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    signature = base64.b64encode(der).decode()
    accepted = EventWebhook(PUBLIC_KEY).verify_signature(text, signature, timestamp)
    return {"public_key": PUBLIC_KEY, "signature": signature, "library_accepts": accepted}


if __name__ == "__main__":
    _check.main("sendgrid", judge, sign)
