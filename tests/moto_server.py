"""moto's server, with each DynamoDB request atomic as it is on AWS.

moto_server handles requests on many threads, and its DynamoDB backend
checks a ConditionExpression and then writes without a lock: two
concurrent conditional writes of one item can both succeed, which real
DynamoDB never allows and which the processor's once-only claim relies on.
This launcher runs the same application and arguments as `moto_server`,
with one lock around DynamoDB requests (their X-Amz-Target starts with
`DynamoDB_`). SQS and everything else stay concurrent, so long polls do
not block the table.

Used by tests/with-moto.sh and `inlet dev` (cli/src/dev.rs).
"""

import sys
import threading

import moto.server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

_dynamodb = threading.Lock()
_dispatch = DomainDispatcherApplication.__call__


def _serialized(self, environ, start_response):
    if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
        with _dynamodb:
            # Read the whole answer inside the lock: the write happens while
            # the body is produced.
            return list(_dispatch(self, environ, start_response))
    return _dispatch(self, environ, start_response)


DomainDispatcherApplication.__call__ = _serialized

if __name__ == "__main__":
    moto.server.main(sys.argv[1:])
