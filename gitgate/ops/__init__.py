"""Running the gate as a service: its own faults said as such, and its upkeep.

`shutdown` (SIGTERM stops in-flight work cleanly), `diskfull` (a full data dir is the gate's
fault, never the agent's), `maintenance` (background upkeep: outbox, mirror packs, purge),
`gunicorn_hooks` (worker boot and exit under gunicorn).
"""
