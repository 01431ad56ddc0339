"""Table-driven tests of the token, time and bounds checks, independent of the reference server.

Every observation is a real :class:`Exchange` with a recorded response body, parsed by the same
``observe`` the suite uses; for each check there is an answer that passes, one that fails and
one the check does not apply to (it answers NotApplicable and leaves judging to another check).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import random
import uuid as stdlib_uuid
import zlib
from collections.abc import Callable, Iterator
from email.utils import formatdate

import pytest

from conformance import checks
from conformance.checks.registry import Outcome, findings_of
from conformance.model.exchange import ApiRequest, Exchange, RecordedResponse
from conformance.model.finding import NotApplicable
from conformance.parse.observation import Observation, observe
from conformance.spec import MAX_UPLOADS, VALID_MINUTES

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
PHOTO_ID = "123456"
_ids = itertools.count(1)
RNG = random.Random(20261207)


class _SeededSecrets:
    """The ``secrets`` calls these tables use, drawn from a seeded generator: a token-sample test
    gives the same tokens on every run (the entropy estimate is a statistic; its tests must not be)."""

    @staticmethod
    def token_bytes(n: int) -> bytes:
        return RNG.randbytes(n)

    def token_hex(self, n: int) -> str:
        return self.token_bytes(n).hex()

    def token_urlsafe(self, n: int) -> str:
        return base64.urlsafe_b64encode(self.token_bytes(n)).rstrip(b"=").decode()

    @staticmethod
    def randbelow(n: int) -> int:
        return RNG.randrange(n)


class _SeededUuid:
    @staticmethod
    def uuid4() -> stdlib_uuid.UUID:
        return stdlib_uuid.UUID(bytes=RNG.randbytes(16), version=4)


secrets, uuid = _SeededSecrets(), _SeededUuid()


@pytest.fixture(autouse=True)
def _seeded(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test draws from its own seed (its node ID), whatever ran before it or was deselected."""
    RNG.seed(zlib.crc32(request.node.nodeid.encode()))
    yield


# ------------------------------------------------------------------ building observations
def exchange(
    body: bytes | None,
    *,
    date: int | None = T0,
    started: float = T0,
    rtt: float = 0.05,
    content_type: str = "text/xml; charset=utf-8",
) -> Exchange:
    """One recorded exchange; ``body=None`` is a transport failure (no response at all)."""
    headers = [("Content-Type", content_type)]
    if date is not None:
        headers.append(("Date", formatdate(date, usegmt=True)))
    return Exchange(
        id=next(_ids),
        request=ApiRequest(params=(("photo_id", PHOTO_ID),)),
        method="GET",
        url="http://target.example/api/photo/get-replace-token",
        request_headers=[],
        request_body="",
        started_at=started,
        finished_at=started + rtt,
        response=None if body is None else RecordedResponse(200, "OK", headers, body),
        error="connection reset" if body is None else None,
    )


def success_xml(
    token: str | None = None,
    *,
    valid_until: object = T0 + 180 * 60,
    valid_minutes: object = 180,
    max_uploads: object = 1,
    photo_id: str = PHOTO_ID,
) -> bytes:
    token = secrets.token_hex(20) if token is None else token
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<response status="ok" message="Replace token created" permission_level="write" cached="0">'
        f"<replace_token>{token}</replace_token><photo_id>{photo_id}</photo_id>"
        f"<max_uploads>{max_uploads}</max_uploads><valid_minutes>{valid_minutes}</valid_minutes>"
        f"<valid_until>{valid_until}</valid_until><return_url></return_url></response>"
    ).encode()


def error_xml(code: str = "invalid_input") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<response status="error" code="{code}" message="no" permission_level="write" cached="0"/>'
    ).encode()


def ok(
    token: str | None = None, *, date: int | None = T0, started: float = T0, **fields: object
) -> Observation:
    return observe(exchange(success_xml(token, **fields), date=date, started=started), "xml")  # type: ignore[arg-type]


def err(code: str = "invalid_input") -> Observation:
    return observe(exchange(error_xml(code)), "xml")


def unparsable() -> Observation:
    return observe(exchange(b"<html><body>502 Bad Gateway</body></html>", content_type="text/html"), "xml")


def tokens_obs(tokens: list[str], date: int = T0) -> list[Observation]:
    return [ok(t, date=date, started=date) for t in tokens]


NA = "not applicable"


def verdict(outcome: Outcome) -> bool | str:
    """True: the check made findings; False: the expectation holds; NA: the check did not apply."""
    return NA if isinstance(outcome, NotApplicable) else bool(outcome)


def made_by(outcome: Outcome) -> set[str]:
    """The checks named by the findings (a composite check may report through another's name)."""
    return {f.check for f in findings_of(outcome)}


# ------------------------------------------------------------------ check_token_issued
@pytest.mark.parametrize(
    ("make", "fails"),
    [
        (lambda: ok(), False),
        (lambda: err(), True),
        (unparsable, True),
        (lambda: ok(""), True),
        (lambda: observe(exchange(None), "xml"), True),
    ],
    ids=["token", "error-answer", "html-page", "empty-token", "no-response"],
)
def test_check_token_issued(make: Callable[[], Observation], fails: bool) -> None:
    findings = checks.check_token_issued(make())
    assert bool(findings) is fails
    assert all(not f.requirement and f.severity == "error" for f in findings)
    assert made_by(findings) <= {"check_token_issued", "check_status_ok"}


# ------------------------------------------------------------------ check_valid_until
@pytest.mark.parametrize(
    ("obs", "minutes", "skew", "fails"),
    [
        (ok(valid_until=T0 + 180 * 60), 180, 0.0, False),
        (ok(valid_until=T0 + 45 * 60, valid_minutes=45), 45, 0.0, False),
        (ok(valid_until=T0 + 180 * 60 - 2, date=T0), 180, 0.0, False),  # a node 2 s behind its Date
        (ok(valid_until=T0 + 180 * 60 + 30, date=None, started=T0 + 30), 180, 0.0, False),  # local clock
        (ok(valid_until=T0 + 180 * 60 + 30, date=None, started=T0), 180, 30.0, False),  # skew corrected
        (ok(valid_until=T0 + 3600 + 180 * 60), 180, 0.0, True),  # local wall-clock time (UTC+1)
        (ok(valid_until=(T0 + 180 * 60) * 1000), 180, 0.0, True),  # milliseconds
        (ok(valid_until=T0 + 180), 180, 0.0, True),  # minutes taken as seconds
        (ok(valid_until=T0 + 180 * 60), 60, 0.0, True),  # computed from the wrong valid_minutes
        (ok(valid_until="2026-01-01T03:00:00Z"), 180, 0.0, True),  # not Unix seconds
        (ok(valid_until=T0 + 180 * 60 - 30, date=None, started=T0), 180, 0.0, True),  # 30 s behind, no Date
        (err(), 180, 0.0, NA),  # no token: check_token_issued judges that
        (unparsable(), 180, 0.0, NA),  # check_well_formed judges that
    ],
)
def test_check_valid_until(obs: Observation, minutes: int, skew: float, fails: bool | str) -> None:
    outcome = checks.check_valid_until(obs, minutes, skew)
    assert verdict(outcome) == fails, outcome
    assert made_by(outcome) <= {"check_valid_until"}


# ------------------------------------------------------------------ check_non_decreasing
def _series(*offsets: int) -> list[Observation]:
    return [ok(valid_until=T0 + 3600 + o, date=T0 + o, valid_minutes=60) for o in offsets]


@pytest.mark.parametrize(
    ("observations", "fails"),
    [
        (_series(0, 0, 1, 1, 2, 3), False),
        (_series(0, 1, -1, 2, 0, 3), False),  # a cluster whose nodes differ by up to 2 s
        (_series(0, 10, 5), False),  # exactly the 5 s tolerance
        (_series(0, 10, 4), True),  # 6 s behind the latest seen
        (_series(0, 1, -29, 2, -28), True),  # one node 30 s behind
        (_series(0, -3, -6, -9, -12), True),  # small steps back that add up
        ([*_series(0, 5), err(), unparsable(), *_series(6)], False),  # answers without a token are skipped
        ([err(), err()], NA),  # nothing to compare
        (_series(0), NA),  # a single value
    ],
)
def test_check_non_decreasing(observations: list[Observation], fails: bool | str) -> None:
    outcome = checks.check_non_decreasing(observations)
    assert verdict(outcome) == fails, outcome
    assert made_by(outcome) <= {"check_non_decreasing"}


def test_check_non_decreasing_tolerance_is_a_parameter() -> None:
    assert checks.check_non_decreasing(_series(0, -1), tolerance=0)
    assert not checks.check_non_decreasing(_series(0, -1), tolerance=1)


# ------------------------------------------------------------------ measure_skew
def _timed(date: int | None, started: float) -> Exchange:
    return exchange(error_xml(), date=date, started=started, rtt=0.2)


@pytest.mark.parametrize(
    ("exchanges", "expected"),
    [
        ([_timed(T0, T0), _timed(T0 + 1, T0 + 1)], 0.0),
        ([_timed(T0 + 10, T0), _timed(T0 + 11, T0 + 1), _timed(T0 + 12, T0 + 2)], 10.0),
        ([_timed(T0 - 120, T0)], -120.0),
        ([_timed(T0, T0), _timed(T0, T0), _timed(T0 + 500, T0)], 0.0),  # the median ignores an outlier
        ([_timed(T0 - 2, T0), _timed(T0 - 1, T0), _timed(T0, T0)], -1.0),  # a skewed cluster's spread
    ],
)
def test_measure_skew(exchanges: list[Exchange], expected: float) -> None:
    skew = checks.measure_skew(exchanges)
    assert skew is not None and abs(skew - expected) <= 1.0


def test_measure_skew_is_none_without_date_headers() -> None:
    assert checks.measure_skew([_timed(None, T0), _timed(None, T0 + 1)]) is None
    assert checks.measure_skew([]) is None
    assert checks.measure_skew([observe(exchange(None)).exchange]) is None


# ------------------------------------------------------------------ check_tokens_unique
@pytest.mark.parametrize(
    ("observations", "fails"),
    [
        (tokens_obs([secrets.token_hex(20) for _ in range(8)]), False),
        (tokens_obs(["a" * 40, "b" * 40, "a" * 40]), True),
        (tokens_obs(["A" * 32, "a" * 32]), False),  # tokens are case-sensitive
        ([err(), err(), unparsable()], NA),  # no tokens
    ],
)
def test_check_tokens_unique(observations: list[Observation], fails: bool | str) -> None:
    outcome = checks.check_tokens_unique(observations)
    assert verdict(outcome) == fails
    assert made_by(outcome) <= {"check_tokens_unique"}


# ------------------------------------------------------------------ estimate_entropy_bits
def _sample(make: Callable[[], str], n: int = 64) -> list[str]:
    return [make() for _ in range(n)]


@pytest.mark.parametrize(
    ("make", "low", "high"),
    [
        (lambda: secrets.token_hex(20), 160, 160),  # the documented shape
        (lambda: secrets.token_hex(20).upper(), 160, 160),
        (lambda: uuid.uuid4().hex, 122, 122),  # version digit fixed, variant digit 2 bits
        (lambda: str(uuid.uuid4()), 122, 122),  # dashes carry nothing and do not widen the alphabet
        (lambda: str(uuid.uuid4()).upper(), 122, 122),
        (lambda: secrets.token_urlsafe(24), 192, 192),
        (lambda: secrets.token_urlsafe(16), 128, 128),  # the last symbol carries 2 bits
        (lambda: base64.b32encode(secrets.token_bytes(20)).decode(), 160, 160),
        (lambda: str(secrets.randbelow(10**30)).zfill(30), 99, 100),
        (lambda: secrets.token_hex(4), 32, 32),
        (lambda: "tok_" + secrets.token_hex(8), 64, 64),  # a constant prefix adds nothing
    ],
    ids=[
        "hex160",
        "HEX160",
        "uuid4-hex",
        "uuid4",
        "UUID4",
        "b64url192",
        "b64url128",
        "b32",
        "dec30",
        "hex32",
        "prefixed",
    ],
)
def test_estimate_entropy_bits_judges_random_tokens_of_any_alphabet(
    make: Callable[[], str], low: float, high: float
) -> None:
    for n in (16, 64):
        bits = checks.estimate_entropy_bits(_sample(make, n))
        assert low - 2 <= bits <= high + 0.5, (n, bits)


def test_estimate_entropy_bits_of_structured_tokens_is_low() -> None:
    counters = [f"{i + 4096:040x}" for i in range(64)]
    assert checks.estimate_entropy_bits(counters) < 16
    assert checks.estimate_entropy_bits(["f" * 40] * 16) == 0.0
    assert checks.estimate_entropy_bits([secrets.token_hex(20)]) == 0.0  # not applicable: one token
    assert checks.estimate_entropy_bits([]) == 0.0


def test_token_alphabet_size_rounds_up_to_a_standard_alphabet() -> None:
    assert checks.token_alphabet_size(_sample(lambda: secrets.token_urlsafe(16), 32)) == 64
    assert checks.token_alphabet_size(_sample(lambda: str(uuid.uuid4()))) == 16
    assert checks.token_alphabet_size(["abab", "baba", "abba"]) == 2  # no standard alphabet: as seen


# ------------------------------------------------------------------ check_tokens_unpredictable
def _derived(fn: Callable[[int], str], n: int = 16) -> list[Observation]:
    return [ok(fn(i), date=T0 + i // 4, started=T0 + i // 4) for i in range(n)]


UNPREDICTABLE_CASES: list[tuple[str, Callable[[], list[Observation]], str, str | None]] = [
    ("random-hex", lambda: tokens_obs(_sample(lambda: secrets.token_hex(20))), PHOTO_ID, None),
    ("uuid4-hex", lambda: tokens_obs(_sample(lambda: uuid.uuid4().hex, 16)), PHOTO_ID, None),
    ("b64url", lambda: tokens_obs(_sample(lambda: secrets.token_urlsafe(24), 16)), PHOTO_ID, None),
    # "7" is inside nearly every random 40-hex token: chance, not derivation
    ("short-photo-id", lambda: tokens_obs(_sample(lambda: secrets.token_hex(20))), "7", None),
    ("two-digit-photo-id", lambda: tokens_obs(_sample(lambda: secrets.token_hex(20))), "42", None),
    (
        "embeds-photo-id",
        lambda: tokens_obs(_sample(lambda: PHOTO_ID + secrets.token_hex(20))),
        PHOTO_ID,
        "derived from the photo_id",
    ),
    (
        "embeds-2-digit-id",
        lambda: tokens_obs(_sample(lambda: secrets.token_hex(10) + "42" + secrets.token_hex(10))),
        "42",
        "derived from the photo_id",
    ),
    (
        "sha1-time-short-id",
        lambda: _derived(lambda i: hashlib.sha1(f"{T0 + i // 4}7".encode()).hexdigest()),
        "7",
        "derived from sha1(time + photo_id)",
    ),
    (
        "md5-photo-id",
        lambda: _derived(lambda i: hashlib.md5(f"{PHOTO_ID}{T0 + i // 4}".encode()).hexdigest()),
        PHOTO_ID,
        "derived from md5(photo_id + time)",
    ),
    (
        "hex-time-prefix",
        lambda: _derived(lambda i: format(T0 + i // 4, "x") + secrets.token_hex(16)),
        PHOTO_ID,
        "derived from the issue time",
    ),
    ("sequence", lambda: tokens_obs([f"{i + 4096:040x}" for i in range(16)]), PHOTO_ID, "form a sequence"),
    (
        "32-bit",
        lambda: tokens_obs(_sample(lambda: secrets.token_hex(4), 16)),
        PHOTO_ID,
        "estimated entropy 32 bits",
    ),
    ("too-few", lambda: tokens_obs([f"{i:040x}" for i in range(7)]), PHOTO_ID, NA),
    ("errors", lambda: [err() for _ in range(16)], PHOTO_ID, NA),
]


@pytest.mark.parametrize(
    ("make", "photo_id", "reason"),
    [c[1:] for c in UNPREDICTABLE_CASES],
    ids=[c[0] for c in UNPREDICTABLE_CASES],
)
def test_check_tokens_unpredictable(
    make: Callable[[], list[Observation]], photo_id: str, reason: str | None
) -> None:
    """``reason``: a text the finding must give (None: no finding at all; NA: too few tokens to judge)."""
    outcome = checks.check_tokens_unpredictable(make(), photo_id)
    if reason == NA:
        assert isinstance(outcome, NotApplicable), outcome
        return
    assert not isinstance(outcome, NotApplicable), outcome
    messages = [f.message for f in outcome]
    assert any(reason in m for m in messages) if reason else messages == [], messages
    assert all(f.check == "check_tokens_unpredictable" and f.severity == "error" for f in outcome)


def test_short_photo_id_is_still_found_when_chance_cannot_explain_it() -> None:
    """A 4-digit id in every token of 40 hex digits is far beyond chance (about 1 in 1800 each)."""
    obs = tokens_obs(_sample(lambda: secrets.token_hex(10) + "7777" + secrets.token_hex(10), 16))
    findings = findings_of(checks.check_tokens_unpredictable(obs, "7777"))
    assert [f for f in findings if "photo_id" in f.message]


# ------------------------------------------------------------------ check_tokens_entropy_recommended
@pytest.mark.parametrize(
    ("make", "warns"),
    [
        (lambda: tokens_obs(_sample(lambda: secrets.token_hex(20), 16)), False),
        (lambda: tokens_obs(_sample(lambda: uuid.uuid4().hex, 16)), True),  # 122 bits: the SHOULD warning
        (lambda: tokens_obs(_sample(lambda: secrets.token_hex(4), 16)), True),
        (lambda: tokens_obs(_sample(lambda: secrets.token_hex(4), 7)), NA),  # too few
        (lambda: [err() for _ in range(16)], NA),
    ],
)
def test_check_tokens_entropy_recommended(make: Callable[[], list[Observation]], warns: bool | str) -> None:
    outcome = checks.check_tokens_entropy_recommended(make())
    assert verdict(outcome) == warns
    assert all(
        f.check == "check_tokens_entropy_recommended" and f.severity == "warning"
        for f in findings_of(outcome)
    )


# ------------------------------------------------------------------ bounds and numeric fields
@pytest.mark.parametrize(
    ("obs", "fails"),
    [
        (ok(valid_minutes=VALID_MINUTES.low, max_uploads=MAX_UPLOADS.high), False),
        (ok(valid_minutes=VALID_MINUTES.high, max_uploads=MAX_UPLOADS.low), False),
        (ok(valid_minutes=14), True),
        (ok(max_uploads=0), True),
        (ok(max_uploads=101), True),
        (ok(valid_minutes="ninety"), True),
        (err(), NA),  # no token was issued
        (unparsable(), NA),
    ],
)
def test_check_within_bounds(obs: Observation, fails: bool | str) -> None:
    outcome = checks.check_within_bounds(obs)
    assert verdict(outcome) == fails
    assert made_by(outcome) <= {"check_within_bounds"}


@pytest.mark.parametrize(
    ("obs", "name", "sent", "policy", "fails"),
    [
        (ok(valid_minutes=VALID_MINUTES.high), "valid_minutes", 5000, "clamp", False),
        (ok(valid_minutes=VALID_MINUTES.low), "valid_minutes", 1, "clamp", False),
        (ok(max_uploads=MAX_UPLOADS.high), "max_uploads", MAX_UPLOADS.high + 1, "clamp", False),
        (err(), "valid_minutes", 5000, "reject", False),
        (err(), "max_uploads", 101, "either", False),
        # a rejection must be the documented one for bad input, not a signature or permission error
        (err("invalid_signature"), "valid_minutes", 5000, "reject", True),
        (err("permission_denied"), "max_uploads", 101, "either", True),
        (ok(valid_minutes=180), "valid_minutes", 5000, "clamp", True),  # fell back to the default
        (ok(max_uploads=1), "max_uploads", 101, "clamp", True),
        (err(), "valid_minutes", 5000, "clamp", True),  # refused although declared clamp
        (ok(valid_minutes=1440), "valid_minutes", 5000, "reject", True),  # accepted although declared reject
        (unparsable(), "valid_minutes", 5000, "clamp", NA),  # check_well_formed judges it
    ],
)
def test_check_bounds_policy(obs: Observation, name: str, sent: int, policy: str, fails: bool | str) -> None:
    outcome = checks.check_bounds_policy(obs, name, sent, policy)
    assert verdict(outcome) == fails
    assert made_by(outcome) <= {"check_bounds_policy", "check_numeric_field"}


@pytest.mark.parametrize(
    ("obs", "expected", "fails"),
    [
        (ok(max_uploads=3), 3, False),
        (ok(max_uploads=1), 3, True),
        (ok(max_uploads="3.0"), 3, True),
        (ok(max_uploads=""), 3, True),
        (err(), 3, NA),
    ],
)
def test_check_numeric_field(obs: Observation, expected: int, fails: bool | str) -> None:
    outcome = checks.check_numeric_field(obs, "max_uploads", expected)
    assert verdict(outcome) == fails
    assert made_by(outcome) <= {"check_numeric_field"}
