"""Git's side of the gate: smart HTTP in and out.

`routes` (the falcon resources for info/refs, upload-pack, receive-pack), `wire` (every
parse/format pair of git's wire format), `spool` (a push request read whole, bounded),
`receive` (one push in git's steps: unpack, inspect, carry out, report), `relay` (the accepted
commands re-encoded for upstream), `mirror` and its upkeep (`mirrorpacks`, `warmstore`,
`earlyfetch`, `reftips`), `messages` (the `remote:` lines an agent reads), `inband` and `lfs`
(errors said in the client's own channel). What is inspected and decided is transport-neutral
and lives in gitgate.inspection, gitgate.checks, gitgate.gate and gitgate.policy.
"""
