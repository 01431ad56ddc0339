"""Format checks: the JSON wrapper a client asked for, and XML and JSON answers that agree."""

from __future__ import annotations

import re

from conformance.checks.registry import Outcome, check, fail, not_applicable, quoted
from conformance.model.finding import Finding, shown
from conformance.parse.observation import Observation

AGREEING_FIELDS = ("photo_id", "max_uploads", "valid_minutes", "return_url")
AGREEING_ATTRIBUTES = ("status", "permission_level", "cached")
"""What an XML and a JSON answer to the same request share (the token and issue time differ)."""


@check("JSON not in the wrapper asked for")
def check_json_wrapper(obs: Observation, wrapper: str, name: str | None) -> Outcome:
    """The JSON body is wrapped as asked: var NAME = ...; / NAME(...); / bare; errors as much as successes.

    A client reads every answer through the wrapper it asked for: a JSONP error in 'var visual' is
    never seen. (A name that is not an identifier may be refused in the default wrapper: callers
    judge such names with check_name_not_reflected instead.)
    """
    if obs.parsed is None or obs.parsed.format != "json":
        return not_applicable("not a JSON answer")
    got_wrapper, got_name = obs.parsed.wrapper, obs.parsed.wrapper_name
    if got_wrapper == wrapper and (name is None or got_name == name):
        return []
    want = {"var": f"var {name} = {{...}};", "callback": f"{name}({{...}});", "raw": "{...}"}[wrapper]
    seen = {"var": f"var {got_name} = ...", "callback": f"{got_name}(...)", "raw": "bare JSON"}.get(
        got_wrapper, shown(got_wrapper)
    )
    return [fail(f"JSON wrapper is {seen}, expected {want}", obs.exchange, want, seen)]


@check("XML and JSON answers disagree")
def check_formats_agree(xml: Observation, json_: Observation) -> Outcome:
    """XML and JSON answers to the same request carry the same values (token and issue time aside).

    Each finding carries the JSON exchange and, as ``related``, the XML one: the report shows both.
    """
    if not (xml.ok and json_.ok):
        return not_applicable("not two successes")
    findings: list[Finding] = []
    pairs = [(n, xml.field(n) or "", json_.field(n) or "") for n in AGREEING_FIELDS]
    pairs += [(n, xml.attr(n), json_.attr(n)) for n in AGREEING_ATTRIBUTES]
    for name, a, b in pairs:
        if a != b:
            findings.append(
                fail(
                    f"{name} differs: XML {a!r}, JSON {b!r}",
                    json_.exchange,
                    f"XML and JSON equal ({quoted(a)})",
                    quoted(b),
                    related=xml.exchange,
                )
            )
    ua, ub = xml.int_field("valid_until"), json_.int_field("valid_until")
    if ua is not None and ub is not None:
        gap = abs(json_.exchange.finished_at - xml.exchange.started_at) + 5
        if abs(ua - ub) > gap:
            findings.append(
                fail(
                    f"valid_until differs by {abs(ua - ub)}s between formats",
                    json_.exchange,
                    f"within {gap:.0f}s of {ua}",
                    str(ub),
                    related=xml.exchange,
                )
            )
    return findings


_CHARSET = re.compile(r""";\s*charset\s*=\s*["']?([^"';\s]+)""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([^"']+)["']""")
_UTF8_NAMES = ("utf-8", "utf8")


@check("answer labelled with another charset than UTF-8")
def check_utf8_label(obs: Observation) -> Outcome:
    """Every label of the answer's encoding says UTF-8: the Content-Type's charset and an XML
    declaration's encoding, each when present (without them UTF-8 is XML's and JSON's default).

    The documents promise UTF-8 out (index.md, Requests); a client decodes by the label first, so a
    UTF-8 body labelled ISO-8859-1 reaches it as mojibake even though the bytes are right.
    """
    resp = obs.exchange.response
    if resp is None:
        return not_applicable("no response")
    labels = []
    charset = _CHARSET.search(resp.header("Content-Type") or "")
    if charset:
        labels.append(("Content-Type charset", charset.group(1)))
    declared = _XML_ENCODING.match(resp.body.lstrip(b"\xef\xbb\xbf"))
    if declared:
        labels.append(("XML declaration encoding", declared.group(1).decode("ascii", "replace")))
    return [
        fail(
            f"the {where} says {value!r}: a client decodes the UTF-8 answer as something else",
            obs.exchange,
            "UTF-8 (or no label)",
            value,
        )
        for where, value in labels
        if value.strip().lower() not in _UTF8_NAMES
    ]
