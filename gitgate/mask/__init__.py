"""The `mask` action: rewrite a push so a secret it carries never reaches upstream.

values.py finds what to replace and builds the marker; rewrite.py rewrites blobs, trees,
commits and tags in the quarantine; apply.py ties it to the push path (gitgate.git.receive).
"""
