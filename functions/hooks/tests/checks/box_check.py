"""Judges and signs Box webhook requests with Box's official Python
library, box-sdk-gen (WebhooksManager.validate_message and the
compute_webhook_signature it calls). Run by official_lib.rs through
_check.main (the input and output are described there).

A verdict is WebhooksManager.validate_message(body, headers, primary_key,
secondary_key=..., max_age=600) with the clock pinned at `now`: Box signs
every delivery with both of the app's keys, box-signature-primary with
the primary and box-signature-secondary with the secondary, so the
source's secrets are handed over in order, the first as the primary key
and the second (if any) as the secondary. True is authenticated (False,
or an error reading the headers, a refusal); the receiver then reads the
body with json.loads. The library refuses a delivery timestamp older than
max_age (10 minutes) and any in the future.

Signing is the library's own compute_webhook_signature(body, headers, key)
(box_sdk_gen.internal.utils, what validate_message compares against), for
the delivery timestamp, version "1" and algorithm "HmacSHA256" given; the
answer is checked by validate_message at that timestamp.

    sign recipe: {"name", "primary", "secondary"?, "timestamp" (Box's form), "now", "body_b64"}
    answer:      {"primary", "secondary", "library_accepts"}
"""

import sys

from box_sdk_gen.internal.utils import compute_webhook_signature
from box_sdk_gen.managers.webhooks import WebhooksManager

sys.dont_write_bytecode = True  # no __pycache__ beside the tests
import _check  # noqa: E402


def validate(text, headers, secrets):
    if not secrets:
        raise KeyError("no secret for this source")
    secondary = secrets[1] if len(secrets) > 1 else None
    return WebhooksManager.validate_message(text, headers, secrets[0], secondary_key=secondary, max_age=600)


def judge(case):
    _check.pin_time(case["now"])
    try:
        text = _check.text_of(case)
        if not validate(text, dict(case["headers"]), case["secrets"]):
            return _check.verdict(False, False, ["refused"])
    except Exception as error:  # the library's refusal, whatever its class
        return _check.verdict(False, False, [_check.error_text(error)])
    try:
        _check.json_event(text)
    except _check.NotAnEvent as error:
        return _check.verdict(True, False, [str(error)])
    return _check.verdict(True, True, [])


def sign(recipe):
    text = _check.text_of(recipe)
    headers = {
        "box-delivery-timestamp": recipe["timestamp"],
        "box-signature-version": "1",
        "box-signature-algorithm": "HmacSHA256",
    }
    answer = {"primary": compute_webhook_signature(text, headers, recipe["primary"])}
    headers["box-signature-primary"] = answer["primary"]
    secrets = [recipe["primary"]]
    if recipe.get("secondary"):
        answer["secondary"] = compute_webhook_signature(text, headers, recipe["secondary"])
        headers["box-signature-secondary"] = answer["secondary"]
        secrets.append(recipe["secondary"])
    _check.pin_time(recipe["now"])
    answer["library_accepts"] = validate(text, headers, secrets)
    return answer


if __name__ == "__main__":
    _check.main("box-sdk-gen", judge, sign)
