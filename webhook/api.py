"""``POST /rotations/<name>/rotate`` and ``GET /rotations/<name>/requests/<id>``: any tool
holding ``ROTATOR_API_TOKEN``.

Body: ``{"reason": str}``. The answer is 202 ``{"request_id", "status_url"}`` once the request is
stored; the status URL (same Bearer) answers ``{"status": "accepted"|"dispatched"|"failed",
"run_url", "error"}``. A bearer token carries no timestamp, so a copied request is a new
request; the cooldown bounds how often it can act, and a caller that retries sends an
``Idempotency-Key`` header: a retry with the same key gets the first request's id back.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

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

    request_id = state.new_request_id()
    claims: tuple[tuple[str, str], ...] = ()
    key = request.headers.get("Idempotency-Key", "").strip()
    if key:
        ident = hashlib.sha256(f"{rotation.name}:{key}".encode()).hexdigest()
        replay_key = f"replay:{DOOR}:{ident}"
        if state.claim(replay_key, REPLAY_TTL[DOOR], token=request_id) is None:
            first = state.store.holder(replay_key)
            verdict = Verdict(
                200, "duplicate", "replay", "This Idempotency-Key was already used.", first
            )
            return answer(DOOR, verdict, _accepted_body(verdict, rotation.name), **fields)
        claims = ((replay_key, request_id),)

    verdict = state.request(
        rotation,
        f"API: {clean_text(reason)}",
        reply={"to": "api"},
        claims=claims,
        fields=fields,
        request_id=request_id,
    )
    if verdict.status != 202:
        # Refused (cooldown, no store): the key did nothing, so a later retry with it may act.
        for claim in claims:
            state.release(*claim)
        return answer(DOOR, verdict, **fields)
    return answer(
        DOOR, verdict, _accepted_body(verdict, rotation.name), request_id=request_id, **fields
    )


def _accepted_body(verdict: Verdict, rotation: str) -> dict[str, Any]:
    request_id = verdict.request_id
    status_url = (
        url_for("api.request_status", name=rotation, request_id=request_id, _external=True)
        if request_id
        else None
    )
    return verdict.body(request_id=request_id, status_url=status_url)


@bp.get("/rotations/<name>/requests/<request_id>")
def request_status(name: str, request_id: str) -> tuple[Response, int]:
    state = rotations()
    problem = verify_bearer(state.settings.api_token or "", request.headers.get("Authorization"))
    if problem:
        return answer(DOOR, Verdict(401, "rejected", problem, "Bearer token rejected."))
    status = state.store.status(request_id[:64])
    if status is None or status.rotation != name:
        return answer(DOOR, Verdict(404, "rejected", "unknown_request", "Unknown request."))
    body = {"status": status.status, "run_url": status.run_url, "error": status.error}
    return jsonify(body), 200
