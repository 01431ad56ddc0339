"""Hypothesis strategies for the get-replace-token parameter space, shared by every suite test."""

from __future__ import annotations

from hypothesis import strategies as st

from conformance.model.exchange import ApiRequest
from conformance.spec import MAX_UPLOADS, VALID_MINUTES, Bounds

# Text any conformant server can echo in both formats: all of Unicode, astral planes included, except
# what UTF-8 cannot encode (lone surrogates) and what XML 1.0 cannot carry (C0/C1 controls, U+FFFE/U+FFFF).
_XML_SAFE = st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="\ufffe\uffff")
unicode_text = st.text(_XML_SAFE, max_size=60)
printable_text = st.text(_XML_SAFE, min_size=1, max_size=60)
# Anything at all, for robustness tests only.
any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)

INJECTION_STRINGS = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "]]><x>",
    "&amp;&lt;&#0;",
    "&",
    "' OR '1'='1",
    "1; DROP TABLE tokens; --",
    "../../../../etc/passwd",
    "${jndi:ldap://x/a}",
    "{{7*7}}",
    "%00",
    "\x00",
    "\r\nSet-Cookie: x=1",
    "\u2028\u2029",
    "\ufeff",
    "😀" * 20,
    "a" * 5000,
    "",
    "0x10",
    "1e3",
    "15.0",
    " 15",
    "+15",
    "015",
    "NaN",
    "-0",
    "١٥",  # Arabic-Indic digits
)

valid_minutes_in_range = st.integers(VALID_MINUTES.low, VALID_MINUTES.high)
max_uploads_in_range = st.integers(MAX_UPLOADS.low, MAX_UPLOADS.high)

INT64_MAX = 2**63 - 1


def out_of_range(bounds: Bounds) -> st.SearchStrategy[int]:
    """Integers outside [low, high], biased to the edges, 0, negatives and 64-bit extremes."""
    lo, hi = bounds.low, bounds.high
    return st.one_of(
        st.sampled_from(
            sorted({lo - 1, hi + 1, 0, -1, -lo, 10 * hi, INT64_MAX, -INT64_MAX} - set(range(lo, hi + 1)))
        ),
        st.integers(max_value=lo - 1, min_value=-INT64_MAX),
        st.integers(min_value=hi + 1, max_value=INT64_MAX),
    )


# return_url probes are absolute http(s) URLs (IRIs where they carry Unicode, RFC 3987), so a server
# that refuses anything else with invalid_input passes every probe that is about something else.
_IRI_ASCII = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@")
# Bidirectional formatting characters: RFC 3987 (section 4.1) forbids them in IRIs.
_BIDI_FORMATTING = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _is_ucschar(c: str) -> bool:
    """RFC 3987 ucschar: the non-ASCII characters an IRI may carry (no private use, no non-characters)."""
    o = ord(c)
    if o < 0x10000:
        return 0xA0 <= o <= 0xD7FF or 0xF900 <= o <= 0xFDCF or 0xFDF0 <= o <= 0xFFEF
    return (o & 0xFFFF) <= 0xFFFD and (0x10000 <= o <= 0xDFFFF or 0xE1000 <= o <= 0xEFFFF)


def _iri_char(c: str) -> bool:
    return c in _IRI_ASCII or (_is_ucschar(c) and c not in _BIDI_FORMATTING)


# Unicode whitespace is a valid ucschar but no client sends it unencoded: left out of the probes.
_IRI_CHARS = st.characters(exclude_categories=("Cs", "Cc", "Co", "Cn", "Zs", "Zl", "Zp")).filter(_iri_char)
_NON_ASCII_IRI_CHARS = st.characters(
    min_codepoint=0xA0, exclude_categories=("Cs", "Cc", "Co", "Cn", "Zs", "Zl", "Zp")
).filter(_iri_char)
_PCT_ESCAPES = st.sampled_from(["%20", "%2F", "%25", "%26", "%3D", "%3F", "%23", "%C3%A9", "%e6%97%a5"])


def _iri_text(chars: st.SearchStrategy[str], max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    return st.lists(st.one_of(chars, _PCT_ESCAPES), min_size=min_size, max_size=max_size).map("".join)


_QUERY_PART_CHARS = _IRI_CHARS.filter(lambda c: c not in "&=")


@st.composite
def return_urls(draw: st.DrawFn, unicode: bool = False) -> str:
    """Callback URLs as clients send them: absolute http(s), with queries, fragments, Unicode (an IRI),
    percent-escapes and reserved characters. ``unicode=True`` guarantees non-ASCII characters."""
    host = draw(
        st.sampled_from(["www.example.com", "example.org:8443", "xn--bcher-kva.example", "127.0.0.1"])
    )
    segments = draw(st.lists(_iri_text(_IRI_CHARS, 12), max_size=3))
    if unicode:
        segments.append(draw(st.text(_NON_ASCII_IRI_CHARS, min_size=1, max_size=12)))
    query = draw(
        st.lists(st.tuples(_iri_text(_QUERY_PART_CHARS, 12, 1), _iri_text(_QUERY_PART_CHARS, 20)), max_size=3)
    )
    qs = "&".join(f"{k}={v}" for k, v in query)
    fragment = draw(st.one_of(st.just(""), _iri_text(st.one_of(_IRI_CHARS, st.sampled_from("/?")), 12)))
    scheme = draw(st.sampled_from(["http", "https"]))
    url = (
        f"{scheme}://{host}/"
        + "/".join(segments)
        + (f"?{qs}" if qs else "")
        + (f"#{fragment}" if fragment else "")
    )
    return url


# Pinned return_urls: every character class the documents or known defects care about, in every run
# whatever the seed (random draws add to them, never replace them). Each is a valid absolute IRI, so
# a server that validates return_url still must echo it. The first carries the reserved and escape
# classes (a literal '+' and '%2B', '&' as data ('%26'), '=' in a value, ';', '%25', a space as
# '%20' and as '+', '&amp;'-like text, a '#' fragment holding '%23'); the second non-ASCII and
# astral characters in the path, query and fragment, raw and percent-encoded.
PINNED_RETURN_URLS = (
    "https://www.example.com/cb/a+b;v=1/50%25?plus=1+2&enc=%2B&data=x%26y&eq=a=b&semi=1;2"
    "&pct=50%25&sp=a%20b&sp2=a+b&ent=&amp;&lt;x#frag%23x",
    "https://example.org:8443/ç/日本/😀?q=é&astral=𝄞😀&k=%C3%A9&e=%F0%9F%98%80#frag-ü😀",
)
# Signed requests the pinned values ride in: both methods, every signature placement, both formats.
PINNED_PLACEMENTS = (("GET", "header"), ("GET", "query"), ("POST", "body"), ("POST", "header"))


def pinned_requests(photo_id: str) -> list[ApiRequest]:
    """Every pinned return_url in both formats and every method/placement (a fixed batch)."""
    return [
        ApiRequest(
            params=(("photo_id", photo_id), ("return_url", url), *((("format", "json"),) if fmt else ())),
            http_method=method,
            placement=placement,
        )
        for url in PINNED_RETURN_URLS
        for method, placement in PINNED_PLACEMENTS
        for fmt in (False, True)
    ]


def digit_boundaries(bounds: Bounds) -> list[int]:
    """In-range values where the digit count changes (9/10, 99/100, ...) and values whose string order
    differs from their numeric order ("145" > "1440" and "99" > "1440" as strings): where a bound
    compared as text, or a parser that reads a fixed number of digits, goes wrong."""
    lo, hi = bounds.low, bounds.high
    values = {p + d for p in (10, 100, 1000, 10000) for d in (-1, 0)}
    text = str(hi)
    values |= {int(text[:k]) + d for k in range(1, len(text)) for d in (0, 1)}  # prefixes of the bound
    values |= {int("9" * k) for k in range(1, len(text))}
    return sorted(v for v in values if lo <= v <= hi)


def past_the_bounds(bounds: Bounds) -> list[int]:
    """Out-of-range values every run sends: one past each bound, zero, a negative, the digit-count
    steps beyond the bounds, a value that sorts inside the range as text ("9" > "15"; "14400" starts
    with "1440"), and the 32-bit and 64-bit edges (an INT column, a 64-bit parser)."""
    lo, hi = bounds.low, bounds.high
    candidates = {lo - 1, hi + 1, 0, -1, hi * 10, 10 ** len(str(hi)), 2**31, INT64_MAX}
    candidates |= {int("9" * k) for k in range(1, len(str(lo)) + 1)}
    return sorted(v for v in candidates if not lo <= v <= hi)


NOT_URLS = (
    "not a url",
    "www.example.com/upload/callback",
    "/upload/callback?theme=green",
    "ftp://example.com/callback",
    "javascript:alert(1)",
    "https://example.com/a b",
    "日本語のテキスト",
    "https://example.com/a?p=100%&q=%zz",  # a bare '%': not a valid URL, so echoed exactly or refused
)
"""return_url values that are not absolute http(s) URLs: echoed exactly or refused with invalid_input."""


def base_params(photo_id: str, **extra: str) -> tuple[tuple[str, str], ...]:
    return (("photo_id", photo_id), *extra.items())


@st.composite
def valid_requests(draw: st.DrawFn, photo_id: str, fmt: str | None = None) -> ApiRequest:
    """Well-formed signed requests with every documented parameter optional."""
    params: list[tuple[str, str]] = [("photo_id", photo_id)]
    if draw(st.booleans()):
        params.append(("valid_minutes", str(draw(valid_minutes_in_range))))
    if draw(st.booleans()):
        params.append(("max_uploads", str(draw(max_uploads_in_range))))
    if draw(st.booleans()):
        params.append(("return_url", draw(return_urls())))
    if draw(st.booleans()):
        params.append(("background_return_p", draw(st.sampled_from(["0", "1"]))))
    if fmt:
        params.append(("format", fmt))
    order = draw(st.permutations(params))
    method = draw(st.sampled_from(["GET", "POST"]))
    placement = draw(st.sampled_from(["header", "query" if method == "GET" else "body"]))
    return ApiRequest(params=tuple(order), http_method=method, placement=placement)


_PARAM_NAMES = (
    "photo_id",
    "valid_minutes",
    "max_uploads",
    "return_url",
    "background_return_p",
    "format",
    "raw",
    "varname",
    "callback",
)


@st.composite
def hostile_requests(draw: st.DrawFn, photo_id: str) -> ApiRequest:
    """Anything at all: odd types, lengths, Unicode, injection strings and repeated keys."""
    values = st.one_of(
        st.sampled_from(INJECTION_STRINGS),
        any_text,
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.just(photo_id),
    )
    keys = st.one_of(st.sampled_from(_PARAM_NAMES), printable_text)
    pairs = draw(st.lists(st.tuples(keys, values), max_size=6))
    if draw(st.booleans()):
        pairs.insert(0, ("photo_id", photo_id))
    method = draw(st.sampled_from(["GET", "POST"]))
    return ApiRequest(params=tuple(pairs), http_method=method, placement="header")
