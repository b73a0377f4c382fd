"""Asks Bolt for Python which requests it answers as Slack's certificate
check (`ssl_check=1`), for functions/slack/tests/official_lib.rs
(`inlet_answers_ssl_checks_as_bolt_does`).

slack_bolt is not among the Makefile's PY_TOOLS yet: until it is, that test
is ignored, and runs with `cargo test -p slack --test official_lib --
--ignored` once slack_bolt is importable (installed in the venv, or its
source on PYTHONPATH).

Reads one JSON document on stdin:

    {"verdicts": [{"name", "secret", "now", "headers": {name: value}, "body_b64"}]}

Writes one on stdout:

    {"library": "slack_bolt <version>",
     "verdicts": {name: {"ssl_check": bool, "status": int | null, "error": str | null}}}

A verdict is App(signing_secret=secret).dispatch(BoltRequest(body, headers)),
the whole middleware chain as a Bolt app runs it (SslCheck, then
RequestVerification, ...), with the clock pinned at `now`. "ssl_check" is
Bolt's certificate-check answer: 200 with an empty body. Bolt serves every
kind of request on one URL, so the path plays no part. An exception (Bolt
raises on a body it cannot parse) is a refusal, with its type in "error".
"""

import base64
import json
import logging
import sys
import time

from slack_bolt import App, BoltRequest
from slack_bolt.version import __version__ as slack_bolt_version

# Bolt logs refusals; stdout carries the report only.
logging.basicConfig(stream=sys.stderr, level=logging.CRITICAL)


def authorize(**_kwargs):
    # Never reached by these cases (they are answered by SslCheck or refused
    # by RequestVerification); an app needs one to start without a token.
    return None


def verdict(case):
    time.time = lambda: float(case["now"])
    app = App(signing_secret=case["secret"], authorize=authorize)
    headers = {name.lower(): [value] for name, value in case["headers"].items()}
    body = base64.b64decode(case["body_b64"])
    try:
        response = app.dispatch(BoltRequest(body=body.decode("utf-8"), query={}, headers=headers))
    except Exception as error:  # noqa: BLE001 - any exception is Bolt refusing
        return {"ssl_check": False, "status": None, "error": type(error).__name__}
    answered = response.status == 200 and response.body == ""
    return {"ssl_check": answered, "status": response.status, "error": None}


def main():
    spec = json.load(sys.stdin)
    report = {
        "library": "slack_bolt " + slack_bolt_version,
        "verdicts": {case["name"]: verdict(case) for case in spec.get("verdicts", [])},
    }
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
