"""Errors the stores raise. Refusals that a person should read (a reviewer approving their
own push) are not errors: they come back as outcomes with a message."""

from __future__ import annotations


class StoreError(Exception):
    """Base class for gitgate.store errors."""


class UnknownPush(StoreError, LookupError):
    """No queued push has that id."""

    def __init__(self, push_id: int) -> None:
        super().__init__(f"no queued push #{push_id}")
        self.push_id = push_id


class InvalidTransition(StoreError):
    """The push is not in a state that allows this step (e.g. finish() when not relaying)."""


class PayloadUnavailable(StoreError):
    """The stored push body is missing (purged) or does not match its recorded sha256."""
