"""Spend carry-over: a rotation must not reset the spending cap.

OpenRouter's limits are per key. A key capped at L a month and rotated mid-month would be
replaced by a key with a fresh L while the old key stays live through its grace period, so the
month's real cap would become 2 L and more. With carry-over (the default), the new key is
created with ``max(0, L - S)``, S being what the keys it replaces spent in the current window
(BYOK included when include-BYOK-in-limit is on; all time when the limit never resets), in
whole cents rounded down. While older keys are live, every run lowers the active key's limit
by what they spent since; the first run after the window's reset gives it L again.

Windows are OpenRouter's: UTC days, weeks from Monday, calendar months; the spend of a key in
the current window is its ``usage_daily`` / ``usage_weekly`` / ``usage_monthly``. A revoked
key's spend can no longer be read, so its last reading is kept in the state
(``CarryOver.spent_gone``) until the window ends.

Everything here is pure; the engine reads the spends and applies the limit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any

from .config import KeySpec
from .state import CarryOver, State, iso

if TYPE_CHECKING:  # the CLI renders carry-over before it loads httpx
    from .openrouter import Usage


def spend_in_window(usage: Usage, include_byok: bool) -> float:
    """What a key spent in its limit's current window, as the limit counts it."""
    spent = usage.window_usage
    if include_byok:
        spent += usage.window_byok
    return spent


def cents_down(value: Decimal) -> float:
    """Whole cents, rounded down, never below zero."""
    return float(max(Decimal(0), value.quantize(Decimal("0.01"), rounding=ROUND_FLOOR)))


def applies(spec: KeySpec, enabled: bool) -> bool:
    return enabled and spec.limit is not None


def carry(
    spec: KeySpec,
    record: CarryOver | None,
    key_hash: str,
    live_spend: float,
    now: datetime,
) -> CarryOver:
    """The limit the key ``key_hash`` gets: L minus what older keys spent in this window.

    ``live_spend`` is what the older keys that still exist spent in the window (read now);
    ``record`` is the carry-over so far, whose ``spent_gone`` counts while its window lasts.
    """
    from .openrouter import window_reset  # here: rendering a carry-over needs no httpx

    if spec.limit is None:  # pragma: no cover - callers check applies() first
        raise ValueError("carry-over needs a limit")
    gone = 0.0
    if record is not None and record.limit_reset == spec.limit_reset:
        if record.resets_at is None or now < record.resets_at:
            gone = record.spent_gone
    left = Decimal(str(spec.limit)) - Decimal(str(live_spend)) - Decimal(str(gone))
    return CarryOver(
        key_hash=key_hash,
        limit=spec.limit,
        limit_now=cents_down(left),
        limit_reset=spec.limit_reset,
        resets_at=window_reset(spec.limit_reset, now),
        spent_gone=gone,
    )


def after_revoke(record: CarryOver, revoked_spend: float) -> CarryOver:
    """Keys revoked in this run: their last reading stays counted until the window ends."""
    return replace(record, spent_gone=record.spent_gone + revoked_spend)


def settled(record: CarryOver | None, state: State) -> CarryOver | None:
    """None once there is nothing left to carry: no older key live, the full limit given."""
    if record is None:
        return None
    if not state.retiring and record.spent_gone == 0 and record.limit_now == record.limit:
        return None
    return record


def restores_at(record: CarryOver | None) -> datetime | None:
    """When the active key gets its full limit back (the schedule must run then)."""
    if record is None or record.limit_now >= record.limit:
        return None
    return record.resets_at


def to_json(record: CarryOver | None) -> dict[str, Any] | None:
    """``status --json``'s ``carry_over``: the active key's cap now, and when L is back."""
    if record is None:
        return None
    return {"limit_now": record.limit_now, "restores_at": iso(restores_at(record))}


def describe(record: CarryOver | None) -> str | None:
    """One line for people: the cap now, why, and when the full limit is back."""
    if record is None:
        return None
    carried = record.limit - record.limit_now
    window = {"daily": "today", "weekly": "this week", "monthly": "this month"}.get(
        record.limit_reset or "", "so far"
    )
    text = f"${record.limit_now:,.2f} of ${record.limit:,.2f}"
    if carried > 0:
        text += f" (older keys of this rotation spent ${carried:,.2f} {window})"
    back = restores_at(record)
    if back is not None:
        text += f"; ${record.limit:,.2f} again from {iso(back)}"
    elif carried > 0 and record.resets_at is None:
        text += "; the limit never resets, so the cap stays shared"
    return text


@dataclass(frozen=True)
class CarryPlan:
    """What a run does about carry-over, decided before it changes anything.

    ``spends``: the window spend read for each older key (kept for the ones revoked later in
    the run). ``record``: the carry-over after this run's rotation or refresh (None: none).
    ``patch``: the limit to set on the active key now (None: leave it).
    """

    record: CarryOver | None
    spends: dict[str, float]
    patch: float | None = None

    @property
    def new_key_limit(self) -> float | None:
        return self.record.limit_now if self.record is not None else None

    @property
    def restores(self) -> bool:
        """The patch gives the active key its full limit back (the window reset, or off)."""
        return self.patch is not None and (self.record is None or self.patch >= self.record.limit)


def why_patch(plan: CarryPlan) -> str:
    """Why a run with nothing else to do changes the active key's limit."""
    if plan.record is None:
        return "spend carry-over is off: the active key gets its configured limit back"
    if plan.restores:
        return "the limit's window has reset: the active key gets its full limit back"
    return "carrying older keys' spend over to the active key's limit"
