"""Gunicorn settings for the webhook::

    gunicorn -c python:webhook.gunicorn_conf 'webhook:create_app()'

Every setting can still be overridden on the command line (``--workers 4``) or with
``GUNICORN_CMD_ARGS``.

Why ``gevent`` and not gunicorn's default ``sync`` worker, nor ``gthread``: a sync worker serves
one connection at a time, from accept to the last byte, so a client that connects and sends
nothing, or trickles its request a byte at a time, holds the whole worker; two such connections
take both workers and Slack's 3-second deadline is missed for everyone. ``gthread`` only moves
the problem to its thread pool: a new connection waits up to 5 s in a thread for its first
byte, and a trickling request holds its thread for as long as it trickles (64 idle connections
and 4 tricklers stalled 2 x 8 threads for over 10 s in our test). A ``gevent`` worker serves
each connection in a greenlet: a slow client costs a socket and a little memory, up to
``worker_connections`` per worker, and every other request is served meanwhile. The webhook's
own work is I/O (SQLite or Redis, GitHub, Slack), which gevent's patched sockets interleave.
``timeout`` is the heartbeat after which the master replaces a stuck worker.
"""

from __future__ import annotations

import os

wsgi_app = "webhook:create_app()"
bind = os.environ.get("ROTATOR_WEBHOOK_BIND", "127.0.0.1:8000")
workers = 2
worker_class = "gevent"
# Connections (slow ones included) each worker holds at once.
worker_connections = 1000
keepalive = 5
timeout = 30
# On SIGTERM a worker finishes the requests and the job in hand; the rest of the backlog stays
# in the store for the next start (or another instance).
graceful_timeout = 25


def on_starting(server: object) -> None:
    """Check the configuration once, in the master, before any worker is forked: a missing secret
    or a typo in the file is one line on stderr and exit code 2, not a traceback from every
    worker followed by gunicorn's "Worker failed to boot"."""
    import sys

    from openrouter_rotator.errors import ConfigError
    from webhook.config import load_settings

    try:
        load_settings()
    except ConfigError as exc:
        print(f"openrouter-rotator webhook: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
