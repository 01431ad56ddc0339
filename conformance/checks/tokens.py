"""Token checks: a token issued where one is due, never twice, and not guessable.

Unpredictability is judged on a sample: no sequence, no photo_id or issue time inside the
tokens (or a known hash of them) beyond what chance explains, and enough estimated entropy.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Sequence

from conformance.checks.entropy import (
    binomial_tail,
    chance_of_substring,
    estimate_entropy_bits,
    token_alphabet_size,
)
from conformance.checks.envelope import check_status_ok
from conformance.checks.registry import Outcome, check, fail, findings_of, not_applicable, quoted
from conformance.model.exchange import Exchange
from conformance.model.finding import Finding, shown
from conformance.parse.observation import Observation, server_time

MIN_ENTROPY_BITS = 64.0
"""The MUST floor of estimated entropy, OWASP's minimum for session identifiers (the position
of the catalog's TOKEN-UNPREDICTABLE)."""
RECOMMENDED_ENTROPY_BITS = 128.0
"""Below this a token passes TOKEN-UNPREDICTABLE but gets a TOKEN-ENTROPY-128 warning (that
entry's position)."""
CHANCE_LEVEL = 1e-6
"""A derivation is reported only when chance would show it in that many tokens less often than
this (TOKEN-UNPREDICTABLE's position: a short photo_id sits inside random tokens by chance)."""
MIN_SAMPLE = 8
"""Fewer tokens than this say nothing about predictability: the checks do not apply."""

_DERIVATIONS: dict[str, Callable[[str], str]] = {
    "md5": lambda s: hashlib.md5(s.encode()).hexdigest(),
    "sha1": lambda s: hashlib.sha1(s.encode()).hexdigest(),
    "sha256": lambda s: hashlib.sha256(s.encode()).hexdigest(),
}


def _issued(observations: Sequence[Observation]) -> list[tuple[Observation, str]]:
    """The successes that carry a token, with their token."""
    return [(o, o.field("replace_token") or "") for o in observations if o.ok and o.field("replace_token")]


@check("replace_token issued twice")
def check_tokens_unique(observations: Sequence[Observation]) -> Outcome:
    """No token in the sample is issued twice."""
    issued = _issued(observations)
    if len(issued) < 2:
        return not_applicable("fewer than two tokens to compare")
    seen: set[str] = set()
    for obs, token in issued:
        if token in seen:
            return [
                fail(
                    f"replace_token {token!r} was issued twice",
                    obs.exchange,
                    "a fresh token per call",
                    token,
                )
            ]
        seen.add(token)
    return []


@check("no token issued")
def check_token_issued(obs: Observation) -> list[Finding]:
    """The answer a token test reasons about: a parsed success that carries a replace_token.

    Tests that judge tokens call this first, so an error (or unparsable) answer can never pass
    them by carrying no token to judge.
    """
    if obs.parsed is None:
        return [
            fail(
                f"no API answer to judge: {obs.parse_error}",
                obs.exchange,
                'status="ok" with a replace_token',
                shown(obs.parse_error),
            )
        ]
    if not obs.ok:
        return findings_of(check_status_ok(obs))
    if obs.field("replace_token"):
        return []
    return [
        fail(
            "a success without a replace_token",
            obs.exchange,
            "a non-empty replace_token",
            quoted(obs.field("replace_token")),
        )
    ]


@check("tokens are predictable")
def check_tokens_unpredictable(
    observations: Sequence[Observation], photo_id: str, min_bits: float = MIN_ENTROPY_BITS
) -> Outcome:
    """No sequence, no embedded photo_id or time, no known hash of them, and enough estimated entropy."""
    pairs = _issued(observations)
    if len(pairs) < MIN_SAMPLE:
        return not_applicable(f"fewer than {MIN_SAMPLE} tokens")
    tokens = [t for _, t in pairs]
    first = pairs[0][0].exchange
    return [
        *_sequence_findings(tokens, first),
        *_derivation_findings(pairs, photo_id),
        *_entropy_findings(tokens, first, min_bits),
    ]


def _sequence_findings(tokens: list[str], first: Exchange) -> list[Finding]:
    """Tokens read as numbers (hex or decimal) sit close together once sorted (counters,
    timestamps); this holds whatever order concurrent requests were issued in."""
    for base in (10, 16):
        try:
            values = sorted(int(t, base) for t in tokens)
        except ValueError:
            continue
        steps = [b - a for a, b in itertools.pairwise(values)]
        small = sum(1 for d in steps if d < 2**32)
        if small >= len(steps) // 2:
            message = (
                f"tokens form a sequence (base {base}: {small} of {len(steps)} gaps between "
                "sorted tokens are below 2^32)"
            )
            return [
                fail(
                    message,
                    first,
                    "independent random tokens",
                    ", ".join(tokens[:4]),
                )
            ]
    return []


def _derivation_findings(pairs: list[tuple[Observation, str]], photo_id: str) -> list[Finding]:
    """Structure shared with photo_id or the issue time: flagged only when most tokens show it AND
    chance would not (a short photo_id such as "7" sits inside most random hex tokens)."""
    alphabet = token_alphabet_size([t for _, t in pairs])
    hits: dict[str, list[tuple[Exchange, str, float]]] = {}
    for obs, token in pairs:
        for kind, text, candidates in _derivation(obs.exchange, token, photo_id):
            p = chance_of_substring(len(token), len(text), alphabet, candidates)
            hits.setdefault(kind, []).append((obs.exchange, token, p))
    findings = []
    for kind, found in hits.items():
        chance = max(p for _, _, p in found)
        if (
            len(found) >= max(2, len(pairs) // 2)
            and binomial_tail(len(pairs), len(found), chance) < CHANCE_LEVEL
        ):
            message = (
                f"{len(found)} of {len(pairs)} tokens are derived from {kind} "
                f"(chance would explain {len(pairs) * chance:.2g})"
            )
            expected = "tokens independent of photo_id and time"
            findings.append(fail(message, found[0][0], expected, found[0][1]))
    return findings


def _entropy_findings(tokens: list[str], first: Exchange, min_bits: float) -> list[Finding]:
    """Too few estimated bits for the MUST floor."""
    bits = estimate_entropy_bits(tokens)
    if bits >= min_bits:
        return []
    message = f"estimated entropy {bits:.0f} bits from {len(tokens)} tokens, below {min_bits:.0f}"
    observed = f"{bits:.0f} bits; e.g. {tokens[0]!r}"
    return [fail(message, first, f">= {min_bits:.0f} bits", observed)]


@check("token entropy below the recommended 128 bits")
def check_tokens_entropy_recommended(
    observations: Sequence[Observation], min_bits: float = RECOMMENDED_ENTROPY_BITS
) -> Outcome:
    """SHOULD: at least 128 estimated bits, else a warning (the MUST floor is TOKEN-UNPREDICTABLE)."""
    tokens = [t for _, t in _issued(observations)]
    if len(tokens) < MIN_SAMPLE:
        return not_applicable(f"fewer than {MIN_SAMPLE} tokens")
    bits = estimate_entropy_bits(tokens)
    if bits >= min_bits:
        return []
    return [
        fail(
            f"estimated entropy {bits:.0f} bits from {len(tokens)} tokens, below the recommended "
            f"{min_bits:.0f}",
            observations[0].exchange,
            f">= {min_bits:.0f} bits",
            f"{bits:.0f} bits; e.g. {tokens[0]!r}",
            severity="warning",
        )
    ]


def _derivation(ex: Exchange, token: str, photo_id: str) -> list[tuple[str, str, int]]:
    """Every known weak construction a token matches: (kind, the text found, candidates tried).

    The photo_id or the issue time inside the token, or an md5/sha1/sha256 hex digest of them.
    Whether a plain match means anything is for the caller to judge against chance.
    """
    moments = {str(int(t)) for t in (ex.started_at, ex.finished_at)}
    date = server_time(ex)
    if date is not None:
        moments |= {str(date + d) for d in range(-2, 3)}
    lowered = token.lower()
    found: list[tuple[str, str, int]] = []
    if photo_id and photo_id in token:
        found.append(("the photo_id", photo_id, 1))
    for m in sorted(moments):
        text = m if m in token else format(int(m), "x") if format(int(m), "x") in lowered else None
        if text:
            found.append(("the issue time", text, 2 * len(moments)))
            break
    candidates = [("photo_id", photo_id)]
    for m in sorted(moments):
        candidates += [
            ("time", m),
            ("photo_id + time", f"{photo_id}{m}"),
            ("time + photo_id", f"{m}{photo_id}"),
        ]
    for label, c in candidates:
        for name, fn in _DERIVATIONS.items():
            digest = fn(c)
            if digest in lowered:
                found.append((f"{name}({label})", digest, 1))
                return found
    return found
