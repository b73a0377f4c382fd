"""DingTalk's outgoing-robot check, written as DingTalk's documentation gives it.

DingTalk ships no verifier library for outgoing robots (none is in the
issue's list). Its documentation ("接收消息" / receive-message, and the
signing sample of the custom robot that the same formula comes from) says:

    string_to_sign = '{}\\n{}'.format(timestamp, app_secret)
    hmac_code = hmac.new(app_secret.encode('utf-8'), string_to_sign.encode('utf-8'),
                         digestmod=hashlib.sha256).digest()
    sign = base64.b64encode(hmac_code)

and that a request is genuine only if `sign` equals that value and
`timestamp` (milliseconds) is not more than one hour away from now. The
custom robot's *sending* sample URL-encodes the result with
urllib.parse.quote_plus because it goes in a query string; the outgoing
robot sends `sign` in a header, not URL-encoded, so this check does not
quote it.

Run by functions/dingtalk/tests/official_lib.rs through
inlet_testkit::crosscheck::run. Reads on stdin:

    {"judge": [{"name", "app_secret", "headers": {...}, "now_ms"}],
     "sign": [{"name", "app_secret", "timestamp"}]}

and writes {"reference", "verdicts": {name: {"accepted", "reason"}},
"signed": [recipe + {"sign"}]}.
"""

import base64
import hashlib
import hmac
import json
import sys


def dingtalk_sign(timestamp, app_secret):
    app_secret_enc = app_secret.encode("utf-8")
    string_to_sign = "{}\n{}".format(timestamp, app_secret)
    string_to_sign_enc = string_to_sign.encode("utf-8")
    hmac_code = hmac.new(app_secret_enc, string_to_sign_enc, digestmod=hashlib.sha256).digest()
    return base64.b64encode(hmac_code).decode("utf-8")


def judge(case):
    headers = {name.lower(): value for name, value in case["headers"].items()}
    timestamp = headers.get("timestamp")
    sign = headers.get("sign")
    if timestamp is None or sign is None:
        return {"accepted": False, "reason": "timestamp or sign header missing"}
    try:
        millis = int(timestamp)
    except ValueError:
        return {"accepted": False, "reason": "timestamp is not a number"}
    # "timestamp 与系统当前时间戳如果相差1小时以上，则认为是非法的请求"
    if abs(case["now_ms"] - millis) > 3600 * 1000:
        return {"accepted": False, "reason": "timestamp more than one hour from now"}
    # "sign 与开发者自己计算的结果不一致，则认为是非法的请求"
    if not hmac.compare_digest(sign, dingtalk_sign(timestamp, case["app_secret"])):
        return {"accepted": False, "reason": "sign differs"}
    return {"accepted": True, "reason": None}


def main():
    spec = json.load(sys.stdin)
    signed = []
    for recipe in spec.get("sign", []):
        result = dict(recipe)
        result["sign"] = dingtalk_sign(recipe["timestamp"], recipe["app_secret"])
        result["body"] = json.dumps(recipe.get("message", {}))
        signed.append(result)
    report = {
        "reference": "DingTalk documented formula (hmac/hashlib/base64)",
        "verdicts": {case["name"]: judge(case) for case in spec.get("judge", [])},
        "signed": signed,
    }
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
