"""The moto queue index (tests/moto_sqs_index.py) answers as moto does, at a
cost per call that does not grow with the queue's depth.

Run by `make unit` with the project's venv:
  .venv/bin/python -m unittest discover -s tests -p 'moto_*_test.py'
"""

import json
import random
import unittest

from moto.sqs import models

import moto_sqs_index

ACCOUNT = "123456789012"
REGION = "us-east-1"


class FakeClock:
    """moto's clock, as the models module reads it, moved by hand."""

    def __init__(self):
        self.ms = 1_700_000_000_000.0
        self.saved = (models.unix_time_millis, models.unix_time)

    def __enter__(self):
        models.unix_time_millis = lambda *_: self.ms
        models.unix_time = lambda *_: self.ms / 1000
        return self

    def __exit__(self, *_):
        models.unix_time_millis, models.unix_time = self.saved


def backend_with_queues():
    # moto finds a redrive policy's DLQ in its global backends.
    backend = models.sqs_backends[ACCOUNT][REGION]
    backend.queues.clear()
    dlq = backend.create_queue("dead")
    redrive = json.dumps({"deadLetterTargetArn": dlq.queue_arn, "maxReceiveCount": "3"})
    backend.create_queue("events", VisibilityTimeout="2", RedrivePolicy=redrive)
    return backend


COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesDelayed",
    "ApproximateNumberOfMessagesNotVisible",
)


def run_scenario(seed, steps=2000):
    """Random operations on a queue with a DLQ; every answer moto gives, in
    a form that does not depend on its random ids and handles."""
    rng = random.Random(seed)
    answers = []
    handles = []
    sent = 0
    with FakeClock() as clock:
        backend = backend_with_queues()
        for _ in range(steps):
            op = rng.choices(
                ["send", "batch", "receive", "delete", "visibility", "tick", "counts", "purge"],
                weights=[20, 5, 20, 15, 8, 15, 6, 0.2],
            )[0]
            try:
                if op == "send":
                    sent += 1
                    delay = rng.choice([None, 0, 0, 1, 3])
                    backend.send_message("events", f"m{sent}", delay_seconds=delay)
                    answers.append((op, sent))
                elif op == "batch":
                    entries = {}
                    for i in range(rng.randint(1, 10)):
                        sent += 1
                        entries[str(i)] = {
                            "Id": f"e{i}",
                            "MessageBody": f"m{sent}",
                            "MessageAttributes": {},
                            "DelaySeconds": rng.choice([None, 0, 2]),
                        }
                    messages, failed = backend.send_message_batch("events", entries)
                    answers.append((op, [m.body for m in messages], failed))
                elif op == "receive":
                    queue = rng.choice(["events", "events", "events", "dead"])
                    got = backend.receive_message(queue, rng.randint(1, 10), 0, rng.choice([None, 0, 1, 2, 5]))
                    handles.extend(m.receipt_handle for m in got)
                    answers.append((op, queue, [(m.body, m.approximate_receive_count) for m in got]))
                elif op == "delete" and handles:
                    at = rng.randrange(len(handles))
                    backend.delete_message("events", handles[at])
                    answers.append((op, at))
                elif op == "visibility" and handles:
                    at = rng.randrange(len(handles))
                    backend.change_message_visibility("events", handles[at], rng.choice([0, 1, 4]))
                    answers.append((op, at))
                elif op == "tick":
                    clock.ms += rng.choice([1, 250, 999, 1000, 1001, 2500])
                elif op == "counts":
                    for queue in ("events", "dead"):
                        attributes = backend.get_queue_attributes(queue, ["All"])
                        answers.append((op, queue, [attributes[name] for name in COUNTS]))
                elif op == "purge":
                    backend.purge_queue("events")
                    answers.append((op,))
            except Exception as error:  # moto's errors are answers too
                answers.append((op, "error", type(error).__name__))
        for queue in ("events", "dead"):
            answers.append(("final", queue, sorted(m.body for m in backend.get_queue(queue)._messages)))
    return answers


class Visibility:
    """Counts how often moto asks a message whether it is visible: the unit
    of its per-call walks over the queue."""

    def __enter__(self):
        self.calls = 0
        self.original = models.Message.visible

        def visible(message):
            self.calls += 1
            return self.original.fget(message)

        models.Message.visible = property(visible)
        return self

    def __exit__(self, *_):
        models.Message.visible = self.original


def calls_of_one_round_at_depth(depth):
    """Visibility checks made by one send, receive, delete, visibility change
    and attribute read on a queue holding `depth` messages."""
    backend = backend_with_queues()
    for i in range(depth):
        backend.send_message("events", f"m{i}")
    with Visibility() as visibility:
        backend.send_message("events", "one more")
        got = backend.receive_message("events", 10, 0, 30)
        backend.delete_message("events", got[0].receipt_handle)
        backend.change_message_visibility("events", got[1].receipt_handle, 0)
        backend.get_queue_attributes("events", ["All"])
    return visibility.calls


class IndexAnswersAsMotoDoes(unittest.TestCase):
    def test_random_operations_answer_the_same_with_and_without_the_index(self):
        for seed in range(4):
            plain = run_scenario(seed)
            saved = moto_sqs_index.install()
            try:
                indexed = run_scenario(seed)
            finally:
                moto_sqs_index.uninstall(saved)
            self.assertEqual(len(plain), len(indexed), f"seed {seed}")
            for step, (want, got) in enumerate(zip(plain, indexed)):
                self.assertEqual(want, got, f"seed {seed}, answer {step}")
            # The scenario reaches the paths that matter.
            kinds = {answer[0] for answer in plain}
            self.assertTrue({"receive", "delete", "visibility", "counts", "final"} <= kinds)
            self.assertTrue(any(a[0] == "final" and a[1] == "dead" and a[2] for a in plain), "some went to the DLQ")

    def test_a_rounds_cost_does_not_grow_with_the_queues_depth(self):
        saved = moto_sqs_index.install()
        try:
            shallow = calls_of_one_round_at_depth(10)
            deep = calls_of_one_round_at_depth(3000)
        finally:
            moto_sqs_index.uninstall(saved)
        self.assertLessEqual(deep, shallow + 5, f"{shallow} checks at depth 10, {deep} at depth 3000")
        # What the index saves: moto on its own walks every message (at a
        # smaller depth: filling its list costs it depth² checks).
        self.assertGreater(calls_of_one_round_at_depth(300), 300)

    def test_fifo_queues_are_left_to_moto(self):
        saved = moto_sqs_index.install()
        try:
            backend = backend_with_queues()
            queue = backend.create_queue("ordered.fifo", FifoQueue="true")
            self.assertNotIn("_inlet_index", queue.__dict__)
            backend.send_message("ordered.fifo", "a", group_id="g", deduplication_id="1")
            backend.send_message("ordered.fifo", "b", group_id="g", deduplication_id="2")
            backend.send_message("ordered.fifo", "a again", group_id="g", deduplication_id="1")
            first = backend.receive_message("ordered.fifo", 10, 0, 30)
            self.assertEqual([m.body for m in first], ["a", "b"])
            self.assertEqual(backend.receive_message("ordered.fifo", 10, 0, 30), [], "the group is in flight")
        finally:
            moto_sqs_index.uninstall(saved)


if __name__ == "__main__":
    unittest.main()
