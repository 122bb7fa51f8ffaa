"""Durable state behind the gate, one module per concern, all on :data:`gitgate.db.db_proxy`.

- :mod:`.sessions`: the audit trail, one record per request; export and retention.
- :mod:`.queue`: pushes held for review, their stored bodies, and the approval state machine.
- :mod:`.revocations`: revoked token ids.
- :mod:`.outbox`: webhook events waiting to be delivered.

Every function opens (and closes) a connection when the calling thread has none, and every
read-then-write runs in :func:`gitgate.db.write_transaction`, so the stores are safe to call
from many threads and from several gate processes sharing one PostgreSQL database.
APPSEC: nothing here stores a secret value or a token.
"""
