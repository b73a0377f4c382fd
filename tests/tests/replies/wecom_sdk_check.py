"""Sends replies with wechatpy (WeCom's widely used Python SDK) to the local
WeCom server, so tests/tests/replies/wecom.rs can compare what the server
received from wechatpy with inlet's requests for the same replies.

stdin:  {"api_base": "http://127.0.0.1:<port>", "corp_id", "secret",
         "access_token": optional (a token the client already holds),
         "sends": [{"api": "message", "agent_id", "user", "content"}
                   | {"api": "appchat", "chat", "content"}]}
stdout: {"library": "wechatpy <version>", "results": [WeCom's answers]}
"""

import json
import sys

import wechatpy
from wechatpy.enterprise import WeChatClient


def client_for(given):
    base = given["api_base"].rstrip("/")

    class LocalWeChatClient(WeChatClient):
        # Every API call is API_BASE_URL + its endpoint ...
        API_BASE_URL = base + "/cgi-bin/"

        # ... except gettoken, whose URL wechatpy 1.8.18 writes out in full
        # (https://qyapi.weixin.qq.com/cgi-bin/gettoken): the same call,
        # with the same parameters, on the local server.
        def fetch_access_token(self):
            return self._fetch_access_token(
                url=base + "/cgi-bin/gettoken",
                params={"corpid": self.corp_id, "corpsecret": self.secret},
            )

    client = LocalWeChatClient(given["corp_id"], given["secret"], access_token=given.get("access_token"))
    # The local server is on loopback: no proxy from the environment.
    client._http.trust_env = False
    return client


def main():
    given = json.load(sys.stdin)
    client = client_for(given)
    results = []
    for send in given["sends"]:
        if send["api"] == "message":
            results.append(client.message.send_text(send["agent_id"], send["user"], send["content"]))
        elif send["api"] == "appchat":
            results.append(client.appchat.send_text(send["chat"], send["content"]))
        else:
            raise ValueError("unknown api %r" % send["api"])
    json.dump({"library": "wechatpy " + wechatpy.__version__, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
