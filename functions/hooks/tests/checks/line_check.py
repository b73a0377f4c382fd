"""Judges LINE Messaging API webhook requests with LINE's official Python
library, line-bot-sdk (linebot.v3.WebhookParser). Run by official_lib.rs
through _check.main (the input and output are described there).

A verdict is WebhookParser(channel_secret).parse(body, x-line-signature):
InvalidSignatureError is a refusal; once the signature passed, parse reads
the body (json.loads, then its "events" list): an error there is
"authenticated, not an event"; a list of events is an event.

The library has no signer: what it accepts is shown with the signature
the library's own test suite pins (tests/test_signature.py: channel secret
"channel_secret", body "bodybodybodybody"), judged in the verdicts.
"""

import sys

from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError

sys.dont_write_bytecode = True  # no __pycache__ beside the tests
import _check  # noqa: E402


def attempt(case, secret):
    text = _check.text_of(case)
    signature = case["headers"].get("x-line-signature", "")
    parser = WebhookParser(secret)
    if not parser.signature_validator.validate(text, signature):
        raise InvalidSignatureError("Invalid signature. signature=" + signature)
    try:
        parser.parse(text, signature)
    except InvalidSignatureError:
        raise
    except Exception as error:  # json.loads or the events list
        raise _check.NotAnEvent(_check.error_text(error)) from error
    return True


def judge(case):
    return _check.judge_with_secrets(case, attempt)


if __name__ == "__main__":
    _check.main("line-bot-sdk", judge)
