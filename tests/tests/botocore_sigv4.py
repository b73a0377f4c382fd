"""Signs one request with botocore's SigV4Auth (the signer boto3 uses) and
prints the Authorization header it computes, for tests/tests/secrets.rs.

Input on stdin: {"url", "headers": {name: value}, "body_b64", "timestamp"
(YYYYMMDDTHHMMSSZ), "region", "service", "access_key", "secret_key",
"token"}. The request's own X-Amz-Date and X-Amz-Security-Token are given
in "headers", as inlet sends them; botocore signs the same header set.
"""
import base64
import json
import sys

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

doc = json.load(sys.stdin)
request = AWSRequest(
    method="POST",
    url=doc["url"],
    headers=doc["headers"],
    data=base64.b64decode(doc["body_b64"]),
)
auth = SigV4Auth(Credentials(doc["access_key"], doc["secret_key"], doc["token"]), doc["service"], doc["region"])
# add_auth would stamp the current time: the steps it runs, at the given one.
request.context["timestamp"] = doc["timestamp"]
canonical = auth.canonical_request(request)
string_to_sign = auth.string_to_sign(request, canonical)
signature = auth.signature(string_to_sign, request)
scope = auth.scope(request)
signed = auth.signed_headers(auth.headers_to_sign(request))
print(json.dumps({"authorization": f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders={signed}, Signature={signature}"}))
