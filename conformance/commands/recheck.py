"""Recheck a certificate against the live target: replay recorded requests, re-judge the answers.

The run keeps replayable samples of its passing tests (:mod:`conformance.results.samples`).
``conformance certificate verify --recheck`` sends those requests again, signed afresh with the
reviewer's credentials, and judges each new answer with the suite's own check functions against
what the certified target answered then. A target that has since changed behaviour (a fault
introduced, a permission check dropped) fails, naming the requirements of the tests whose samples
no longer hold.

The bundle is a stranger's file: it contributes parameter values and the certified answers,
nothing else. Which tests exist and what they verify come from this suite's index; where requests
go and with which credentials from the reviewer's config (:mod:`conformance.results.samples`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from conformance import checks
from conformance.config import TargetConfig
from conformance.model.exchange import ApiRequest
from conformance.model.text import printable
from conformance.results.rederive import test_requirements
from conformance.results.samples import SampleRefused, request_from_sample
from conformance.transport.client import TargetClient
from conformance.transport.errors import TransportError


def judge(obs: checks.Observation, answer: dict[str, Any], req: str) -> list[checks.Finding]:
    """The suite's checks, with the certified answer as the expectation; errors only, bound to ``req``."""
    fmt = answer.get("format", "xml")
    outcomes: list[checks.Outcome] = [checks.check_api_response(obs, fmt)]
    if answer.get("status") == "ok":
        outcomes.append(checks.check_status_ok(obs))
        if answer.get("permission_level"):
            outcomes.append(checks.check_permission_level(obs, answer["permission_level"]))
        if answer.get("cached") == "0":
            outcomes.append(checks.check_cached_zero(obs))
        for name in ("valid_minutes", "max_uploads"):
            if name in answer:
                outcomes.append(checks.check_numeric_field(obs, name, answer[name]))
    else:
        levels = {answer["permission_level"]} if answer.get("permission_level") else None
        codes = {answer["code"]} if answer.get("code") else None
        outcomes.append(checks.check_error(obs, codes=codes, permission_levels=levels))
        outcomes.append(checks.check_no_token(obs))
    if fmt == "json" and answer.get("wrapper"):
        wrapper, name = answer["wrapper"]
        outcomes.append(checks.check_json_wrapper(obs, wrapper, name))
    found = checks.bound(checks.findings_of(*outcomes), req)
    return [f for f in found if f.severity == "error"]


@dataclass
class RecheckResult:
    sent: int = 0
    skipped: list[str] = field(default_factory=list)  # why some samples were not replayed
    refused: list[str] = field(default_factory=list)  # samples a recheck never sends: the bundle is invalid
    failed: dict[str, list[str]] = field(default_factory=dict)  # requirement -> messages
    checked: set[str] = field(default_factory=set)  # requirements with at least one replayed sample

    @property
    def ok(self) -> bool:
        return not self.failed and not self.refused


@dataclass(frozen=True)
class Planned:
    nodeid: str
    requirements: tuple[str, ...]  # from this suite's index, never from the bundle
    answer: dict[str, Any]
    request: ApiRequest


def _answer(sample: dict[str, Any]) -> dict[str, Any]:
    """The certified answer a sample compares against, type-checked (SampleRefused when off)."""
    answer = sample.get("answer")
    if not isinstance(answer, dict) or answer.get("format", "xml") not in ("xml", "json"):
        raise SampleRefused("the sample's answer is not an answer summary")
    for name in ("valid_minutes", "max_uploads"):
        if name in answer and (type(answer[name]) is not int):
            raise SampleRefused(f"the sample's answer has a {name} that is not a number")
    for name in ("status", "code", "permission_level", "cached"):
        if answer.get(name) is not None and not isinstance(answer[name], str):
            raise SampleRefused(f"the sample's answer has a {name} that is not text")
    wrapper = answer.get("wrapper")
    if wrapper is not None and not (
        isinstance(wrapper, list) and len(wrapper) == 2 and all(isinstance(w, str | None) for w in wrapper)
    ):
        raise SampleRefused("the sample's answer has a malformed wrapper")
    return answer


def plan(results: dict[str, Any], photo_id: str) -> tuple[list[Planned], list[str]]:
    """Every replayable sample of the passing tests as a request, and every sample refused.

    All samples are checked, not only those a limit would pick: one weaponised sample makes the
    bundle invalid before any request is sent.
    """
    planned: list[Planned] = []
    refused: list[str] = []
    for test in results.get("tests") or ():
        if test.get("verdict") != "pass" or not test.get("samples"):
            continue
        nodeid = str(test.get("nodeid"))
        ids = test_requirements(nodeid)
        if ids is None:
            refused.append(f"{printable(nodeid, 120)}: not a test of this suite")
            continue
        for number, sample in enumerate(test["samples"], 1):
            try:
                request = request_from_sample(sample, photo_id)
                planned.append(Planned(nodeid, ids, _answer(sample), request))
            except SampleRefused as exc:
                refused.append(f"{printable(nodeid, 120)} sample {number}: {exc}")
    return planned, refused


def pick(planned: list[Planned], limit: int) -> list[Planned]:
    """Round-robin over tests so every requirement gets a replay early, at most ``limit``."""
    queues: dict[str, list[Planned]] = {}
    for p in planned:
        queues.setdefault(p.nodeid, []).append(p)
    out: list[Planned] = []
    depth = 0
    while len(out) < limit and any(len(q) > depth for q in queues.values()):
        for q in queues.values():
            if len(q) > depth and len(out) < limit:
                out.append(q[depth])
        depth += 1
    return out


def recheck(
    results: dict[str, Any], config: TargetConfig, limit: int = 100, *, allow_admin: bool = False
) -> RecheckResult:
    """Replay up to ``limit`` recorded samples against ``config``'s target and re-judge them.

    Requests go only to the documented get-replace-token endpoint of ``config.base_url``, signed
    with ``config``'s credentials; admin-level samples only with ``allow_admin``.
    """
    result = RecheckResult()
    planned, result.refused = plan(results, config.photo_id)
    if result.refused:
        return result
    todo: list[Planned] = []
    for p in pick(planned, limit):
        if p.request.auth == "admin" and not allow_admin:
            result.skipped.append(f"{p.nodeid}: admin-level sample not replayed (--recheck-admin allows it)")
        elif p.request.auth is not None and p.request.auth not in config.credentials:
            result.skipped.append(f"{p.nodeid}: no [credentials.{p.request.auth}] in the config")
        else:
            todo.append(p)
    if not todo:
        if not planned:
            result.skipped.append("results.json records no replayable requests (a run older than --certify)")
        return result
    client = TargetClient(config)
    try:
        try:
            exchanges = client.send_many([p.request for p in todo])
        except TransportError as exc:
            for p in todo:
                for rid in p.requirements:
                    result.failed.setdefault(rid, []).append(f"no answer: {exc}")
            return result
        result.sent = len(exchanges)
        for p, ex in zip(todo, exchanges, strict=True):
            found = judge(checks.observe(ex, p.answer.get("format", "xml")), p.answer, p.requirements[0])
            result.checked.update(p.requirements)
            if found:
                for rid in p.requirements:
                    result.failed.setdefault(rid, []).append(
                        f"{p.nodeid}: {found[0].message} ({ex.method} {_shorten(ex.url)})"
                    )
    finally:
        client.close()
    return result


def _shorten(url: str, limit: int = 160) -> str:
    url = re.sub(r"oauth_signature=[^&]*", "oauth_signature=<redacted>", url)
    return printable(url if len(url) <= limit else url[:limit] + "...", None)
