"""Feeds requests to Slack's official SDK (slack-sdk's SignatureVerifier) and
signs requests with it.

Run by functions/slack/tests/official_lib.rs through
`inlet_testkit::crosscheck::run` with the project's venv python (`make tools`
installs slack-sdk there). Reads one JSON document on stdin:

    {"verdicts": [case, ...], "sign": [recipe, ...]}

where a case is {"name", "secret", "now", "headers": {name: value},
"body_b64"} and a recipe is {"name", "secret", "timestamp", "path",
"content_type", and either "body_b64" (bytes to sign as they are) or
"build": "event" | "interaction" | "command" (a body Python builds itself,
with its own JSON and form encoders)}.

Writes one JSON document on stdout:

    {"sdk": "slack-sdk <version>",
     "verdicts": {name: {"valid": bool, "error": str | null}},
     "signed": [{"name", "path", "headers", "body_b64", "sdk_valid"}]}

A verdict is SignatureVerifier(secret, clock=<fixed at now>).is_valid_request(
body, headers), exactly as a Bolt or Flask app calls it, with the headers
title-cased as web frameworks hand them over. An exception (slack-sdk raises
on a timestamp int() cannot read and on a body that is not UTF-8) is a
refusal, with its type in "error".
"""

import base64
import importlib.metadata
import json
import sys
import urllib.parse

from slack_sdk.signature import Clock, SignatureVerifier


class FixedClock(Clock):
    def __init__(self, now):
        self._now = float(now)

    def now(self):
        return self._now


def verdict(case):
    verifier = SignatureVerifier(case["secret"], clock=FixedClock(case["now"]))
    headers = {name.title(): value for name, value in case["headers"].items()}
    body = base64.b64decode(case["body_b64"])
    try:
        return {"valid": bool(verifier.is_valid_request(body, headers)), "error": None}
    except Exception as error:  # noqa: BLE001 - any exception is the SDK refusing
        return {"valid": False, "error": type(error).__name__}


def built_body(kind):
    """Bodies as a Python app (or a test harness) would encode them."""
    if kind == "event":
        event = {
            "token": "py-legacy-token",
            "team_id": "T0PYTEAM01",
            "api_app_id": "A0PYAPP001",
            "event": {
                "type": "message",
                "channel": "C0PYCHAN01",
                "user": "U0PYUSER01",
                "text": "部署 prod ✅ — \"quoted\" & <escaped>",
                "ts": "1700000000.000200",
                "channel_type": "im",
            },
            "type": "event_callback",
            "event_id": "Ev0PYTHON01",
            "event_time": 1700000000,
        }
        # Python's own formatting: spaces after separators, raw UTF-8.
        return json.dumps(event, ensure_ascii=False).encode("utf-8")
    if kind == "interaction":
        payload = {
            "type": "block_actions",
            "team": {"id": "T0PYTEAM01", "domain": "py"},
            "user": {"id": "U0PYUSER01"},
            "trigger_id": "1234.5678.00ff00ff00ff00ff00ff00ff00ff00ff",
            "channel": {"id": "C0PYCHAN01"},
            "response_url": "https://hooks.slack.com/actions/T0PYTEAM01/1/abc",
            "actions": [{"action_id": "ack", "value": "ack + done / 100%", "type": "button"}],
        }
        return urllib.parse.urlencode({"payload": json.dumps(payload, ensure_ascii=False)}).encode("ascii")
    if kind == "command":
        fields = {
            "token": "py-legacy-token",
            "team_id": "T0PYTEAM01",
            "channel_id": "C0PYCHAN01",
            "user_id": "U0PYUSER01",
            "command": "/deploy",
            "text": "prod & staging +1 ünïcode",
            "response_url": "https://hooks.slack.com/commands/T0PYTEAM01/2/def",
            "trigger_id": "4321.8765.11ee11ee11ee11ee11ee11ee11ee11ee",
        }
        return urllib.parse.urlencode(fields).encode("ascii")
    raise ValueError(f"unknown body kind {kind}")


def sign(recipe):
    verifier = SignatureVerifier(recipe["secret"], clock=FixedClock(recipe["timestamp"]))
    if "build" in recipe:
        body = built_body(recipe["build"])
    else:
        body = base64.b64decode(recipe["body_b64"])
    timestamp = str(recipe["timestamp"])
    signature = verifier.generate_signature(timestamp=timestamp, body=body)
    headers = {
        "content-type": recipe["content_type"],
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": signature,
    }
    return {
        "name": recipe["name"],
        "path": recipe["path"],
        "headers": headers,
        "body_b64": base64.b64encode(body).decode("ascii"),
        # The SDK must accept what it signed, or the case proves nothing.
        "sdk_valid": verifier.is_valid_request(body, {k.title(): v for k, v in headers.items()}),
    }


def main():
    spec = json.load(sys.stdin)
    report = {
        "sdk": "slack-sdk " + importlib.metadata.version("slack-sdk"),
        "verdicts": {case["name"]: verdict(case) for case in spec.get("verdicts", [])},
        "signed": [sign(recipe) for recipe in spec.get("sign", [])],
    }
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
