"""Migration 001: the first schema, frozen.

A migration must create the same tables forever, whatever :mod:`gitgate.db.models` looks like
later; so this is a copy of the models as they were, with plain column types. Never edit it:
add a migration instead (and the matching change to models.py).
"""

from __future__ import annotations

import peewee


def build_models(db: peewee.Database) -> list[type[peewee.Model]]:
    """The 001 tables, bound to ``db``. Built per call: no shared class state between threads."""

    class Base(peewee.Model):
        class Meta:
            database = db

    class QueuedPush(Base):
        id = peewee.AutoField()
        created_at = peewee.DateTimeField()
        expires_at = peewee.DateTimeField()
        state = peewee.TextField()
        state_reason = peewee.TextField()
        decided_at = peewee.DateTimeField(null=True)
        claimed_at = peewee.DateTimeField(null=True)
        repo = peewee.TextField()
        pusher_subject = peewee.TextField()
        pusher_groups = peewee.TextField()
        rule_name = peewee.TextField()
        reviewer_groups = peewee.TextField()
        approvals_required = peewee.IntegerField()
        summary = peewee.TextField()
        payload_size = peewee.BigIntegerField()
        payload_sha256 = peewee.TextField()
        relay_report = peewee.TextField(null=True)
        relayed_at = peewee.DateTimeField(null=True)

        class Meta:
            table_name = "queued_push"

    class PayloadChunk(Base):
        push = peewee.ForeignKeyField(QueuedPush, on_delete="CASCADE")
        seq = peewee.IntegerField()
        data = peewee.BlobField()

        class Meta:
            table_name = "payload_chunk"
            primary_key = peewee.CompositeKey("push", "seq")

    class ReviewDecision(Base):
        push = peewee.ForeignKeyField(QueuedPush, on_delete="CASCADE")
        reviewer = peewee.TextField()
        reviewer_groups = peewee.TextField()
        verdict = peewee.TextField()
        comment = peewee.TextField()
        decided_at = peewee.DateTimeField()

        class Meta:
            table_name = "review_decision"
            indexes = ((("push", "reviewer", "verdict"), True),)

    class SessionRecord(Base):
        id = peewee.AutoField()
        started_at = peewee.DateTimeField(index=True)
        duration_ms = peewee.IntegerField()
        subject = peewee.TextField(null=True)
        groups = peewee.TextField()
        issuer = peewee.TextField(null=True)
        source_addr = peewee.TextField(null=True)
        repo = peewee.TextField(null=True)
        service = peewee.TextField()
        ref_updates = peewee.TextField()
        decision = peewee.TextField()
        verdicts = peewee.TextField()
        findings = peewee.TextField()
        bytes_in = peewee.BigIntegerField()
        bytes_out = peewee.BigIntegerField()
        upstream_status = peewee.IntegerField(null=True)
        error = peewee.TextField(null=True)
        queued_push = peewee.ForeignKeyField(QueuedPush, null=True, on_delete="SET NULL")

        class Meta:
            table_name = "session_record"

    class RevokedToken(Base):
        jti = peewee.TextField(primary_key=True)
        revoked_at = peewee.DateTimeField()
        reason = peewee.TextField()

        class Meta:
            table_name = "revoked_token"

    class NotificationOutbox(Base):
        id = peewee.AutoField()
        event = peewee.TextField()
        payload = peewee.TextField()
        created_at = peewee.DateTimeField()
        attempts = peewee.IntegerField()
        next_attempt_at = peewee.DateTimeField(index=True)
        delivered_at = peewee.DateTimeField(null=True)
        last_error = peewee.TextField(null=True)

        class Meta:
            table_name = "notification_outbox"

    return [
        QueuedPush,
        PayloadChunk,
        ReviewDecision,
        SessionRecord,
        RevokedToken,
        NotificationOutbox,
    ]
