"""How much randomness a sample of tokens shows, and how likely chance explains a pattern in them.

Statistics only, no findings: the token checks (:mod:`conformance.checks.tokens`) decide what
is weak enough to report. The estimate must not underestimate a uniform token of any standard
alphabet from a small sample, or a strong target would be failed.
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence

STANDARD_ALPHABETS = tuple(
    sorted(
        {
            "0123456789",
            "0123456789abcdef",
            "0123456789ABCDEF",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",  # base32 (RFC 4648)
            "abcdefghijklmnopqrstuvwxyz234567",
            "0123456789ABCDEFGHIJKLMNOPQRSTUV",  # base32hex
            "0123456789abcdefghijklmnopqrstuv",
            "0123456789ABCDEFGHJKMNPQRSTVWXYZ",  # Crockford base32 (ULID)
            "0123456789abcdefghijklmnopqrstuvwxyz",
            "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            string.ascii_letters + string.digits,
            string.ascii_letters + string.digits + "-_",  # base64url
            string.ascii_letters + string.digits + "+/",  # base64
        },
        key=lambda a: (len(a), a),
    )
)
"""The alphabets tokens are commonly drawn from, smallest first."""
FILLED_SHARE = 0.75
"""The share of a standard alphabet a sample must show to be taken as drawn from all of it."""


def token_alphabet_size(tokens: Sequence[str]) -> int:
    """How many symbols one random token position can take, judged from a sample.

    Only positions that vary count (a UUID's dashes and version digit say nothing about the
    alphabet). The symbols seen are rounded up to a standard alphabet (hex, base32, base64url...)
    of either case when they fill at least three quarters of it: a small sample of random
    base64url tokens rarely shows all 64 symbols, and must not be taken for a weaker alphabet.
    """
    if not tokens:
        return 0
    length = min(len(t) for t in tokens)
    varying = [p for p in range(length) if len({t[p] for t in tokens}) > 1]
    seen = {t[p] for t in tokens for p in varying} | {c for t in tokens for c in t[length:]}
    for alphabet in STANDARD_ALPHABETS:
        if seen <= set(alphabet) and len(seen) >= FILLED_SHARE * len(alphabet):
            return len(alphabet)
    return len(seen)


def estimate_entropy_bits(tokens: Sequence[str]) -> float:
    """Positional entropy estimate: log2(alphabet) for each position that varies like random data would.

    A position counts fully only when the sample shows at least half the distinct symbols that
    uniform random draws would; otherwise it counts log2 of the symbols it does show (a UUID4's
    variant digit, one of four, gives 2 bits; its fixed version digit 0). This does not
    underestimate a uniform token of any standard alphabet (unlike a plug-in Shannon estimate on
    a small sample).
    """
    if len(tokens) < 2:
        return 0.0
    size = token_alphabet_size(tokens)
    if size < 2:
        return 0.0
    n = len(tokens)
    length = min(len(t) for t in tokens)
    expected_distinct = size * (1 - (1 - 1 / size) ** n)
    bits = 0.0
    for pos in range(length):
        distinct = len({t[pos] for t in tokens})
        bits += (
            math.log2(size)
            if distinct >= expected_distinct / 2
            else math.log2(distinct)
            if distinct > 1
            else 0
        )
    return bits


def chance_of_substring(token_len: int, text_len: int, alphabet: int, candidates: int = 1) -> float:
    """Probability that a uniform random token contains one of ``candidates`` given strings by chance."""
    places = token_len - text_len + 1
    if places <= 0 or alphabet < 2:
        return 0.0
    return min(1.0, candidates * places * float(alphabet) ** -text_len)


def binomial_tail(n: int, k: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if p <= 0.0:
        return 0.0 if k > 0 else 1.0
    if p >= 1.0:
        return 1.0
    return min(1.0, sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1)))
