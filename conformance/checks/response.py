"""Response checks: the documented fields of a success, the JSON envelope, caching and echo."""

from __future__ import annotations

from conformance.checks.envelope import check_error
from conformance.checks.registry import Outcome, check, fail, not_applicable, quoted
from conformance.model.exchange import ApiRequest
from conformance.model.finding import Finding, shown
from conformance.parse.observation import Observation
from conformance.spec import (
    ECHOED_PARAMS,
    GET_REPLACE_TOKEN,
    JSON_TOKEN_MEMBER,
    SUCCESS_ATTRIBUTES,
    TOKEN_FIELDS,
    ErrorCode,
)


@check("documented field missing from a success")
def check_token_fields(obs: Observation, request: ApiRequest) -> Outcome:
    """All documented fields of a success are present (return_url when one was sent)."""
    if not obs.ok or obs.parsed is None:
        return not_applicable("not a success")
    wanted = list(TOKEN_FIELDS)
    if request.param("return_url"):
        wanted.append("return_url")
    missing = [f for f in wanted if f not in obs.parsed.fields]
    missing += [a for a in SUCCESS_ATTRIBUTES if a not in obs.parsed.attributes]
    if not missing:
        return []
    return [
        fail(
            f"missing documented field(s): {', '.join(missing)}",
            obs.exchange,
            ", ".join(wanted),
            ", ".join(sorted(obs.parsed.fields)),
        )
    ]


@check("JSON success not in the documented envelope")
def check_json_envelope(obs: Observation) -> Outcome:
    """A JSON success wraps its fields in 'replacetoken' beside 'endpoint' and a 'site' object."""
    if not obs.ok or obs.parsed is None or obs.parsed.format != "json":
        return not_applicable("not a JSON success")
    doc = obs.parsed.document
    problems = []
    if not isinstance(doc, dict) or not isinstance(doc.get(JSON_TOKEN_MEMBER), dict):
        problems.append(f"token fields are not wrapped in a {JSON_TOKEN_MEMBER!r} object")
    if isinstance(doc, dict) and doc.get("endpoint") != GET_REPLACE_TOKEN:
        problems.append(f"endpoint is {doc.get('endpoint')!r}, expected {GET_REPLACE_TOKEN!r}")
    if isinstance(doc, dict) and not isinstance(doc.get("site"), dict):
        problems.append("no 'site' object")
    text = repr(doc)
    observed = text if len(text) <= 300 else text[:300] + "…"
    return [fail(p, obs.exchange, "replacetoken{...}, endpoint, site{...}", observed) for p in problems]


@check("signed request answered from a cache")
def check_cached_zero(obs: Observation) -> Outcome:
    """A signed request's success says cached="0"."""
    if not obs.ok:
        return not_applicable("not a success")
    cached = obs.attr("cached")
    if cached == "0":
        return []
    return [
        fail(
            f"signed request answered with cached={cached!r}",
            obs.exchange,
            'cached="0"',
            shown(cached),
        )
    ]


@check("value not echoed exactly")
def check_echo(obs: Observation, request: ApiRequest) -> Outcome:
    """photo_id and return_url come back exactly as sent."""
    if not obs.ok:
        return not_applicable("not a success")
    findings: list[Finding] = []
    for name in ECHOED_PARAMS:
        sent = request.param(name)
        got = obs.field(name)
        if name == "return_url" and not sent:
            if got not in (None, ""):
                findings.append(
                    fail(
                        "return_url echoed although none was sent",
                        obs.exchange,
                        "empty or absent",
                        repr(got),
                    )
                )
            continue
        if got != sent:
            findings.append(fail(f"{name} not echoed exactly", obs.exchange, quoted(sent), quoted(got)))
    return findings


@check("value neither echoed exactly nor refused")
def check_echo_or_refused(
    obs: Observation, request: ApiRequest, codes: frozenset[str] = frozenset({ErrorCode.INVALID_INPUT})
) -> Outcome:
    """Input a server may validate (a return_url that is not a URL): echoed exactly, or refused.

    Its findings are those of check_echo or check_error, whichever judged the answer.
    """
    if obs.parsed is None:
        return not_applicable("no parsed answer (check_well_formed)")
    return check_echo(obs, request) if obs.ok else check_error(obs, codes=codes)
