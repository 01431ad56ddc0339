"""Detection must not depend on the seed: the pinned examples cover every class, and every test carries them.

A defect that changes only some inputs is caught under every seed only when an input of its class
is sent in every run. These tests pin what the suite always sends (the character classes of
return_url, the number classes of valid_minutes and max_uploads) and that the suite tests it
matters to carry them; benchmarks/bench_seeds.py measures the result across seeds.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.reference import ReferenceServer, ReferenceSettings
from conformance.spec import MAX_UPLOADS, VALID_MINUTES, Bounds
from conformance.suite import strategies, test_format, test_params, test_response, test_time_token
from conformance.suite.budget import BUDGETS
from conformance.suite.strategies import PINNED_PLACEMENTS, PINNED_RETURN_URLS, pinned_requests
from tests.reference_helpers import PHOTO_ID, get_token, js, xml

# The classes the documents and known defects care about: (what, present in some pinned URL).
RETURN_URL_CLASSES = {
    "a literal '+'": lambda u: "+" in u,
    "'%2B'": lambda u: "%2B" in u,
    "'&' as data ('%26')": lambda u: "%26" in u,
    "'=' inside a value": lambda u: "eq=a=b" in u,
    "a '#' fragment": lambda u: "#" in u,
    "'%' as '%25'": lambda u: "%25" in u,
    "';'": lambda u: ";" in u,
    "a space as '%20'": lambda u: "%20" in u,
    "a space as '+' in the query": lambda u: "sp2=a+b" in u,
    "'&amp;'-like text": lambda u: "&amp;" in u,
    "non-ASCII": lambda u: any(0x80 <= ord(c) < 0x10000 for c in u),
    "astral characters": lambda u: any(ord(c) >= 0x10000 for c in u),
    "UTF-8 percent-encoded": lambda u: "%C3%A9" in u,
}


@pytest.mark.parametrize("name", list(RETURN_URL_CLASSES))
def test_every_return_url_class_is_pinned(name: str) -> None:
    assert any(RETURN_URL_CLASSES[name](u) for u in PINNED_RETURN_URLS), name


def test_pinned_requests_cover_both_formats_and_every_placement() -> None:
    reqs = pinned_requests("1")
    seen = {(r.param("return_url"), r.http_method, r.placement, r.param("format")) for r in reqs}
    assert seen == {
        (u, m, p, f) for u in PINNED_RETURN_URLS for m, p in PINNED_PLACEMENTS for f in (None, "json")
    }
    assert {p for _, p in PINNED_PLACEMENTS} == {"header", "query", "body"}


def _explicit(fn: Any) -> list[dict[str, Any]]:
    return [e.kwargs for e in fn.hypothesis_explicit_examples]


def test_the_property_tests_carry_the_pinned_examples() -> None:
    """Random draws add to the pinned examples (Hypothesis always runs @example first), never replace them."""
    success = _explicit(test_response.test_success_carries_documented_fields)
    assert {"reqs": pinned_requests("PHOTO")} in success
    unicode = _explicit(test_format.test_unicode_round_trips)
    assert any({u for u, _ in e["batch"]} == set(PINNED_RETURN_URLS) for e in unicode)
    agree = _explicit(test_format.test_xml_and_json_carry_the_same_values)
    assert any({r.param("return_url") for r in e["reqs"]} == set(PINNED_RETURN_URLS) for e in agree)
    minutes = _explicit(test_time_token.test_valid_until_is_issue_time_plus_minutes)
    sent = {m for e in minutes for m in e["minutes"]}
    assert set(strategies.digit_boundaries(VALID_MINUTES)) | {VALID_MINUTES.high} <= sent
    assert {e["fmt"] for e in minutes} == {"xml", "json"}


def test_number_classes() -> None:
    """Bounds, just past them, digit-count steps, and values whose text order differs from numeric order."""
    vm, mu = strategies.digit_boundaries(VALID_MINUTES), strategies.digit_boundaries(MAX_UPLOADS)
    assert {15, 99, 100, 144, 145, 999, 1000} <= set(vm)  # "145" and "99" sort after "1440" as text
    assert {1, 9, 10, 99, 100} <= set(mu)  # "9" sorts after "100" as text
    past_vm = set(strategies.past_the_bounds(VALID_MINUTES))
    past_mu = set(strategies.past_the_bounds(MAX_UPLOADS))
    assert {14, 1441, 0, -1, 9, 10000, 14400, 2**31, strategies.INT64_MAX} <= past_vm  # "9" > "15"
    assert {0, 101, -1, 1000, 2**31, strategies.INT64_MAX} <= past_mu
    pinned_past = set(test_params.JUST_PAST_THE_BOUNDS)
    assert {("valid_minutes", v) for v in past_vm} | {("max_uploads", v) for v in past_mu} == pinned_past


@pytest.mark.parametrize("profile", list(BUDGETS))
@pytest.mark.parametrize("bounds", [VALID_MINUTES, MAX_UPLOADS], ids=["valid_minutes", "max_uploads"])
def test_every_sweep_sends_the_pinned_values(profile: str, bounds: Bounds) -> None:
    """Edges, hours, the default's neighbours and digit-count steps under every seed, plus exactly
    the profile's sample of others (every value under thorough)."""
    values = list(range(bounds.low, bounds.high + 1))
    pinned = strategies.digit_boundaries(bounds)
    always = {*values[:3], *values[-3:], *(v for v in values if v % 60 == 0), *pinned}
    share = BUDGETS[profile].sweep_sample
    for seed in (1, 2, 3):
        swept = test_params.sweep_values(values, share, seed, pinned)
        assert always <= set(swept) and len(set(swept)) == len(swept)
        expected = len(values) if share is None else len(always | ({179, 181} & set(values))) + share
        assert len(swept) == expected


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_a_strict_server_echoes_every_pinned_return_url(fmt: str) -> None:
    """Each pinned URL is a valid absolute IRI: a server that validates return_url still echoes it."""
    extra = {"format": "json"} if fmt == "json" else {}
    with ReferenceServer(ReferenceSettings(variant="return_url_validated")) as server:
        for url in PINNED_RETURN_URLS:
            resp = get_token(server, {"photo_id": PHOTO_ID, "return_url": url, **extra})
            if fmt == "xml":
                assert xml(resp).findtext("return_url") == url
            else:
                assert js(resp)[2]["replacetoken"]["return_url"] == url
