"""The gate's one way to GitHub: HTTP with the gate's own credential.

`http` (pooled keep-alive connections, streamed bodies, upstream's faults as UpstreamError),
`credential` (a static token or a GitHub App installation token, refreshed before it expires;
agents never see it).
"""
