"""One structured JSON line per decision.

Operators grep these lines to answer "who rotated what, and why was that request refused", so
every line carries the door, the decision and a machine-readable reason. Nothing passed here may
be a secret: callers pass identifiers (user ids, delivery ids, key hashes), never a header value,
a token or a Slack ``response_url`` (which is itself a credential for posting to the channel).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

__all__ = ["LOGGER_NAME", "configure_logging", "log_event"]

LOGGER_NAME = "openrouter_rotator.webhook"
_logger = logging.getLogger(LOGGER_NAME)


def configure_logging() -> None:
    """Send the decision lines to stderr (gunicorn's error log) unless the host configured it."""
    _logger.setLevel(logging.INFO)
    # httpx logs every request at INFO with its full URL; a Slack response_url or alert webhook
    # URL is a credential, so those lines must not appear even when a host logs INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # A host that set up logging (a root handler, or one on this logger) keeps its own choice;
    # under gunicorn neither exists, and the lines would otherwise vanish below WARNING.
    if _logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    _logger.addHandler(handler)


def log_event(event: str, **fields: Any) -> None:
    """Log ``{"event": event, "ts": ..., **fields}`` as one line (None fields are dropped)."""
    record = {"ts": round(time.time(), 3), "event": event}
    record.update({k: v for k, v in fields.items() if v is not None})
    _logger.info(json.dumps(record, sort_keys=True, default=str, ensure_ascii=False))
