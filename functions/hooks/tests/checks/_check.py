"""The frame every Python check of tests/official_lib.rs shares: it reads one
JSON document on stdin, has the library's script judge or sign each entry,
and writes one JSON document on stdout. It holds no part of any sender's
scheme; each script next to it uses its official library for that.

    in:  {"verdicts": [{"name", "secrets": [..], "body_b64", "headers": {..},
                        "url", "method", "now"}],
          "sign":     [{"name", ...the script's recipe}]}
    out: {"library": "<distribution> <version>",
          "verdicts": {name: {"authenticated", "event", "error"}},
          "signed":   {name: {...the script's answer}}}

`headers` are the request's, names in lower case; `url` is the public URL
inlet rebuilt (`{x-forwarded-proto}://{host}{path}?{raw_query}`), for the
senders that sign it; `now` is the clock, Unix seconds, that both sides
judge at; `secrets` are the secrets configured for the source the path
names, tried in turn, as a receiver with a rotated secret would.

A verdict is "authenticated" when the library's check passed with one of
the secrets, and "event" when the library (or, for a library that only
answers yes or no, the receiver's next step, named in the script) then read
the body as an event.
"""

import base64
import datetime
import importlib.metadata
import json
import sys
import time


def body_of(case):
    """The request body, as bytes."""
    return base64.b64decode(case["body_b64"])


def text_of(case):
    """The request body as the text a library is handed (strict UTF-8: a
    body that is not raises UnicodeDecodeError before anything is verified)."""
    return body_of(case).decode("utf-8")


def pin_time(now):
    """time.time() answers `now` from here on."""
    time.time = lambda: float(now)


def pinned_datetime(now):
    """A datetime class whose now() answers `now`, for a library module that
    reads the clock through its own `datetime` name."""

    class PinnedDatetime(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.datetime.fromtimestamp(now, tz=tz)

    return PinnedDatetime


def verdict(authenticated, event, errors):
    return {"authenticated": authenticated, "event": event, "error": "; ".join(errors)[:300]}


def error_text(error):
    return f"{type(error).__name__}: {error}"


class NotAnEvent(Exception):
    """Raised by a script when the library authenticated the request, then
    could not read its body as an event."""


def judge_with_secrets(case, attempt):
    """Runs attempt(case, secret) for each secret: it returns True (an
    event), False (the library refused) or raises the library's refusal, or
    NotAnEvent. The best outcome over the secrets is the verdict."""
    authenticated, event, errors = False, False, []
    for secret in case["secrets"]:
        try:
            if attempt(case, secret):
                authenticated, event = True, True
            else:
                errors.append("refused")
        except NotAnEvent as error:
            authenticated = True
            errors.append(f"not an event: {error}")
        except Exception as error:  # the library's refusal, whatever its class
            errors.append(error_text(error))
    if not case["secrets"]:
        errors.append("no secret for this source")
    return verdict(authenticated, event, errors)


def json_event(text):
    """The receiver's next step after a library that only verifies: read the
    body as JSON. Returns True, or raises NotAnEvent."""
    try:
        json.loads(text)
    except ValueError as error:
        raise NotAnEvent(error_text(error)) from error
    return True


def main(distribution, judge, sign=None, **extra):
    spec = json.load(sys.stdin)
    report = {
        "library": distribution + " " + importlib.metadata.version(distribution),
        "verdicts": {case["name"]: judge(case) for case in spec.get("verdicts", [])},
        "signed": {recipe["name"]: sign(recipe) for recipe in spec.get("sign", [])} if sign else {},
    }
    for key, make in extra.items():
        report[key] = make(spec)
    json.dump(report, sys.stdout)
