"""Judges and signs Stripe webhook requests with the official stripe-python.

Run by official_lib.rs through inlet_testkit::crosscheck::run with the
project venv's python (`make tools` installs stripe there): one JSON
document on stdin, one on stdout.

    in:  {"verdicts": [{"name", "secrets": [..], "body_b64", "header", "now"}],
          "sign":     [{"name", "secret", "body_b64", "timestamp", "variant"}]}
    out: {"library": "stripe <version>",
          "verdicts": {name: {"authenticated", "event", "notification", "error"}},
          "signed":   {name: {"header", "library_accepts", "notification"}}}

A verdict runs the library at the case's `now` (time.time is pinned, so the
300 s tolerance is judged at exactly that second) with each configured
secret in turn, as a receiver with several secrets would:
"authenticated" is WebhookSignature.verify_header(payload, header, secret,
tolerance=300) passing, "event" is Webhook.construct_event(...) returning
an Event (signature, tolerance, then json.loads). The body is handed over
as text, decoded from UTF-8 as construct_event decodes bytes.

"notification" is StripeClient.parse_event_notification(...) returning an
EventNotification: the library's reader of v2 thin events (object
"v2.core.event"), which needs `id`, `type` and `created`, a `related_object`
for the types it knows, and a string `context` when there is one. In a
signing recipe, "notification" is what it read (`id`, `type`, `context`,
`related_object`), or null.

Signing follows stripe-python's own test helper (tests/test_webhook.py,
generate_header): "t=%d,v1=%s" with the signature from
WebhookSignature._compute_signature("%d.%s" % (timestamp, payload), secret).
Variants: "plain"; "rolled" (a v1 from another secret first, then the
right one, as during a secret roll); "with-v0" (a trailing v0 entry).
"""

import base64
import importlib.metadata
import json
import sys
import time

import stripe
from stripe import Webhook, WebhookSignature

TOLERANCE = 300


def pin_clock(now):
    time.time = lambda: float(now)


# parse_event_notification is a client method; it makes no request.
CLIENT = stripe.StripeClient("sk_test_inlet_crosscheck_NOT_A_KEY")


def judge(case):
    pin_clock(case["now"])
    raw = base64.b64decode(case["body_b64"])
    header = case["header"]
    authenticated, event, notification, errors = False, False, False, []
    for secret in case["secrets"]:
        try:
            payload = raw.decode("utf-8")
            WebhookSignature.verify_header(payload, header, secret, TOLERANCE)
            authenticated = True
        except Exception as error:  # the library's refusal, whatever its class
            errors.append(f"{type(error).__name__}: {error}")
            continue
        try:
            Webhook.construct_event(raw, header, secret, TOLERANCE)
            event = True
        except Exception as error:
            errors.append(f"{type(error).__name__}: {error}")
        try:
            CLIENT.parse_event_notification(raw, header, secret, TOLERANCE)
            notification = True
        except Exception as error:
            errors.append(f"notification {type(error).__name__}: {error}")
    return {
        "authenticated": authenticated,
        "event": event,
        "notification": notification,
        "error": "; ".join(errors)[:300],
    }


def read_notification(payload, header, secret):
    """What parse_event_notification reads of a request, or None."""
    try:
        read = CLIENT.parse_event_notification(payload, header, secret, TOLERANCE)
    except Exception:  # noqa: BLE001 - a refusal: nothing read
        return None
    related = getattr(read, "related_object", None)
    return {
        "id": read.id,
        "type": read.type,
        "context": str(read.context) if read.context is not None else None,
        "related_object": None if related is None else {"id": related.id, "type": related.type, "url": related.url},
    }


def generate_header(payload, secret, timestamp, scheme="v1"):
    signature = WebhookSignature._compute_signature("%d.%s" % (timestamp, payload), secret)
    return "t=%d,%s=%s" % (timestamp, scheme, signature)


def sign(recipe):
    payload = base64.b64decode(recipe["body_b64"]).decode("utf-8")
    timestamp, secret, variant = recipe["timestamp"], recipe["secret"], recipe["variant"]
    header = generate_header(payload, secret, timestamp)
    if variant == "rolled":
        other = WebhookSignature._compute_signature("%d.%s" % (timestamp, payload), "whsec_previous_secret")
        header = "t=%d,v1=%s,v1=%s" % (timestamp, other, header.split(",v1=")[1])
    elif variant == "with-v0":
        header += ",v0=" + WebhookSignature._compute_signature("%d.%s" % (timestamp, payload), "whsec_v0")
    verdict = judge({"now": timestamp, "body_b64": recipe["body_b64"], "header": header, "secrets": [secret]})
    return {
        "header": header,
        "library_accepts": verdict["event"],
        "notification": read_notification(payload, header, secret),
    }


def main():
    spec = json.load(sys.stdin)
    report = {
        "library": "stripe " + importlib.metadata.version("stripe"),
        "verdicts": {case["name"]: judge(case) for case in spec.get("verdicts", [])},
        "signed": {recipe["name"]: sign(recipe) for recipe in spec.get("sign", [])},
    }
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
