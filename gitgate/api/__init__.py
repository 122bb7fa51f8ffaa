"""The GitHub API side of the gate: `/api/v3/...` (REST) and `/api/graphql`, GHES-style.

Agents that write through the API must meet the same policy as a push: every request is
classified (unknown means refused), content writes are rebuilt as objects in a quarantine and
inspected by the push checks, and everything else is relayed with the gate's credential and
URLs rewritten to point at the gate.
"""
