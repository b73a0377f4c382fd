"""Judges and seals WeCom callbacks with wechatpy's enterprise crypto.

Run by functions/wecom/tests/official_lib.rs through
inlet_testkit::crosscheck::run with the project venv's python (`make tools`
installs wechatpy there). Reads one JSON document on stdin:

    {"judge": [case, ...], "seal": [recipe, ...]}

A case is {"name", "app", "method": "GET" | "POST", "query": {...},
"body"}; an app is {"token", "encoding_aes_key", "corp_id"}. GET cases go
to WeChatCrypto.check_signature(msg_signature, timestamp, nonce, echostr),
whose return value a receiver answers; POST cases to
WeChatCrypto.decrypt_message(body, msg_signature, timestamp, nonce) and
then wechatpy.enterprise.parse_message(plaintext), exactly as a
wechatpy-based receiver calls them with the query parameters its web
framework decoded.

A recipe is {"name", "app", "kind": "message" | "echo", "plaintext",
"nonce", "timestamp"}. "message" recipes are sealed with
WeChatCrypto.encrypt_message (wechatpy's only sealing API, which writes a
passive-reply XML: Encrypt, MsgSignature, TimeStamp, Nonce); "echo" recipes
with the same PrpCrypto and signature function that check_signature uses,
since wechatpy has no helper that makes an echostr.

Writes {"library", "verdicts": {name: verdict}, "sealed": [recipe + result]}
where a verdict is {"accepted", "authenticated", "error", "plaintext",
"json", "type", "source"}: "authenticated" says the signature held and the
ciphertext opened, "accepted" that the receiver would go on (for a POST,
parse_message returned a message: its "type" and "source", the
FromUserName, None when absent); "json" is xmltodict's parse of a
decrypted message (what wechatpy's parser starts from), with empty
elements as "" to match inlet's payload.
"""

import importlib.metadata
import json
import sys

import xmltodict
from wechatpy.crypto import _get_signature
from wechatpy.enterprise import parse_message
from wechatpy.enterprise.crypto import PrpCrypto, WeChatCrypto


def crypto_for(app):
    return WeChatCrypto(app["token"], app["encoding_aes_key"], app["corp_id"])


def empty_as_text(value):
    if value is None:
        return ""
    if isinstance(value, dict):
        return {key: empty_as_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [empty_as_text(item) for item in value]
    return value


def as_json(plaintext):
    try:
        return empty_as_text(xmltodict.parse(plaintext)["xml"])
    except Exception:
        return None


def judge(case):
    crypto = crypto_for(case["app"])
    query = case["query"]
    verdict = {"accepted": False, "authenticated": False, "error": None, "plaintext": None, "json": None}
    try:
        if case["method"] == "GET":
            verdict["plaintext"] = crypto.check_signature(
                query.get("msg_signature"), query.get("timestamp"), query.get("nonce"), query.get("echostr")
            )
            verdict["authenticated"] = True
        else:
            plaintext = crypto.decrypt_message(
                case["body"], query.get("msg_signature"), query.get("timestamp"), query.get("nonce")
            )
            verdict.update(authenticated=True, plaintext=plaintext, json=as_json(plaintext))
            message = parse_message(plaintext)
            verdict.update(type=message.type, source=message.source)
        verdict["accepted"] = True
    except Exception as error:  # every refusal, whatever its type
        verdict["error"] = type(error).__name__
    return verdict


def seal(recipe):
    app = recipe["app"]
    crypto = crypto_for(app)
    nonce = recipe["nonce"]
    timestamp = str(recipe["timestamp"])
    result = dict(recipe)
    if recipe["kind"] == "message":
        reply = crypto.encrypt_message(recipe["plaintext"], nonce, timestamp)
        fields = xmltodict.parse(reply)["xml"]
        result.update(
            reply_xml=reply,
            encrypt=fields["Encrypt"],
            msg_signature=fields["MsgSignature"],
            timestamp=fields["TimeStamp"],
            nonce=fields["Nonce"],
        )
        # wechatpy must open what it sealed, as a callback body.
        opened = crypto.decrypt_message(reply, fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"])
        result["wechatpy_opens_it"] = opened == recipe["plaintext"]
    else:
        echostr = PrpCrypto(crypto.key).encrypt(recipe["plaintext"], app["corp_id"]).decode()
        signature = _get_signature(app["token"], timestamp, nonce, echostr)
        result.update(echostr=echostr, msg_signature=signature, timestamp=timestamp, nonce=nonce)
        result["wechatpy_opens_it"] = crypto.check_signature(signature, timestamp, nonce, echostr) == recipe["plaintext"]
    return result


def main():
    spec = json.load(sys.stdin)
    report = {
        "library": "wechatpy " + importlib.metadata.version("wechatpy"),
        "verdicts": {case["name"]: judge(case) for case in spec.get("judge", [])},
        "sealed": [seal(recipe) for recipe in spec.get("seal", [])],
    }
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
