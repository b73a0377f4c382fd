"""app.handler on EventBridge events shaped as inlet puts them on its bus.

Run: python -m unittest (from this directory; `make unit` does).
"""

import copy
import json
import logging
import os
import unittest

import app

try:  # Only to check template.yaml's rules; the handler needs neither.
    import yaml
    from moto.events.models import EventPattern
except ImportError:
    yaml = EventPattern = None


def bus_event(envelope):
    """The event an EventBridge rule hands to Lambda for one inlet delivery."""
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": envelope["kind"],
        "source": "inlet." + envelope["provider"],
        "account": "123456789012",
        "time": envelope["received_at"],
        "region": "eu-west-1",
        "resources": [],
        "detail": envelope,
    }


def envelope(provider, event_id, kind, tenant, received_at, scheme, matched, **view_and_payload):
    """An Envelope as inlet delivers it: `<provider>:<event_id>`, verified
    by `scheme` with the `matched` secrets, its view and payload after."""
    return {
        "id": f"{provider}:{event_id}", "provider": provider, "kind": kind, "tenant": tenant,
        "received_at": received_at, "verification": {"scheme": scheme, "matched": matched},
        **view_and_payload,
    }


def changed(envelope, view, field, value):
    """A copy of `envelope` whose `view` ("message", "alert") has `field` set to `value`."""
    changed = copy.deepcopy(envelope)
    changed[view][field] = value
    return changed


LARK_COMMAND = envelope(
    "lark", "ev-42", "im.message.receive_v1", "cli_a1", "2026-01-05T09:30:00Z",
    "lark-signature", "LARK_ENCRYPT_KEY#1,LARK_VERIFICATION_TOKEN#1",
    message={
        "chat_id": "oc_devchat", "chat_type": "p2p", "sender_id": "ou_devuser",
        "message_id": "om_42", "text": "/Deploy api staging",
        "reply_handle": {"chat_id": "oc_devchat", "message_id": "om_42"},
    },
    payload={"schema": "2.0", "header": {"event_id": "ev-42", "event_type": "im.message.receive_v1"}},
)
# A message that is not a slash command.
PLAIN_MESSAGE = changed(LARK_COMMAND, "message", "text", "deploy status?")

FIRING_ALERT = envelope(
    "alertmanager", "3fa2c1d0e9b84a11:firing:2026-01-05T09:29:00Z", "alert", "inlet", "2026-01-05T09:30:01Z",
    "bearer-token", "ALERTMANAGER_BEARER_TOKENS#1",
    alert={
        "name": "HighLatency", "status": "firing", "severity": "page",
        "labels": {"alertname": "HighLatency", "severity": "page"},
        "annotations": {"summary": "p99 over 2 s"}, "summary": "p99 over 2 s",
        "fingerprint": "3fa2c1d0e9b84a11", "starts_at": "2026-01-05T09:29:00Z",
        "group_key": "{}:{alertname=\"HighLatency\"}",
    },
    payload={"receiver": "inlet", "status": "firing"},
)
RESOLVED_ALERT = changed(FIRING_ALERT, "alert", "status", "resolved")


class HandlerTest(unittest.TestCase):
    def test_a_slash_command_is_parsed_with_where_to_answer(self):
        with self.assertLogs(level=logging.INFO) as logs:
            outcome = app.handler(bus_event(LARK_COMMAND), None)
        self.assertEqual(outcome["action"], "command")
        self.assertEqual(outcome["command"], "deploy")
        self.assertEqual(outcome["args"], ["api", "staging"])
        self.assertEqual(outcome["reply_handle"], {"chat_id": "oc_devchat", "message_id": "om_42"})
        self.assertIn('"id": "lark:ev-42"', logs.output[0])
        self.assertIn('"source": "inlet.lark"', logs.output[0])

    def test_an_alert_pages_when_firing_and_closes_when_resolved(self):
        with self.assertLogs(level=logging.INFO):
            outcome = app.handler(bus_event(FIRING_ALERT), None)
        self.assertEqual(outcome, {
            "action": "page", "alert": "HighLatency", "status": "firing",
            "severity": "page", "summary": "p99 over 2 s",
        })
        with self.assertLogs(level=logging.INFO):
            self.assertEqual(app.handler(bus_event(RESOLVED_ALERT), None)["action"], "close")

    def test_anything_else_is_ignored(self):
        no_view = {key: value for key, value in LARK_COMMAND.items() if key != "message"}
        for ignored in (PLAIN_MESSAGE, no_view):
            with self.assertLogs(level=logging.INFO):
                self.assertEqual(app.handler(bus_event(ignored), None), {"action": "ignored"})


@unittest.skipIf(EventPattern is None, "needs PyYAML and moto (the project's .venv has both)")
class RulesTest(unittest.TestCase):
    """template.yaml's rules, as EventBridge (here moto's copy) applies them."""

    def rule_patterns(self):
        class TemplateLoader(yaml.SafeLoader):
            pass

        # CloudFormation's short forms (!Ref ...) carry no pattern: skip them.
        TemplateLoader.add_multi_constructor("!", lambda loader, suffix, node: None)
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "template.yaml")
        with open(path) as file:
            template = yaml.load(file, Loader=TemplateLoader)
        events = template["Resources"]["ConsumerFunction"]["Properties"]["Events"]
        return {name: EventPattern.load(json.dumps(event["Properties"]["Pattern"])) for name, event in events.items()}

    def test_each_rule_selects_its_events_and_no_other(self):
        rules = self.rule_patterns()
        expected = [
            (LARK_COMMAND, {"LarkSlashCommand"}),
            (PLAIN_MESSAGE, set()),
            (FIRING_ALERT, {"Alert"}),
            (RESOLVED_ALERT, {"Alert"}),
        ]
        for event, names in expected:
            matched = {name for name, pattern in rules.items() if pattern.matches_event(bus_event(event))}
            self.assertEqual(matched, names, event["id"])


if __name__ == "__main__":
    unittest.main()
