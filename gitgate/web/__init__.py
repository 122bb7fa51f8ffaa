"""The reviewer's web page (`/-/review`), server-rendered by the gate itself.

Routes are added by :func:`gitgate.web.routes.add_routes`; this package's import stays light
(no Jinja) because :mod:`gitgate.web.links` is used by the queue and the CLI too.
"""
