"""PARAMS: defaults, every in-range value honoured, out-of-range values per the declared policy."""

import random
from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from conformance import checks
from conformance.spec import MAX_UPLOADS, VALID_MINUTES, Bounds
from conformance.suite import strategies
from conformance.suite.api import Api, requirement
from conformance.suite.budget import EXAMPLE_BATCH


def _expect_default(api: Api, name: str, default: int) -> None:
    """An omitted parameter takes its documented default, in XML and in JSON."""
    for obs in api.call_many([api.request(), api.request(format="json")]):
        api.expect(
            checks.check_api_response(obs, None),
            checks.check_status_ok(obs),
            checks.check_numeric_field(obs, name, default),
        )


@requirement("PARAMS-VALID-MINUTES-DEFAULT")
def test_valid_minutes_defaults_to_180(api: Api) -> None:
    """Without valid_minutes a token is valid for the documented default, 180 minutes."""
    _expect_default(api, "valid_minutes", VALID_MINUTES.default)


@requirement("PARAMS-MAX-UPLOADS-DEFAULT")
def test_max_uploads_defaults_to_1(api: Api) -> None:
    """Without max_uploads a token allows the documented default, one upload."""
    _expect_default(api, "max_uploads", MAX_UPLOADS.default)


def sweep_values(values: list[int], share: int | None, seed: int, pinned: Sequence[int] = ()) -> list[int]:
    """Which in-range values to send: all when ``share`` is None (thorough); else the pinned classes
    (every edge, the hours, the default's neighbours and ``pinned``) plus ``share`` seeded others.

    Off-by-one and unit bugs live at the edges and round numbers, text-compared bounds and fixed-width
    parsers at the digit-count steps (``pinned``): those go out in every run, whatever the seed. The
    seeded sample covers the rest (a new seed samples differently, so repeated runs sweep the whole
    range over time); it is drawn from the values not pinned, so a run sends exactly ``share`` more.
    """
    if share is None:
        return values
    kept = {*values[:3], *values[-3:], *(v for v in values if v % 60 == 0 or v in (179, 181))}
    kept |= set(pinned) & set(values)
    rest = [v for v in values if v not in kept]
    return sorted(kept | set(random.Random(seed).sample(rest, min(share, len(rest)))))


def _sweep(api: Api, name: str, bounds: Bounds) -> None:
    values = list(range(bounds.low, bounds.high + 1))
    values = sweep_values(
        values, api.budget.sweep_sample, api.state.seed, strategies.digit_boundaries(bounds)
    )
    reqs = [api.request(**{name: str(v)}) for v in values]
    for value, obs in zip(values, api.call_many(reqs), strict=True):
        api.expect(
            checks.check_api_response(obs, "xml"),
            checks.check_status_ok(obs),
            checks.check_numeric_field(obs, name, value),
        )


@requirement("PARAMS-VALID-MINUTES-RANGE")
def test_every_valid_minutes_value_is_honoured(api: Api) -> None:
    """valid_minutes 15..1440: every value under --settings thorough, edges plus a seeded sample otherwise."""
    _sweep(api, "valid_minutes", VALID_MINUTES)


@requirement("PARAMS-MAX-UPLOADS-RANGE")
def test_every_max_uploads_value_is_honoured(api: Api) -> None:
    """max_uploads 1..100: every value under --settings thorough, edges plus a seeded sample otherwise."""
    _sweep(api, "max_uploads", MAX_UPLOADS)


def _expect_declared_policy(api: Api, values: list[tuple[str, int]]) -> None:
    """Send each (parameter, out-of-range value) concurrently; judge clamp/reject against bounds_policy."""
    reqs = [api.request(**{name: str(value)}) for name, value in values]
    for (name, value), obs in zip(values, api.call_many(reqs), strict=True):
        api.expect(
            checks.check_api_response(obs, "xml"),
            checks.check_within_bounds(obs),
            checks.check_bounds_policy(obs, name, value, api.config.bounds_policy),
        )


@requirement("PARAMS-OUT-OF-RANGE")
@given(
    batch=st.lists(
        st.one_of(
            st.tuples(st.just("valid_minutes"), strategies.out_of_range(VALID_MINUTES)),
            st.tuples(st.just("max_uploads"), strategies.out_of_range(MAX_UPLOADS)),
        ),
        min_size=1,
        max_size=EXAMPLE_BATCH,
    )
)
def test_out_of_range_follows_declared_policy(api: Api, batch: list[tuple[str, int]]) -> None:
    """Beyond a bound: clamp or reject as bounds_policy declares; never a token outside the bounds."""
    _expect_declared_policy(api, batch)


JUST_PAST_THE_BOUNDS = [
    *(("valid_minutes", v) for v in strategies.past_the_bounds(VALID_MINUTES)),
    *(("max_uploads", v) for v in strategies.past_the_bounds(MAX_UPLOADS)),
]


@requirement("PARAMS-OUT-OF-RANGE")
def test_just_past_each_bound_follows_declared_policy(api: Api) -> None:
    """One step past each bound, zero, a negative, the digit-count steps, values that sort inside the
    range as text, and the 32-/64-bit edges: in every run whatever the seed or example budget.

    The property test draws from the whole out-of-range space; these fixed values are where
    off-by-one, unenforced and text-compared bounds and overflowing columns show.
    """
    _expect_declared_policy(api, JUST_PAST_THE_BOUNDS)
