"""FORMAT: XML by default, JSON in its three wrappers, UTF-8, and safe JSONP."""

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conformance import checks
from conformance.model.exchange import ApiRequest
from conformance.spec import DEFAULT_VARNAME, INPUT_REFUSAL
from conformance.suite import strategies
from conformance.suite.api import Api, requirement
from conformance.suite.budget import EXAMPLE_BATCH


@requirement("FORMAT-XML-DEFAULT")
@pytest.mark.parametrize("explicit", [False, True], ids=["no-format", "format=xml"])
def test_xml_is_the_default_and_valid(api: Api, explicit: bool) -> None:
    """Without format (or with format=xml) the answer is schema-valid XML."""
    obs = api.call(api.request(**({"format": "xml"} if explicit else {})), "xml")
    api.expect(checks.check_api_response(obs, "xml"), checks.check_status_ok(obs))


def _expect_wrapped(api: Api, wrapper: str, cases: list[tuple[dict[str, str], str | None]]) -> None:
    """format=json with the given extra parameters, each case wrapped as asked (sent concurrently).

    Each case is also sent unsigned and without photo_id: an error comes in the wrapper the client
    asked for as much as a token does, or a JSONP client never sees it.
    """
    signed = [api.request(format="json", **params) for params, _ in cases]
    # The tokens first: a target that fails every JSON request is told once, not three times over.
    for obs, (_, name) in zip(api.call_many(signed), cases, strict=True):
        api.expect(
            checks.check_api_response(obs, "json"),
            checks.check_json_wrapper(obs, wrapper, name),
            checks.check_status_ok(obs),
        )
    errors = [q for req in signed for q in (req.but(auth=None), req.with_params(photo_id=None))]
    for i, obs in enumerate(api.call_many(errors)):
        name = cases[i // 2][1]
        api.expect(checks.check_api_response(obs, "json"), checks.check_json_wrapper(obs, wrapper, name))


@requirement("FORMAT-JSON-VAR")
def test_json_is_var_visual(api: Api) -> None:
    """format=json assigns the answer to the documented default variable, var visual = {...};."""
    _expect_wrapped(api, "var", [({}, DEFAULT_VARNAME)])


@requirement("FORMAT-JSON-VARNAME")
def test_varname_renames_the_variable(api: Api) -> None:
    """varname=NAME assigns the JSON answer to NAME instead of visual."""
    names = ["tags", "myVar_2", "$x"]
    _expect_wrapped(api, "var", [({"varname": n}, n) for n in names])


@requirement("FORMAT-JSON-RAW")
def test_raw_gives_bare_json(api: Api) -> None:
    """A bare raw parameter gives unwrapped JSON."""
    _expect_wrapped(api, "raw", [({"raw": ""}, None)])


@requirement("FORMAT-JSONP")
def test_callback_gives_jsonp(api: Api) -> None:
    """callback=NAME wraps the JSON answer in a JSONP call NAME({...})."""
    names = ["updateTags", "cb_123", "jQuery1124_99"]
    _expect_wrapped(api, "callback", [({"callback": n}, n) for n in names])


@requirement("FORMAT-XML-JSON-AGREE")
@given(reqs=st.lists(strategies.valid_requests("PHOTO"), min_size=1, max_size=EXAMPLE_BATCH // 2))
@example(reqs=strategies.pinned_requests("PHOTO")[::4])  # each pinned return_url, GET and POST
def test_xml_and_json_carry_the_same_values(api: Api, reqs: list[ApiRequest]) -> None:
    """The same request in XML and in JSON: the same terms, the same echo, the same envelope."""
    reqs = [q.with_params(photo_id=api.config.photo_id, format=None) for q in reqs]
    observed = api.call_many([q for req in reqs for q in (req, req.with_params(format="json"))])
    for xml, json_ in zip(observed[::2], observed[1::2], strict=True):
        api.expect(
            checks.check_api_response(xml, "xml"),
            checks.check_api_response(json_, "json"),
            checks.check_status_ok(xml),
            checks.check_status_ok(json_),
        )
        api.expect(checks.check_formats_agree(xml, json_))


@requirement("FORMAT-UTF8")
@given(
    batch=st.lists(
        st.tuples(strategies.return_urls(unicode=True), st.sampled_from(["xml", "json"])),
        min_size=1,
        max_size=EXAMPLE_BATCH,
    )
)
@example(batch=[(url, fmt) for url in strategies.PINNED_RETURN_URLS for fmt in ("xml", "json")])
def test_unicode_round_trips(api: Api, batch: list[tuple[str, str]]) -> None:
    """Unicode inside valid URLs (IRIs) in every part; each example is a batch sent concurrently."""
    reqs = [
        api.request(return_url=url, **({"format": "json"} if fmt == "json" else {})) for url, fmt in batch
    ]
    for (_, fmt), req, obs in zip(batch, reqs, api.call_many(reqs), strict=True):
        api.expect(
            checks.check_api_response(obs, fmt),
            checks.check_status_ok(obs),
            checks.check_echo(obs, req),
        )


@requirement("FORMAT-UTF8")
@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_astral_and_combining_characters_round_trip(api: Api, fmt: str) -> None:
    """Astral, combining and non-ASCII characters in return_url come back unchanged (UTF-8 in and out)."""
    req = api.request(
        return_url="https://example.com/ç/日本?q=😀&e=é&z=\u200d",
        **({"format": "json"} if fmt == "json" else {}),
    )
    obs = api.call(req)
    api.expect(checks.check_api_response(obs, fmt), checks.check_status_ok(obs), checks.check_echo(obs, req))


NOT_IDENTIFIERS = [
    "alert(1);//",
    "<script>alert(1)</script>",
    "a b",
    "1abc",
    "x=1;y",
    "a-b",
    "cb()",
    "\u2028x",
    "/*",
    "constructor[0]",
    "eval('1')",
]


@requirement("FORMAT-CALLBACK-SAFE")
@given(
    batch=st.lists(
        st.tuples(
            st.one_of(
                st.sampled_from(NOT_IDENTIFIERS),
                st.text(min_size=1, max_size=30).filter(lambda s: not checks.is_js_name(s)),
            ),
            st.sampled_from(["callback", "varname"]),
        ),
        min_size=1,
        max_size=EXAMPLE_BATCH,
    )
)
# Both parameters in every run, whatever the draws.
@example(batch=[("alert(1);//", "callback"), ("a b", "varname")])
def test_non_identifier_names_are_never_reflected(api: Api, batch: list[tuple[str, str]]) -> None:
    """Each example is a batch of independent requests, sent concurrently."""
    names = [
        "alert(1)" if "\x00" in name or any(0xD800 <= ord(c) <= 0xDFFF for c in name) else name
        for name, _ in batch
    ]
    reqs = [
        api.request(format="json", **{param: name}) for name, (_, param) in zip(names, batch, strict=True)
    ]
    for name, obs in zip(names, api.call_many(reqs), strict=True):
        api.expect(
            checks.check_api_response(obs, None),  # refused or ignored: either way a documented answer
            checks.check_name_not_reflected(obs, name),
            checks.check_refused_as(obs, INPUT_REFUSAL),  # a refusal is one of the name as input
        )
