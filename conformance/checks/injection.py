"""Injection checks: a callback or varname that is not a JavaScript name is never emitted as script."""

from __future__ import annotations

import bisect
import re

from conformance.checks.registry import Outcome, check, fail, not_applicable
from conformance.parse.observation import Observation

SHORTEST_JUDGED = 3
"""Names shorter than this occur in bodies by chance and cannot carry a script: not judged."""
_JSON_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')


def is_js_name(name: str) -> bool:
    """A JavaScript identifier path, such a name is safe to reflect.

    Wider than :data:`conformance.spec.JS_NAME_RE` on purpose: JavaScript allows Unicode letters
    in identifiers, and reflecting one is as safe as reflecting an ASCII one; only a name that
    could be script is judged.
    """
    return bool(name) and all(part.replace("$", "_").isidentifier() for part in name.split("."))


@check("non-identifier callback reflected as script")
def check_name_not_reflected(obs: Observation, name: str) -> Outcome:
    """A callback/varname that is not an identifier must not be emitted as script anywhere in the body.

    A body that parses as a JSON answer is fully accounted for (comments, one identifier as wrapper,
    JSON whose strings are inert), so there only its wrapper name can reflect the name. An XML answer
    is searched too: a name in its text or attribute values is inert only when escaped, so one that
    stands in the bytes as it was sent although it holds '<' or '&' (a CDATA section, or markup: an
    injected element) is reflected. Any other body is searched whole, outside JSON string literals:
    '/**/alert(1);//({...})' reflects the name after its start.
    """
    resp = obs.exchange.response
    if resp is None:
        return not_applicable("no response")
    if is_js_name(name):
        return not_applicable("the name is a JavaScript identifier")
    if obs.parsed is None and len(name) < SHORTEST_JUDGED:
        return not_applicable(f"a name under {SHORTEST_JUDGED} characters")
    text = resp.body.decode("utf-8", errors="replace")
    if obs.parsed is not None and obs.parsed.format == "xml":
        at = _unescaped_in_xml(text, name)
        reflected = at >= 0
    elif obs.parsed is not None:
        reflected = obs.parsed.wrapper_name == name
        at = 0
    else:
        at = _outside_json_strings(text, name)
        reflected = at >= 0
    if not reflected:
        return []
    return [
        fail(
            "a non-identifier callback/varname was reflected as script",
            obs.exchange,
            "refused or ignored",
            text[max(0, at - 20) : at + 180],
        )
    ]


def _unescaped_in_xml(text: str, name: str) -> int:
    """Where ``name`` stands unescaped in an XML body, or -1.

    XML escapes '<' and '&' in every text and attribute value, so a name holding either that appears
    verbatim left the escaping (CDATA, or markup), which a browser sniffing the answer as HTML runs.
    A name without them is inert text in XML (as a JSON string is in JSON).
    """
    if "<" not in name and "&" not in name:
        return -1
    return text.find(name)


def _outside_json_strings(text: str, needle: str) -> int:
    """The first offset where ``needle`` occurs not wholly inside a JSON string literal, or -1."""
    spans = [m.span() for m in _JSON_STRING.finditer(text)]  # sorted, never overlapping
    starts = [lo for lo, _ in spans]
    at = text.find(needle)
    while at >= 0:
        i = bisect.bisect_left(starts, at) - 1  # the last literal opening before the occurrence
        if i < 0 or at + len(needle) >= spans[i][1]:
            return at
        at = text.find(needle, at + 1)
    return -1
