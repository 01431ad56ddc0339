"""Parameter checks: the value sent (or the default) honoured, and the documented bounds kept."""

from __future__ import annotations

from conformance.checks.registry import Outcome, check, fail, not_applicable, quoted
from conformance.model.finding import Finding
from conformance.parse.observation import Observation
from conformance.spec import BOUNDED_PARAMS, INPUT_REFUSAL


@check("numeric field has the wrong value")
def check_numeric_field(obs: Observation, name: str, expected: int) -> Outcome:
    """A success carries ``name`` as exactly ``expected`` (plain decimal digits)."""
    if not obs.ok:
        return not_applicable("not a success")
    got = obs.field(name)
    if obs.int_field(name) == expected:
        return []
    return [
        fail(
            f"{name} is {got!r}, expected {expected}",
            obs.exchange,
            str(expected),
            quoted(got),
        )
    ]


@check("token issued outside the documented bounds")
def check_within_bounds(obs: Observation) -> Outcome:
    """No token is ever issued with valid_minutes or max_uploads outside the documented bounds."""
    if not obs.ok:
        return not_applicable("not a success")
    findings: list[Finding] = []
    for name, (lo, hi, _) in BOUNDED_PARAMS.items():
        value = obs.int_field(name)
        if value is None or not lo <= value <= hi:
            findings.append(
                fail(
                    f"token issued with {name}={obs.field(name)!r}, outside {lo}..{hi}",
                    obs.exchange,
                    f"{lo}..{hi}",
                    quoted(obs.field(name)),
                )
            )
    return findings


@check("out-of-range value not handled as declared")
def check_bounds_policy(obs: Observation, name: str, sent: int, policy: str) -> Outcome:
    """An out-of-range value is clamped to the nearest bound or rejected, as the vendor declared.

    A clamped value that is not the nearest bound is check_numeric_field's finding.
    """
    lo, hi, _ = BOUNDED_PARAMS[name]
    nearest = lo if sent < lo else hi
    if obs.parsed is None:
        return not_applicable("no parsed answer (check_well_formed)")
    if obs.parsed.status == "error":
        code = obs.attr("code")
        if policy != "clamp" and code in INPUT_REFUSAL:
            return []
        if policy != "clamp":  # a rejection, but not the one the documents give for bad input
            return [
                fail(
                    f"{name}={sent} was rejected with {quoted(code)}, not as malformed input",
                    obs.exchange,
                    f"an error with code {' or '.join(sorted(INPUT_REFUSAL))}",
                    f"error {quoted(code)}",
                )
            ]
        return [
            fail(
                f"{name}={sent} was rejected, but bounds_policy is 'clamp'",
                obs.exchange,
                f"a token with {name}={nearest}",
                f"error {quoted(obs.attr('code'))}",
            )
        ]
    if policy == "reject":
        return [
            fail(
                f"{name}={sent} was accepted, but bounds_policy is 'reject'",
                obs.exchange,
                "an error",
                f"a token with {name}={quoted(obs.field(name))}",
            )
        ]
    return check_numeric_field(obs, name, nearest)
