"""The tables gitgate keeps. APPSEC: no column holds a secret value or a token, ever (the
gate's private signing keys are stored sealed only, see GateSigningKey).

Findings carry a type, a location and a short hash; tokens are known only by their ``jti``.
The schema itself is created by :mod:`gitgate.db.migrations` (never by ``create_tables`` on
these classes): a test checks that these models and the migrated schema agree.
"""

from __future__ import annotations

import peewee

from gitgate.db import db_proxy
from gitgate.db.fields import JSONField, UTCDateTimeField, utcnow

# QueuedPush.state values. "relaying" is the claimed, transient "approved" state: exactly one
# gate instance holds it and relays the stored push upstream, then calls queue.finish().
PENDING = "pending"
RELAYING = "relaying"
RELAYED = "relayed"
REJECTED = "rejected"
EXPIRED = "expired"
STALE = "stale"
FAILED = "failed"
SUPERSEDED = "superseded"  # migration 005: a later push on the same ref extends it
PUSH_STATES = (PENDING, RELAYING, RELAYED, REJECTED, EXPIRED, STALE, FAILED, SUPERSEDED)
FINISHED_STATES = frozenset({RELAYED, REJECTED, EXPIRED, STALE, FAILED, SUPERSEDED})

# SessionRecord.service values.
SERVICES = frozenset({"upload-pack", "receive-pack", "info-refs", "rest", "lfs"})

APPROVE = "approve"
REJECT = "reject"


class BaseModel(peewee.Model):
    class Meta:
        database = db_proxy


class QueuedPush(BaseModel):
    """A push held for human review; its original request body lives in PayloadChunk rows."""

    id = peewee.AutoField()  # shown to people as #42
    created_at = UTCDateTimeField(default=utcnow)
    expires_at = UTCDateTimeField()
    state = peewee.TextField(default=PENDING)
    state_reason = peewee.TextField(default="")
    decided_at = UTCDateTimeField(null=True)  # left "pending": claimed, rejected or expired
    claimed_at = UTCDateTimeField(null=True)  # when "relaying" began (see reclaim_stuck)
    repo = peewee.TextField()
    pusher_subject = peewee.TextField()
    pusher_groups = JSONField(default=list)
    rule_name = peewee.TextField(default="")
    reviewer_groups = JSONField(default=list)
    approvals_required = peewee.IntegerField(default=1)
    summary = JSONField(default=dict)
    payload_size = peewee.BigIntegerField(default=0)
    payload_sha256 = peewee.TextField(default="")
    relay_report = peewee.TextField(null=True)
    relayed_at = UTCDateTimeField(null=True)  # when finish() recorded the relay's outcome
    # migration 005: who relays a claimed push (host/boot/pidns:pid): a dead one is recognised
    claimed_by = peewee.TextField(null=True)
    superseded_by = peewee.IntegerField(null=True)  # the entry that replaced this one
    told_at = UTCDateTimeField(null=True)  # when the pusher was told how it ended

    class Meta:
        table_name = "queued_push"
        indexes = ((("state", "expires_at"), False),)  # migration 002


class PayloadChunk(BaseModel):
    """1 MiB of a queued push's request body, so any instance sharing the DB can relay it."""

    push = peewee.ForeignKeyField(QueuedPush, on_delete="CASCADE", backref="chunks")
    push_id: int  # peewee's accessor for the raw key, declared for type checkers
    seq = peewee.IntegerField()
    data = peewee.BlobField()

    class Meta:
        table_name = "payload_chunk"
        primary_key = peewee.CompositeKey("push", "seq")


class ReviewDecision(BaseModel):
    id = peewee.AutoField()
    push = peewee.ForeignKeyField(QueuedPush, on_delete="CASCADE", backref="decisions")
    push_id: int
    reviewer = peewee.TextField()
    reviewer_groups = JSONField(default=list)
    verdict = peewee.TextField()  # APPROVE | REJECT
    comment = peewee.TextField(default="")
    decided_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "review_decision"
        indexes = ((("push", "reviewer", "verdict"), True),)


class SessionRecord(BaseModel):
    """One row per request (clone, fetch, push, REST write): the audit trail."""

    id = peewee.AutoField()
    started_at = UTCDateTimeField(default=utcnow, index=True)
    duration_ms = peewee.IntegerField(default=0)
    subject = peewee.TextField(null=True)
    groups = JSONField(default=list)
    issuer = peewee.TextField(null=True)
    source_addr = peewee.TextField(null=True)
    repo = peewee.TextField(null=True)
    service = peewee.TextField()
    ref_updates = JSONField(default=list)  # [{ref, old, new}]
    decision = peewee.TextField(default="")
    verdicts = JSONField(default=list)  # [{check, ref, passed, action, reason}]
    findings = JSONField(default=list)  # [{check, ref, commit, path, line, type, hash}]
    bytes_in = peewee.BigIntegerField(default=0)
    bytes_out = peewee.BigIntegerField(default=0)
    upstream_status = peewee.IntegerField(null=True)
    error = peewee.TextField(null=True)
    queued_push = peewee.ForeignKeyField(
        QueuedPush, null=True, on_delete="SET NULL", backref="sessions"
    )
    queued_push_id: int | None
    request_id = peewee.TextField(null=True)  # migration 003: ties a record to the logs
    statuses = JSONField(default=list)  # migration 003: [{ref, status}] as the agent saw it
    events = JSONField(default=list)  # migration 005: [{event: superseded|hold, id, ...}]

    class Meta:
        table_name = "session_record"
        indexes = ((("repo", "started_at"), False),)  # migration 002


class RevokedToken(BaseModel):
    jti = peewee.TextField(primary_key=True)
    revoked_at = UTCDateTimeField(default=utcnow)
    reason = peewee.TextField(default="")

    class Meta:
        table_name = "revoked_token"


class NotificationOutbox(BaseModel):
    """Webhook events, written in the same transaction as the change they announce."""

    id = peewee.AutoField()
    event = peewee.TextField()
    payload = JSONField(default=dict)
    created_at = UTCDateTimeField(default=utcnow)
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = UTCDateTimeField(default=utcnow, index=True)
    delivered_at = UTCDateTimeField(null=True)
    last_error = peewee.TextField(null=True)

    class Meta:
        table_name = "notification_outbox"


class GateSigningKey(BaseModel):
    """The gate's token signing keys, shared by every instance (migration 004).

    The public half is plain (verification needs nothing else); the private half is sealed with
    ``auth.key_secret`` (gitgate.auth.keyseal), so this table alone cannot mint a token. The
    newest key with no ``retired_at`` signs; retired keys verify their tokens until those expire.
    """

    kid = peewee.TextField(primary_key=True)  # RFC 7638 thumbprint of the public key
    algorithm = peewee.TextField()
    public_jwk = JSONField(default=dict)
    sealed_private = peewee.TextField()
    created_at = UTCDateTimeField(default=utcnow)
    retired_at = UTCDateTimeField(null=True)

    class Meta:
        table_name = "gate_signing_key"


class MaskMap(BaseModel):
    """One object the `mask` action rewrote (migration 006): the agent's id -> upstream's.

    Kept per repo in the database so that any gate instance can translate the agent's next
    pushes (gitgate.mask.mapping). A masked blob's original content is never kept; the
    agent's own trees (names and ids) and commits whose message held no secret are, in
    `original`, because its next thin pack may deltify against them.
    `subject` is who pushed it: only that identity is shown its own tip in the advertisement.
    """

    id = peewee.AutoField()
    repo = peewee.TextField()
    kind = peewee.TextField()  # commit | tree | blob | tag
    agent_oid = peewee.TextField()
    upstream_oid = peewee.TextField()
    subject = peewee.TextField(default="")
    original = peewee.BlobField(null=True)  # type byte + raw object (trees, clean commits)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "mask_map"
        indexes = (
            (("repo", "agent_oid"), True),
            (("repo", "upstream_oid"), False),
        )


ALL_MODELS: tuple[type[BaseModel], ...] = (
    QueuedPush,
    PayloadChunk,
    ReviewDecision,
    SessionRecord,
    RevokedToken,
    NotificationOutbox,
    GateSigningKey,
    MaskMap,
)
