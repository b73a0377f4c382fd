"""Judges and signs Standard Webhooks requests with the specification's
reference Python library, standardwebhooks (installed in the project venv
by `make tools`), and, for the asymmetric version the library does not
implement, with the library's own verify() carried over to the
specification's `v1a` row: a `whpk_` public key, Ed25519 (pyca/cryptography,
OpenSSL) in place of HMAC, nothing else changed.

Run by official_lib.rs through inlet_testkit::crosscheck::run: one JSON
document on stdin, one on stdout.

    in:  {"verdicts": [{"name", "secrets": [..], "body_b64", "headers": {..}, "now"}],
          "sign":     [{"name", "secret", "msg_id", "timestamp", "body_b64"}],
          "keys":     [{"name", "secret"}],
          "sign_v1a": [{"name", "seed_hex"?, "msg_id", "timestamp", "body_b64"}]}
    out: {"library": "standardwebhooks <version>", "v1a": "pyca/cryptography <version> ...",
          "verdicts": {name: {"authenticated", "event", "error"}},
          "signed":   {name: {"signature", "library_accepts"}},
          "keys":     {name: {"signature"} or {"error"}},
          "public_key": "whpk_...",
          "signed_v1a": {name: {"signature", "public_key", "spec_accepts"}}}

A verdict runs Webhook(secret).verify(body, headers) with each secret of
the source in turn (a `whpk_` key: SpecV1a(key).verify; no secret: nothing
to verify with, a refusal), with the clock pinned at `now` (the library
reads datetime.now(tz=timezone.utc) for its ±5 minute check). verify()
checks the headers, the timestamp and the signature, then returns
json.loads(body): "authenticated" means it got past the signature (a
json.JSONDecodeError after that is "authenticated, not an event"), "event"
that it returned. Signing is Webhook(secret).sign(msg_id, datetime of
timestamp, body), the library's own signer, then verified by the library at
that timestamp. "keys" asks the library what a configured secret means: the
signature Webhook(secret) makes over one fixed message (equal signatures,
equal keys), or the error its constructor raises. "sign_v1a" signs with the
RFC 8032 seed given, or with a key pair generated for this run.
"""

import base64
import importlib.metadata
import json
import sys
from datetime import datetime, timezone
from math import floor

import standardwebhooks.webhooks as webhooks
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

PUBLIC_KEY_PREFIX = "whpk_"
KEY_MESSAGE = ("msg_key", datetime.fromtimestamp(1700000000, tz=timezone.utc), "{}")


class SpecV1a:
    """Webhook.verify of standardwebhooks 1.1.0, line for line, with the
    specification's asymmetric row: the key is the 32-byte Ed25519 public
    key whose base64 follows `whpk_`, the entries read are `v1a`, and the
    check is Ed25519 over the same `msg_id.timestamp.payload`."""

    def __init__(self, public_key: str):
        encoded = public_key[len(PUBLIC_KEY_PREFIX):]
        self._key = Ed25519PublicKey.from_public_bytes(base64.b64decode(encoded + "=="))
        # The library's own timestamp check (it reads no key).
        self._timestamps = Webhook("whsec_AAAA")

    def verify(self, data, headers):
        data = data if isinstance(data, str) else data.decode()
        headers = {k.lower(): v for (k, v) in headers.items()}
        msg_id = headers.get("webhook-id")
        msg_signature = headers.get("webhook-signature")
        msg_timestamp = headers.get("webhook-timestamp")
        if not (msg_id and msg_timestamp and msg_signature):
            raise WebhookVerificationError("Missing required headers")

        timestamp = self._timestamps._Webhook__verify_timestamp(msg_timestamp)

        timestamp_str = str(floor(timestamp.replace(tzinfo=timezone.utc).timestamp()))
        to_sign = f"{msg_id}.{timestamp_str}.{data}".encode()
        passed_sigs = msg_signature.split(" ")
        for versioned_sig in passed_sigs:
            (version, signature) = versioned_sig.split(",")
            if version != "v1a":
                continue
            sig_bytes = base64.b64decode(signature)
            try:
                self._key.verify(sig_bytes, to_sign)
                return json.loads(data)
            except InvalidSignature:
                pass

        raise WebhookVerificationError("No matching signature found")


def verifier(secret):
    return SpecV1a(secret) if secret.startswith(PUBLIC_KEY_PREFIX) else Webhook(secret)


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
            verifier(secret).verify(body, dict(case["headers"]))
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


def key(case):
    try:
        return {"signature": Webhook(case["secret"]).sign(*KEY_MESSAGE)}
    except Exception as error:  # the constructor's refusal, whatever its class
        return {"error": f"{type(error).__name__}: {error}"[:300]}


def whpk(private_key):
    raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PUBLIC_KEY_PREFIX + base64.b64encode(raw).decode()


def sign_v1a(recipe, generated):
    if "seed_hex" in recipe:
        private_key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(recipe["seed_hex"]))
    else:
        private_key = generated
    body = base64.b64decode(recipe["body_b64"])
    to_sign = f'{recipe["msg_id"]}.{recipe["timestamp"]}.'.encode() + body
    signature = "v1a," + base64.b64encode(private_key.sign(to_sign)).decode()
    headers = {
        "webhook-id": recipe["msg_id"],
        "webhook-timestamp": str(recipe["timestamp"]),
        "webhook-signature": signature,
    }
    public_key = whpk(private_key)
    verdict = judge({"now": recipe["timestamp"], "body_b64": recipe["body_b64"], "headers": headers, "secrets": [public_key]})
    return {"signature": signature, "public_key": public_key, "spec_accepts": verdict["event"]}


def main():
    spec = json.load(sys.stdin)
    generated = Ed25519PrivateKey.generate()
    report = {
        "library": "standardwebhooks " + importlib.metadata.version("standardwebhooks"),
        "v1a": "pyca/cryptography " + importlib.metadata.version("cryptography") + " Ed25519 in the library's verify()",
        "verdicts": {case["name"]: judge(case) for case in spec.get("verdicts", [])},
        "signed": {recipe["name"]: sign(recipe) for recipe in spec.get("sign", [])},
        "keys": {case["name"]: key(case) for case in spec.get("keys", [])},
        "public_key": whpk(generated),
        "signed_v1a": {recipe["name"]: sign_v1a(recipe, generated) for recipe in spec.get("sign_v1a", [])},
    }
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
