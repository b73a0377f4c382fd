"""moto's server, with each DynamoDB write atomic on its item as on AWS.

moto_server handles requests on many threads, and its DynamoDB backend
checks a ConditionExpression and then writes without a lock: two
concurrent conditional writes of one item can both succeed, which real
DynamoDB never allows and which the processor's once-only claim relies on.
This launcher runs the same application and arguments as `moto_server`,
with DynamoDB requests (X-Amz-Target `DynamoDB_*`) holding the locks of
the items they touch while moto handles them.

The locks are per item, not one for the whole service: with a single lock,
every DynamoDB request waited for all the others while SQS requests (whose
cost in moto grows with the queue's depth) held the interpreter, so a
batch of ten events took seconds and a soak's processor fell behind. Items
map onto a fixed set of lock stripes by table and key; a request takes the
stripes of its items in ascending order, so two requests never wait on each
other in a cycle. What names no single item (Query, Scan, table operations)
or cannot be read takes every stripe, as the one lock did. SQS and
everything else run concurrently, so long polls never block the table.

SQS is moto's, with one change: standard queues are indexed
(tests/moto_sqs_index.py), so that a call's cost does not grow with the
queue's depth; a load run against the local stack otherwise spends the
emulator's time walking thousands of queued messages on every call.

Used by tests/with-moto.sh and `inlet dev` (cli/src/dev.rs).
"""

import io
import json
import sys
import threading

import moto.server
import moto_sqs_index
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

STRIPES = 64
_stripes = [threading.Lock() for _ in range(STRIPES)]
_every_stripe = tuple(range(STRIPES))
# Each table's key attribute names, learnt from the CreateTable requests
# moto accepted (it keeps its state in memory, so every table is created
# through here). Written only while CreateTable holds every stripe.
_key_names = {}
_dispatch = DomainDispatcherApplication.__call__


def _stripe(table, item):
    names = _key_names.get(table)
    if names is None or not isinstance(item, dict):
        return None
    key = {name: item.get(name) for name in names}
    return hash((table, json.dumps(key, sort_keys=True))) % STRIPES


def _stripes_of(operation, request):
    """The stripes `operation` must hold, or None for all of them."""
    targets = []  # (table, item or key)
    if operation == "PutItem":
        targets.append((request.get("TableName"), request.get("Item")))
    elif operation in ("GetItem", "UpdateItem", "DeleteItem"):
        targets.append((request.get("TableName"), request.get("Key")))
    elif operation == "BatchGetItem":
        for table, wanted in request.get("RequestItems", {}).items():
            targets.extend((table, key) for key in wanted.get("Keys", []))
    elif operation == "BatchWriteItem":
        for table, writes in request.get("RequestItems", {}).items():
            for write in writes:
                put, delete = write.get("PutRequest"), write.get("DeleteRequest")
                targets.append((table, put.get("Item") if put else delete.get("Key") if delete else None))
    elif operation in ("TransactWriteItems", "TransactGetItems"):
        for entry in request.get("TransactItems", []):
            for kind, action in entry.items():
                targets.append((action.get("TableName"), action.get("Item" if kind == "Put" else "Key")))
    else:
        return None
    stripes = {_stripe(table, item) for table, item in targets}
    if not stripes or None in stripes:
        return None
    return tuple(sorted(stripes))


def _read_request(environ):
    """The request's operation and JSON body (None when unreadable); the
    body is put back for moto."""
    operation = environ.get("HTTP_X_AMZ_TARGET", "").partition(".")[2]
    try:
        length = int(environ.get("CONTENT_LENGTH") or -1)
    except ValueError:
        return operation, None
    if length >= 0:
        body = environ["wsgi.input"].read(length)
    elif environ.get("wsgi.input_terminated"):  # chunked: read to the end
        body = environ["wsgi.input"].read()
    else:
        return operation, None
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return operation, None
    return operation, request if isinstance(request, dict) else None


def _serialized(self, environ, start_response):
    if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
        return _dispatch(self, environ, start_response)
    operation, request = _read_request(environ)
    try:
        stripes = _stripes_of(operation, request) if request is not None else None
    except (AttributeError, TypeError):  # a body of the wrong shape
        stripes = None
    held = _every_stripe if stripes is None else stripes
    answered = []

    def remember_status(status, headers, *rest):
        answered.append(status)
        return start_response(status, headers, *rest)

    for index in held:
        _stripes[index].acquire()
    try:
        # Read the whole answer inside the locks: the write happens while
        # the body is produced.
        answer = list(_dispatch(self, environ, remember_status))
        if operation == "CreateTable" and request is not None and answered and answered[0].startswith("200"):
            _key_names[request.get("TableName")] = [k.get("AttributeName") for k in request.get("KeySchema", [])]
        return answer
    finally:
        for index in reversed(held):
            _stripes[index].release()


DomainDispatcherApplication.__call__ = _serialized

if __name__ == "__main__":
    moto_sqs_index.install()
    moto.server.main(sys.argv[1:])
