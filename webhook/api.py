"""``POST /rotations/<name>/rotate``: any tool holding ``ROTATOR_API_TOKEN``.

Body: ``{"reason": str}``. A bearer token carries no timestamp, so a copied request is a new
request; the cooldown bounds how often it can act, and a caller that retries can send an
``Idempotency-Key`` header to make its retries count once.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Blueprint, Response, request

from .common import answer, raw_body, rotations
from .rotations import REPLAY_TTL, Verdict, clean_text
from .signatures import verify_bearer

__all__ = ["bp"]

bp = Blueprint("api", __name__)
DOOR = "api"


@bp.post("/rotations/<name>/rotate")
def rotate(name: str) -> tuple[Response, int]:
    state = rotations()
    body = raw_body()
    problem = verify_bearer(state.settings.api_token or "", request.headers.get("Authorization"))
    if problem:
        return answer(DOOR, Verdict(401, "rejected", problem, "Bearer token rejected."))
    rotation = state.lookup(name)
    if rotation is None:
        verdict = Verdict(404, "rejected", "unknown_rotation", "Unknown rotation.")
        return answer(DOOR, verdict, rotation_requested=clean_text(name, 64))
    fields: dict[str, Any] = {"rotation": rotation.name}

    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        payload = None
    reason = payload.get("reason") if isinstance(payload, dict) else None
    if not isinstance(reason, str) or not reason.strip():
        verdict = Verdict(400, "rejected", "malformed", 'Send JSON {"reason": "<why>"}.')
        return answer(DOOR, verdict, **fields)

    claim: tuple[str, str] | None = None
    key = request.headers.get("Idempotency-Key", "").strip()
    if key:
        ident = hashlib.sha256(f"{rotation.name}:{key}".encode()).hexdigest()
        replay_key = f"replay:{DOOR}:{ident}"
        token = state.claim(replay_key, REPLAY_TTL[DOOR])
        if token is None:
            verdict = Verdict(200, "duplicate", "replay", "This Idempotency-Key was already used.")
            return answer(DOOR, verdict, **fields)
        claim = (replay_key, token)

    verdict = state.request(rotation, f"API: {clean_text(reason)}", fields=fields)
    if verdict.status != 202 and claim is not None:
        # Refused (cooldown): the key did nothing, so a later retry with it may still act.
        state.release(*claim)
    return answer(DOOR, verdict, **fields)
