"""An inlet consumer: acts on the Envelopes EventBridge routes here.

inlet puts each event on its bus with Source ``inlet.<provider>``,
DetailType the Envelope's ``kind`` and Detail the Envelope itself, so
``event["detail"]`` is the Envelope as the README's "The Envelope" documents
it: ``id``, ``provider``, ``kind``, ``tenant``, ``received_at``,
``verification``, ``message`` (chat platforms), ``alert`` (alerting
sources), ``payload`` (the platform's own JSON).

inlet has already verified the platform's signature and dropped the
platform's retries; EventBridge and Lambda may still deliver an event more
than once (both are at-least-once), so anything with a side effect should be
keyed by the Envelope ``id``, which is the same on every delivery.
"""

import json
import logging

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def handler(event, context):
    """Lambda entry point for the EventBridge rules of template.yaml."""
    envelope = event["detail"]
    message = envelope.get("message") or {}
    alert = envelope.get("alert") or {}

    if (message.get("text") or "").startswith("/"):
        outcome = run_command(envelope, message)
    elif alert:
        outcome = note_alert(envelope, alert)
    else:
        outcome = {"action": "ignored"}

    # One JSON line per event: easy to query with CloudWatch Logs Insights.
    logger.info(json.dumps({
        "id": envelope["id"],
        "provider": envelope["provider"],
        "kind": envelope["kind"],
        "source": event.get("source"),
        **outcome,
    }, ensure_ascii=False))
    return outcome


def run_command(envelope, message):
    """A slash command such as ``/deploy api staging``: the command, its
    arguments and where to answer (``reply_handle``: what the platform's API
    needs to reply in the same conversation)."""
    words = message["text"].split()
    command, args = words[0][1:].lower(), words[1:]
    return {
        "action": "command",
        "command": command,
        "args": args,
        "chat_id": message.get("chat_id"),
        "sender_id": message.get("sender_id"),
        "reply_handle": message.get("reply_handle"),
    }


def note_alert(envelope, alert):
    """An alert notification: ``status`` is ``firing`` or ``resolved``."""
    return {
        "action": "page" if alert.get("status") == "firing" else "close",
        "alert": alert.get("name"),
        "status": alert.get("status"),
        "severity": alert.get("severity"),
        "summary": alert.get("summary"),
    }
