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

Used by tests/with-moto.sh and `inlet dev` (cli/src/dev.rs).
"""

import io
import json
import sys
import threading

import moto.server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

STRIPES = 64
_stripes = [threading.Lock() for _ in range(STRIPES)]
_every_stripe = tuple(range(STRIPES))
# Each table's key attribute names, learnt from CreateTable as it passes
# (moto keeps its state in memory, so every table is created through here).
_key_names = {}
_key_names_lock = threading.Lock()
_dispatch = DomainDispatcherApplication.__call__


def _stripe(table, item):
    names = _key_names.get(table)
    if names is None or not isinstance(item, dict):
        return None
    key = {name: item.get(name) for name in names}
    return hash((table, json.dumps(key, sort_keys=True))) % STRIPES


def _stripes_of(operation, request):
    """The stripes `operation` must hold, or None for all of them."""
    if operation == "CreateTable":
        names = [k.get("AttributeName") for k in request.get("KeySchema", [])]
        with _key_names_lock:
            _key_names[request.get("TableName")] = names
        return None
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


def _locks_for(environ):
    """Reads the request body (and puts it back) to find the stripes."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or -1)
    except ValueError:
        return _every_stripe
    if length >= 0:
        body = environ["wsgi.input"].read(length)
    elif environ.get("wsgi.input_terminated"):  # chunked: read to the end
        body = environ["wsgi.input"].read()
    else:
        return _every_stripe
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    operation = environ.get("HTTP_X_AMZ_TARGET", "").partition(".")[2]
    try:
        request = json.loads(body or b"{}")
        stripes = _stripes_of(operation, request) if isinstance(request, dict) else None
    except (ValueError, AttributeError, TypeError):
        stripes = None
    return _every_stripe if stripes is None else stripes


def _serialized(self, environ, start_response):
    if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
        return _dispatch(self, environ, start_response)
    held = _locks_for(environ)
    for index in held:
        _stripes[index].acquire()
    try:
        # Read the whole answer inside the locks: the write happens while
        # the body is produced.
        return list(_dispatch(self, environ, start_response))
    finally:
        for index in reversed(held):
            _stripes[index].release()


DomainDispatcherApplication.__call__ = _serialized

if __name__ == "__main__":
    moto.server.main(sys.argv[1:])
