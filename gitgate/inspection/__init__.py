"""From a pack to one inspected `Push`: what a write changes, in the shape every check reads.

`unpack` (the pack into a quarantine whose alternates are the mirror, size limits from the
object headers first: `packlimits`), `push` (the Push: new commits, changed paths, new blobs,
forced or not), `history` (all changed paths of a push from one `git diff-tree` run). The REST
side builds the same `Push` from an API write (gitgate.api.objects).
"""
