"""Time checks: valid_until is the issue time plus valid_minutes, and never goes backwards.

The issue time is the server's own clock, read from its Date header, or the local clock
corrected by the skew measured over the run (:func:`measure_skew`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from conformance.checks.registry import Outcome, check, fail, not_applicable, quoted
from conformance.model.exchange import Exchange
from conformance.parse.observation import Observation, server_time

MONOTONIC_TOLERANCE = 5.0
"""Seconds valid_until may step back: load-balanced nodes' clocks differ by a second or two
(the position of the catalog's TIME-MONOTONIC)."""


def measure_skew(exchanges: Iterable[Exchange]) -> float | None:
    """Server clock minus local clock (seconds), from Date headers; None when the target sends none."""
    samples = []
    for ex in exchanges:
        date = server_time(ex)
        if date is not None:
            samples.append(date + 0.5 - (ex.started_at + ex.finished_at) / 2)
    if not samples:
        return None
    samples.sort()
    return samples[len(samples) // 2]


@check("valid_until is not issue time plus valid_minutes")
def check_valid_until(obs: Observation, valid_minutes: int, skew: float) -> Outcome:
    """valid_until = issue time + valid_minutes*60, issue time read from Date (or local clock + skew)."""
    if not obs.ok:
        return not_applicable("not a success")
    ex = obs.exchange
    raw = obs.field("valid_until")
    until = obs.int_field("valid_until")
    if until is None:
        return [
            fail(
                f"valid_until {raw!r} is not integer Unix seconds",
                ex,
                "decimal digits",
                quoted(raw),
            )
        ]
    rtt = max(0.0, ex.finished_at - ex.started_at)
    date = server_time(ex)
    if date is not None:
        lo, hi = date - 2 - rtt, date + 1
        basis = f"Date header {date}"
    else:
        lo, hi = ex.started_at + skew, ex.finished_at + skew
        basis = f"local clock corrected by measured skew {skew:+.1f}s"
    tol = 5 + rtt
    issue = until - valid_minutes * 60
    if lo - tol <= issue <= hi + tol:
        return []
    return [
        fail(
            f"valid_until {until} implies issue time {issue}, {issue - (lo + hi) / 2:+.0f}s from the "
            f"server time ({basis}) for valid_minutes={valid_minutes}",
            ex,
            f"{int((lo + hi) / 2) + valid_minutes * 60} ± {tol:.0f}s",
            str(until),
        )
    ]


@check("valid_until went backwards")
def check_non_decreasing(
    observations: Sequence[Observation], tolerance: float = MONOTONIC_TOLERANCE
) -> Outcome:
    """Sequential tokens with the same valid_minutes never fall more than ``tolerance`` behind.

    Each answer is compared with the latest valid_until seen so far, so small steps back (nodes
    whose clocks differ slightly) cannot add up to a large one unnoticed.
    """
    valued = [(obs, obs.int_field("valid_until")) for obs in observations if obs.ok]
    series = [(obs, value) for obs, value in valued if value is not None]
    if len(series) < 2:
        return not_applicable("fewer than two valid_until values to compare")
    latest: int | None = None
    for obs, value in series:
        if latest is not None and value < latest - tolerance:
            return [
                fail(
                    f"valid_until went backwards by {latest - value}s: {latest} then {value} "
                    f"(tolerance {tolerance:g}s)",
                    obs.exchange,
                    f">= {latest - tolerance:.0f}",
                    str(value),
                )
            ]
        latest = value if latest is None else max(latest, value)
    return []
