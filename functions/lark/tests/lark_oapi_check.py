"""Feeds requests to the official Lark SDK (lark-oapi) and reports its verdicts.

Run by functions/lark/tests/official_sdk.rs with the project's venv python
(`make tools` installs lark-oapi there). Usage:

    python lark_oapi_check.py INPUT.json OUTPUT.json

INPUT.json holds

    {"verdicts": [case, ...], "seal": [recipe, ...]}

where a case is {"name", "encrypt_key", "verification_token", "path",
"headers": {name: value}, "body_b64"} and a recipe is {"name",
"encrypt_key", "verification_token", "path", "plaintext", "scheme",
"timestamp"} with scheme one of "event-signature" (encrypt and sign with
SHA-256 keyed by the Encrypt Key), "card-signature-v1" (encrypt when a key
is set, sign with SHA-1 keyed by the Verification Token), "unsigned"
(encrypt when a key is set, no signature), "stray-signature" (plaintext,
signature headers of random hex).

Writes {"sdk": version, "verdicts": {name: verdict}, "sealed": [case + verdict]}
where a verdict is {"accepted", "handler", "status", "body"}.

Every request goes through the SDK's own HTTP handlers, exactly as its web
adapters call them: EventDispatcherHandler for events and schema-2.0
callbacks, CardActionHandler for old-style card callbacks. "accepted" means
the handler answered 200 after calling the registered processor, or answered
the URL challenge. Sealing uses the SDK's own key derivation (AESCipher) and
the signature formulas of its _verify_sign methods, with a random IV and
nonce as Lark uses, and Python's own JSON formatting.
"""

import base64
import hashlib
import importlib.metadata
import json
import logging
import os
import sys

from Crypto.Cipher import AES

from lark_oapi.card.action_handler import CardActionHandler
from lark_oapi.core.model import RawRequest
from lark_oapi.core.utils import AESCipher
from lark_oapi.event.callback.model.p2_card_action_trigger import P2CardActionTriggerResponse
from lark_oapi.event.dispatcher_handler import EventDispatcherHandler

# The SDK logs every refusal with a traceback, to stdout; the verdicts go to
# their own file so that nothing the SDK prints can be mistaken for them.
logging.getLogger("Lark").setLevel(logging.CRITICAL)


def event_dispatcher(encrypt_key, verification_token, seen):
    def record(event):
        seen.append(event)

    def record_card(event):
        seen.append(event)
        return P2CardActionTriggerResponse()

    return (
        EventDispatcherHandler.builder(encrypt_key, verification_token)
        .register_p2_customized_event("im.message.receive_v1", record)
        .register_p1_customized_event("message", record)
        .register_p2_card_action_trigger(record_card)
        .build()
    )


def card_action_handler(encrypt_key, verification_token, seen):
    return CardActionHandler.builder(encrypt_key, verification_token).register(seen.append).build()


def is_schema_v2_after_decryption(body, encrypt_key):
    """On the card URL the SDK's two handlers split by schema: 2.0 bodies are
    new-style callbacks (EventDispatcherHandler), the rest old-style."""
    try:
        outer = json.loads(body)
        ciphertext = outer.get("encrypt")
        plaintext = AESCipher(encrypt_key).decrypt_str(ciphertext) if ciphertext and encrypt_key else body
        return json.loads(plaintext).get("schema") == "2.0"
    except Exception:
        return False


def verdict(case):
    body = base64.b64decode(case["body_b64"])
    encrypt_key = case["encrypt_key"]
    verification_token = case["verification_token"]
    seen = []
    if case["path"].endswith("/lark/event") or is_schema_v2_after_decryption(body, encrypt_key):
        handler_name = "EventDispatcherHandler"
        handler = event_dispatcher(encrypt_key, verification_token, seen)
    else:
        handler_name = "CardActionHandler"
        handler = card_action_handler(encrypt_key, verification_token, seen)
    request = RawRequest()
    request.uri = case["path"]
    # Web frameworks hand the SDK canonical header names (werkzeug: title case).
    request.headers = {name.title(): value for name, value in case["headers"].items()}
    request.body = body
    response = handler.do(request)
    content = response.content.decode("utf-8", "replace") if response.content else ""
    answered_challenge = response.status_code == 200 and content.startswith('{"challenge"')
    return {
        "accepted": response.status_code == 200 and (bool(seen) or answered_challenge),
        "handler": handler_name,
        "status": response.status_code,
        "body": content[:200],
    }


def encrypt(encrypt_key, plaintext):
    key = AESCipher(encrypt_key).digest
    iv = os.urandom(16)
    pad = 16 - len(plaintext) % 16
    sealed = base64.b64encode(iv + AES.new(key, AES.MODE_CBC, iv).encrypt(plaintext + bytes([pad]) * pad))
    # The SDK's own decryption must open what was sealed here.
    assert AESCipher(encrypt_key).decrypt_str(sealed.decode()).encode() == plaintext
    return sealed.decode()


def seal(recipe):
    encrypt_key = recipe["encrypt_key"]
    token = recipe["verification_token"]
    plaintext = recipe["plaintext"].encode("utf-8")
    scheme = recipe["scheme"]
    if encrypt_key and scheme != "stray-signature":
        body = json.dumps({"encrypt": encrypt(encrypt_key, plaintext)}).encode("utf-8")
    else:
        body = plaintext
    timestamp = str(recipe["timestamp"])
    nonce = os.urandom(8).hex()
    headers = {}
    if scheme == "event-signature":
        signature = hashlib.sha256((timestamp + nonce + encrypt_key).encode("utf-8") + body).hexdigest()
    elif scheme == "card-signature-v1":
        signature = hashlib.sha1((timestamp + nonce + token).encode("utf-8") + body).hexdigest()
    elif scheme == "stray-signature":
        signature = os.urandom(32).hex()
    else:
        signature = None
    if signature is not None:
        headers = {
            "x-lark-request-timestamp": timestamp,
            "x-lark-request-nonce": nonce,
            "x-lark-signature": signature,
        }
    case = {
        "name": recipe["name"],
        "encrypt_key": encrypt_key,
        "verification_token": token,
        "path": recipe["path"],
        "headers": headers,
        "body_b64": base64.b64encode(body).decode(),
    }
    case["sdk"] = verdict(case)
    return case


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    report = {
        "sdk": "lark-oapi " + importlib.metadata.version("lark-oapi"),
        "verdicts": {case["name"]: verdict(case) for case in spec.get("verdicts", [])},
        "sealed": [seal(recipe) for recipe in spec.get("seal", [])],
    }
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main()
