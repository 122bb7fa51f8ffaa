"""Audit as typed events: one `RequestEvent` per request, rendered in one place each.

Every request the gate answers (clone, fetch, push, API call, LFS refusal) ends in one
RequestEvent. Resources do not build records themselves: they note what they learn on the
request's `gitgate.audit.recording.Audit`, which writes the event once (see there). This package is
the schema and its renderings, so a session row, the `gitgate.request` log line and the
metrics cannot drift apart:

- :func:`row` - the SessionRecord columns (gitgate.store.sessions)
- :func:`log_fields` - the structured fields of the one log line per request
- :func:`push_fields` - the push part of an event, from a push's outcome (gitgate.git.receive)
- gitgate.audit.webhooks.webhook_payload - a queued push's life, or a break-glass push, as
  the webhook gitgate.audit.notify delivers

APPSEC: ref names that carry a secret are replaced by markers in the push part before it
reaches any rendering (gitgate.checks.withheld), and nothing here holds a body or a token.
"""

from gitgate.audit.events import (
    EventFields,
    Identified,
    JsonObject,
    Recorder,
    RequestEvent,
    Who,
    log_fields,
    log_message,
    queued_push,
    row,
)
from gitgate.audit.push import push_decision, push_fields, ref_updates

__all__ = [
    "EventFields",
    "Identified",
    "JsonObject",
    "Recorder",
    "RequestEvent",
    "Who",
    "log_fields",
    "log_message",
    "push_decision",
    "push_fields",
    "queued_push",
    "ref_updates",
    "row",
]
