"""Gunicorn settings for the webhook::

    gunicorn -c python:webhook.gunicorn_conf 'webhook:create_app()'

Every setting can still be overridden on the command line (``--workers 4``) or with
``GUNICORN_CMD_ARGS``.

Why ``gthread`` and not gunicorn's default ``sync`` worker: a sync worker serves one connection
at a time, from accept to the last byte, so a client that connects and sends nothing, or
trickles its request a byte at a time, holds the whole worker; a handful of such connections
take every worker and Slack's 3-second deadline is missed for everyone. A ``gthread`` worker
parks a connection in its poller until the request starts arriving (an idle client costs a
socket, not a thread; gunicorn gives a thread 5 s to get data before parking the connection
again) and serves requests from a pool of ``threads``, so one slow client holds one thread of
``workers x threads``. ``timeout`` is the heartbeat after which the master replaces a stuck
worker. Behind a buffering proxy (nginx, a cloud load balancer) trickling clients never reach
gunicorn at all; in front of the Internet directly, raise ``threads``.
"""

from __future__ import annotations

import os

wsgi_app = "webhook:create_app()"
bind = os.environ.get("ROTATOR_WEBHOOK_BIND", "127.0.0.1:8000")
workers = 2
worker_class = "gthread"
threads = 8
# gthread keeps idle kept-alive connections in its poller, not in a thread: allow many.
worker_connections = 1000
keepalive = 5
timeout = 30
# On SIGTERM a worker finishes the requests and the job in hand; the rest of the backlog stays
# in the store for the next start (or another instance).
graceful_timeout = 25
