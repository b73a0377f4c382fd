"""Judges and signs Twilio webhook requests with Twilio's official Python
library, twilio (twilio.request_validator.RequestValidator). Run by
official_lib.rs through _check.main (the input and output are described
there).

A verdict is what a receiver following Twilio's documentation does with
the library: RequestValidator(auth_token).validate(url, params, signature,
algorithm), where `url` is the public URL of the request, `signature` the
X-Twilio-Signature header, `algorithm` what get_signature_algorithm reads
from X-Twilio-Webhooks-Signature-Settings (HMAC_SHA1 without it), and
`params` the form fields as a werkzeug MultiDict (what Flask's request.form
is) for a form body, or the body text for a JSON body (the library then
checks the URL's bodySHA256). validate returning True is an event for a
form body; a JSON body is then read with json.loads.

Signing is the library's own: compute_hash(body) for a JSON body's
bodySHA256 (appended to the URL), then compute_signature(url, params,
algorithm). The answer is checked by validate before it is returned.

    sign recipe: {"name", "token", "url", "body_b64", "json": bool, "algorithm"?}
    answer:      {"url", "signature", "library_accepts"}
"""

import sys
from urllib.parse import parse_qsl

from twilio.request_validator import RequestValidator, get_signature_algorithm
from werkzeug.datastructures import MultiDict

sys.dont_write_bytecode = True  # no __pycache__ beside the tests
import _check  # noqa: E402


def params_of(text, is_json):
    return text if is_json else MultiDict(parse_qsl(text, keep_blank_values=True))


def is_json(case):
    return case["headers"].get("content-type", "").split(";")[0].strip().lower() == "application/json"


def attempt(case, secret):
    text = _check.text_of(case)
    headers = case["headers"]
    algorithm = get_signature_algorithm(headers.get("x-twilio-webhooks-signature-settings"))
    signature = headers.get("x-twilio-signature", "")
    json_body = is_json(case)
    if not RequestValidator(secret).validate(case["url"], params_of(text, json_body), signature, algorithm):
        return False
    return _check.json_event(text) if json_body else True


def judge(case):
    return _check.judge_with_secrets(case, attempt)


def sign(recipe):
    validator = RequestValidator(recipe["token"])
    text = _check.text_of(recipe)
    url = recipe["url"]
    if recipe["json"]:
        url += ("&" if "?" in url else "?") + "bodySHA256=" + validator.compute_hash(text)
    algorithm = recipe.get("algorithm")
    # A JSON body is signed by its hash in the URL alone (validate passes no params then).
    signature = validator.compute_signature(url, {} if recipe["json"] else params_of(text, False), algorithm)
    accepted = validator.validate(url, params_of(text, recipe["json"]), signature, algorithm)
    return {"url": url, "signature": signature, "library_accepts": accepted}


if __name__ == "__main__":
    _check.main("twilio", judge, sign)
