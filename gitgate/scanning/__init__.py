"""Secret scanning, with detect-secrets 1.5.0 kept behind this one small API.

    with SecretScanner(workers=2) as scanner:
        hits = scanner.scan([(blob_id, "src/app.py", data)], budget_s=30)

`hits[blob_id]` lists SecretHit(type, line, secret_hash): never the secret's value. Modules:
`scanner` (parent side: cache, pool, budget), `engine` (worker side: detect-secrets settings),
`prefilter` and `hints` (which lines detect-secrets needs to see at all).
"""

from gitgate.scanning.model import ScanAborted, ScanError, ScanTimeout, SecretHit
from gitgate.scanning.scanner import SecretScanner

__all__ = ["ScanAborted", "ScanError", "ScanTimeout", "SecretHit", "SecretScanner"]
