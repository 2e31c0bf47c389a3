"""The chat-ops webhook: Slack, GitHub comments, a bearer API and usage alerts -> rotations.

``create_app()`` is the Flask application factory (``gunicorn 'webhook:create_app()'``). With no
argument it reads the TOML file named by ``ROTATOR_WEBHOOK_CONFIG`` and the secrets from the
environment, and refuses to start (``ConfigError``) when something an enabled endpoint needs is
missing. Tests pass a mapping, the way Flask's tutorial does; besides Flask settings it may hold

- ``ROTATOR_SETTINGS``: a :class:`~webhook.config.WebhookSettings` (skips the file and env),
- ``ROTATOR_ENV``: the environment mapping to read instead of ``os.environ``,
- ``ROTATOR_GITHUB``: a ``repository -> client`` factory (default:
  :class:`~webhook.github_api.WebhookGitHub`),
- ``ROTATOR_STORE``: a :class:`~webhook.store.Store` (default: SQLite in the app's instance
  folder or ``[store] path``, or Redis with ``redis_url``),
- ``ROTATOR_CLOCK``: a ``() -> unix seconds`` callable,
- ``ROTATOR_DRAIN_THREAD``: False to leave the queue to :meth:`Rotations.wait` (tests).

Every process that builds the app also drains the queue of accepted requests
(:mod:`webhook.worker`): with gunicorn, each worker.

Each door is a blueprint; endpoints left out of ``[webhook] endpoints`` are not registered.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from .common import EXTENSION, answer
from .config import DEFAULT_STORE_NAME, WebhookSettings, load_settings
from .logs import configure_logging, log_event
from .replies import make_reply
from .rotations import Background, Rotations, Verdict, default_github_factory
from .store import RedisStore, SQLiteStore, Store, check_redis_persistence
from .worker import Worker

__all__ = ["MAX_BODY", "create_app"]

# SPEC §6: bodies over 64 KiB are refused with 413. Slack commands, GitHub comment events and
# alerts are far smaller; anything bigger is a mistake or an attack.
MAX_BODY = 64 * 1024


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the webhook app. See the module docstring for ``config``."""
    config = dict(config or {})
    configure_logging()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.config.update({k: v for k, v in config.items() if not k.startswith("ROTATOR_")})

    settings: WebhookSettings = config.get("ROTATOR_SETTINGS") or load_settings(
        config.get("ROTATOR_ENV")
    )
    clock = config.get("ROTATOR_CLOCK") or time.time
    store: Store = config.get("ROTATOR_STORE") or _open_store(settings, app.instance_path)
    github = config.get("ROTATOR_GITHUB") or default_github_factory(settings)
    worker = Worker(
        store,
        settings,
        github,
        make_reply(github, settings.slack_alert_webhook_url),
        clock=clock,
    )
    app.extensions[EXTENSION] = Rotations(
        settings=settings,
        store=store,
        github=github,
        background=Background(),
        clock=clock,
        worker=worker,
    )
    if config.get("ROTATOR_DRAIN_THREAD", True):
        worker.start()

    from . import alerts, api, github_events, slack

    doors = {"slack": slack.bp, "github": github_events.bp, "api": api.bp, "alerts": alerts.bp}
    for name, blueprint in doors.items():
        if name in settings.endpoints:
            app.register_blueprint(blueprint)

    @app.before_request
    def bound_unsized_body() -> tuple[Response, int] | None:
        # A chunked body has no Content-Length, and werkzeug then stops reading at
        # MAX_CONTENT_LENGTH without a word: the door would see a truncated body. Read one byte
        # past the limit here, refuse like a sized body, and hand the rest a sized copy.
        environ = request.environ
        if request.content_length is not None or request.method in ("GET", "HEAD"):
            return None
        data = environ["wsgi.input"].read(MAX_BODY + 1)
        if len(data) > MAX_BODY:
            return answer("http", Verdict(413, "rejected", "too_large", "Body over 64 KiB."))
        environ["wsgi.input"] = io.BytesIO(data)
        environ["CONTENT_LENGTH"] = str(len(data))
        return None

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        # Load balancers need "can this instance take requests", which includes its store.
        try:
            store.ping()
        except Exception:  # noqa: BLE001 - any store failure is "unhealthy", not a 500
            return jsonify({"status": "unhealthy", "store": "not writable"}), 503
        return jsonify({"status": "ok", "rotations": sorted(settings.rotations)}), 200

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int]:
        status = error.code or 500
        reason = {413: "too_large", 404: "not_found", 405: "method_not_allowed"}.get(
            status, "bad_request"
        )
        message = "Body over 64 KiB." if status == 413 else (error.name or "Error")
        return answer("http", Verdict(status, "rejected", reason, message))

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[Response, int]:
        # Logged by type only: the text of an unexpected error could quote a header or secret.
        log_event("webhook.error", error=type(error).__name__)
        return jsonify({"status": "error", "message": "internal error"}), 500

    log_event(
        "webhook.start",
        rotations=sorted(settings.rotations),
        endpoints=sorted(settings.endpoints),
        store="redis" if settings.redis_url else "sqlite",
        github_auth="app" if settings.github_app_id else "token",
    )
    return app


def _open_store(settings: WebhookSettings, instance_path: str) -> Store:
    if settings.redis_url:
        import redis

        try:
            persistence = check_redis_persistence(settings.redis_url)
        except (redis.ConnectionError, redis.TimeoutError):
            # A worker that boots while Redis restarts must not take the server down with it
            # (gunicorn stops when a worker fails to boot): /healthz says 503 meanwhile, and the
            # check runs before the first job is kept.
            log_event("webhook.store", store="redis", persistence="unchecked: Redis unreachable")
            return RedisStore(settings.redis_url, check_persistence=True)
        log_event("webhook.store", store="redis", persistence=persistence)
        return RedisStore(settings.redis_url)
    # Never the current directory: gunicorn's may be anything, and read-only.
    path = settings.store_path or os.path.join(instance_path, DEFAULT_STORE_NAME)
    return SQLiteStore(path)
