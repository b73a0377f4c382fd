"""moto's standard SQS queues at a cost per call that does not grow with depth.

moto 5.2.5 keeps a queue as one list of messages and answers every call by
walking it: SendMessage reads the queue's attributes, whose approximate
counts test every message's visibility (three passes, each calling the
clock per message); ReceiveMessage builds the list of visible messages, and
checks each received message's retention by reading the attributes again;
DeleteMessage and ChangeMessageVisibility search the list for a receipt
handle. A local stack with a few thousand messages queued then spends most
of the emulator's time in those passes: the processor drained about one
event a second and DynamoDB calls waited behind them.

`install()` gives each standard queue an index, kept under the queue's own
lock (moto's Condition, which long polls already wait on):

- every message by id, in send order (moto's `_messages` is read from it);
- every receipt handle it ever issued, to its message;
- the messages available now (visible and not delayed), in a heap by send
  order, so that ReceiveMessage takes them in exactly the order moto's walk
  of the list would;
- the others in a heap by the moment they become available, moved over as
  time passes (each entry carries the message's version, so a message
  rescheduled or deleted leaves only a stale entry that is skipped).

What moto answers is unchanged; `tests/moto_sqs_index_test.py` runs the same
random operations through moto with and without the index, on a fake clock,
and compares every answer. FIFO queues are left to moto's own code (their
per-group ordering is not indexed): they stay correct, with moto's cost.
"""

import heapq
import itertools
from copy import deepcopy

import moto
from moto.sqs import models
from moto.sqs.exceptions import InvalidParameterValue, ReceiptHandleIsInvalid

# The index replaces these methods of moto's; they were read in this version.
MOTO_VERSION = "5.2.5"


class QueueIndex:
    """The messages of one standard queue, indexed (see the module's text)."""

    def __init__(self, messages=()):
        self.by_id = {}
        self.by_handle = {}
        self.ready_ids = set()
        self.ready = []  # (send order, version, id)
        self.later = []  # (available at, ms; send order, version, id)
        self.delayed_ids = set()
        self.order = {}
        self.version = {}
        self.counter = itertools.count()
        for message in messages:
            self.add(message)

    def add(self, message):
        self.by_id[message.id] = message
        self.order[message.id] = next(self.counter)
        self.version[message.id] = 0
        for handle in message.all_receipt_handles:
            if handle is not None:
                self.by_handle[handle] = message.id
        self.schedule(message)

    def schedule(self, message):
        """Files `message` as available now or later, by its own clock."""
        mid = message.id
        self.version[mid] += 1
        version = self.version[mid]
        self.ready_ids.discard(mid)
        self.delayed_ids.discard(mid)
        if message.visible and not message.delayed:
            self.ready_ids.add(mid)
            heapq.heappush(self.ready, (self.order[mid], version, mid))
        else:
            if message.delayed:
                self.delayed_ids.add(mid)
            # moto: visible once now > visible_at, undelayed once now >=
            # delayed_until; refresh() takes entries due at <= now and asks
            # the message itself, so both edges are moto's.
            at = max(message.visible_at, message.delayed_until)
            heapq.heappush(self.later, (at, self.order[mid], version, mid))

    def refresh(self, queue):
        """Moves what has become available since the last look."""
        now = models.unix_time_millis()
        due = []
        while self.later and self.later[0][0] <= now:
            _, _, version, mid = heapq.heappop(self.later)
            if self.version.get(mid) == version:
                due.append(self.by_id[mid])
        # Filed again only once the heap is read up to `now`: one whose own
        # clock says "not yet" goes back without being popped twice.
        for message in due:
            # moto's receive drops a visible message from the pending set.
            if message.visible:
                queue._pending_messages.discard(message)
            self.schedule(message)

    def remove(self, message):
        mid = message.id
        del self.by_id[mid]
        del self.order[mid]
        del self.version[mid]
        self.ready_ids.discard(mid)
        self.delayed_ids.discard(mid)
        for handle in message.all_receipt_handles:
            self.by_handle.pop(handle, None)

    def next_ready(self):
        """The available message first sent, taken off the available heap."""
        while self.ready:
            _, version, mid = heapq.heappop(self.ready)
            if self.version.get(mid) == version and mid in self.ready_ids:
                self.ready_ids.discard(mid)
                return self.by_id[mid]
        return None

    def message_of(self, receipt_handle):
        mid = self.by_handle.get(receipt_handle)
        return None if mid is None else self.by_id.get(mid)


def _index(queue):
    return queue.__dict__.get("_inlet_index")


# --- Queue -----------------------------------------------------------------


def _messages_get(self):
    index = _index(self)
    if index is None:
        return self.__dict__.setdefault("_inlet_plain_messages", [])
    with self._messages_lock:
        return list(index.by_id.values())


def _messages_set(self, value):
    index = _index(self)
    if index is None:
        self.__dict__["_inlet_plain_messages"] = value
        return
    with self._messages_lock:
        self.__dict__["_inlet_index"] = QueueIndex(value)


def _wrap_init(original):
    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if not self.fifo_queue:
            self.__dict__["_inlet_index"] = QueueIndex(self.__dict__.pop("_inlet_plain_messages", []))

    return __init__


def _visible_messages(original):
    def messages(self):
        index = _index(self)
        if index is None:
            return original.fget(self)
        with self._messages_lock:
            index.refresh(self)
            ready = sorted(index.ready_ids, key=index.order.__getitem__)
            return [index.by_id[mid] for mid in ready]

    return property(messages)


def _count(original, counted):
    def count(self):
        index = _index(self)
        if index is None:
            return original.fget(self)
        with self._messages_lock:
            index.refresh(self)
            return counted(index)

    return property(count)


def _ready_count(index):
    return len(index.ready_ids)


def _delayed_count(index):
    return len(index.delayed_ids)


def _not_visible_count(index):
    return len(index.by_id) - len(index.ready_ids) - len(index.delayed_ids)


def _wrap_add_message(original):
    def add_message(self, message):
        index = _index(self)
        if index is None or self.lambda_event_source_mappings:
            # FIFO, or a moto Lambda reading the queue (inlet's stack has its
            # own pump): moto's own code.
            if index is not None:
                raise NotImplementedError("inlet's moto queue index does not serve moto's Lambda mappings")
            return original(self, message)
        with self._messages_lock:
            index.add(message)
            self._messages_lock.notify_all()

    return add_message


def _wrap_delete_message(original):
    def delete_message(self, receipt_handle):
        index = _index(self)
        if index is None:
            return original(self, receipt_handle)
        with self._messages_lock:
            if receipt_handle in self.deleted_messages:
                return
            message = index.message_of(receipt_handle)
            if message is None:
                raise ReceiptHandleIsInvalid()
            self._pending_messages.discard(message)
            self.deleted_messages.update(message.all_receipt_handles)
            index.remove(message)

    return delete_message


def _wrap_wait_for_messages(original):
    def wait_for_messages(self, timeout):
        index = _index(self)
        if index is None:
            return original(self, timeout)

        def available():
            index.refresh(self)
            return bool(index.ready_ids)

        with self._messages_lock:
            self._messages_lock.wait_for(available, timeout=timeout)

    return wait_for_messages


# --- SQSBackend --------------------------------------------------------------


def _wrap_receive_message(original):
    def receive_message(self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names=None):
        queue = self.get_queue(queue_name)
        index = _index(queue)
        if index is None:
            return original(self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names)
        if message_attribute_names is None:
            message_attribute_names = []
        polling_end = models.unix_time() + wait_seconds_timeout
        # Read once per call rather than once per message, as moto does.
        retention = queue.message_retention_period
        result = []
        while True:
            if result or (wait_seconds_timeout and models.unix_time() > polling_end):
                break
            to_dead_letters, received = [], []
            with queue._messages_lock:
                index.refresh(queue)
                while len(result) < count:
                    message = index.next_ready()
                    if message is None:
                        break
                    queue._pending_messages.discard(message)
                    if (
                        queue.dead_letter_queue is not None
                        and queue.redrive_policy
                        and message.approximate_receive_count >= queue.redrive_policy["maxReceiveCount"]
                    ):
                        to_dead_letters.append(message)
                        continue
                    queue._pending_messages.add(message)
                    message.mark_received(visibility_timeout=visibility_timeout)
                    index.by_handle[message.receipt_handle] = message.id
                    # Filed again after the walk: moto walks a snapshot, so a
                    # message received with no visibility timeout is not
                    # taken twice by one call.
                    received.append(message)
                    copy = deepcopy(message)
                    models._filter_message_attributes(copy, message_attribute_names)
                    if int(retention) + message.sent_timestamp / 1000 <= models.unix_time():
                        # moto stops the walk at a message past retention.
                        break
                    result.append(copy)
                for message in received:
                    index.schedule(message)
                for message in to_dead_letters:
                    index.remove(message)
            for message in to_dead_letters:
                queue.dead_letter_queue.add_message(message)
            if result or wait_seconds_timeout == 0:
                break
            queue.wait_for_messages(1)
        return result

    return receive_message


def _wrap_change_message_visibility(original):
    def change_message_visibility(self, queue_name, receipt_handle, visibility_timeout):
        queue = self.get_queue(queue_name)
        index = _index(queue)
        if index is None:
            return original(self, queue_name, receipt_handle, visibility_timeout)
        with queue._messages_lock:
            message = index.message_of(receipt_handle)
            if message is None:
                raise ReceiptHandleIsInvalid
            given = models.unix_time_millis() + int(visibility_timeout) * 1000
            if given - message.sent_timestamp > 43200 * 1000:
                raise InvalidParameterValue(
                    f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. Reason: Total "
                    "VisibilityTimeout for the message is beyond the limit [43200 seconds]"
                )
            message.change_visibility(visibility_timeout)
            if message.visible and message in queue._pending_messages:
                queue._pending_messages.remove(message)
            index.schedule(message)

    return change_message_visibility


def _replacements():
    queue, backend = models.Queue, models.SQSBackend
    return [
        (queue, "__init__", _wrap_init(queue.__init__)),
        (queue, "_messages", property(_messages_get, _messages_set)),
        (queue, "messages", _visible_messages(queue.messages)),
        (queue, "approximate_number_of_messages", _count(queue.approximate_number_of_messages, _ready_count)),
        (
            queue,
            "approximate_number_of_messages_delayed",
            _count(queue.approximate_number_of_messages_delayed, _delayed_count),
        ),
        (
            queue,
            "approximate_number_of_messages_not_visible",
            _count(queue.approximate_number_of_messages_not_visible, _not_visible_count),
        ),
        (queue, "add_message", _wrap_add_message(queue.add_message)),
        (queue, "delete_message", _wrap_delete_message(queue.delete_message)),
        (queue, "wait_for_messages", _wrap_wait_for_messages(queue.wait_for_messages)),
        (backend, "receive_message", _wrap_receive_message(backend.receive_message)),
        (backend, "change_message_visibility", _wrap_change_message_visibility(backend.change_message_visibility)),
    ]


_ABSENT = object()


def install():
    """Indexes every standard queue created from now on; returns what
    `uninstall` needs to put moto's own methods back (for the tests)."""
    if moto.__version__ != MOTO_VERSION:
        raise SystemExit(
            f"tests/moto_sqs_index.py replaces internals of moto {MOTO_VERSION}, not {moto.__version__}: "
            "read moto's sqs/models.py again and update the index before moving moto"
        )
    replacements = _replacements()
    saved = [(owner, name, owner.__dict__.get(name, _ABSENT)) for owner, name, _ in replacements]
    for owner, name, replacement in replacements:
        setattr(owner, name, replacement)
    return saved


def uninstall(saved):
    for owner, name, original in saved:
        if original is _ABSENT:
            delattr(owner, name)
        else:
            setattr(owner, name, original)
