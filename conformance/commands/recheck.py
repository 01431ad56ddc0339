"""Recheck a certificate against the live target: replay recorded requests, re-judge the answers.

The run keeps replayable samples of its passing tests (:mod:`conformance.results.samples`).
``conformance certificate verify --recheck`` sends those requests again, signed afresh with the
reviewer's credentials, and judges each new answer with the suite's own check functions against
what the certified target answered then. A target that has since changed behaviour (a fault
introduced, a permission check dropped) fails, naming the requirements of the tests whose samples
no longer hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from conformance import checks
from conformance.config import TargetConfig
from conformance.model.exchange import ApiRequest
from conformance.results.samples import request_from_sample
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
    failed: dict[str, list[str]] = field(default_factory=dict)  # requirement -> messages
    checked: set[str] = field(default_factory=set)  # requirements with at least one replayed sample

    @property
    def ok(self) -> bool:
        return not self.failed


def pick_samples(tests: Iterable[dict[str, Any]], limit: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(test record, sample) pairs, round-robin over passing tests so every requirement gets one early."""
    queues = [
        (t, list(t.get("samples") or ())) for t in tests if t.get("verdict") == "pass" and t.get("samples")
    ]
    out: list[tuple[dict[str, Any], dict[str, Any]]] = []
    depth = 0
    while len(out) < limit and any(len(q) > depth for _, q in queues):
        for t, q in queues:
            if len(q) > depth and len(out) < limit:
                out.append((t, q[depth]))
        depth += 1
    return out


def recheck(results: dict[str, Any], config: TargetConfig, limit: int = 100) -> RecheckResult:
    """Replay up to ``limit`` recorded samples against ``config``'s target and re-judge them."""
    result = RecheckResult()
    pairs = pick_samples(results.get("tests") or (), limit)
    if not pairs:
        result.skipped.append("results.json records no replayable requests (a run older than --certify)")
        return result
    client = TargetClient(config)
    try:
        todo: list[tuple[dict[str, Any], dict[str, Any], ApiRequest]] = []
        for test, sample in pairs:
            req = request_from_sample(sample, config.photo_id)
            if req.auth is not None and req.auth not in config.credentials:
                result.skipped.append(f"{test['nodeid']}: no [credentials.{req.auth}] in the config")
                continue
            todo.append((test, sample, req))
        try:
            exchanges = client.send_many([req for _, _, req in todo])
        except TransportError as exc:
            for test, _, _ in todo:
                for rid in test.get("requirements") or ():
                    result.failed.setdefault(rid, []).append(f"no answer: {exc}")
            return result
        result.sent = len(exchanges)
        for (test, sample, _), ex in zip(todo, exchanges, strict=True):
            answer = sample["answer"]
            ids = list(test.get("requirements") or ())
            found = judge(checks.observe(ex, answer.get("format", "xml")), answer, ids[0] if ids else "")
            result.checked.update(ids)
            if found:
                for rid in ids:
                    result.failed.setdefault(rid, []).append(
                        f"{test['nodeid']}: {found[0].message} ({ex.method} {_shorten(ex.url)})"
                    )
    finally:
        client.close()
    return result


def _shorten(url: str, limit: int = 160) -> str:
    url = re.sub(r"oauth_signature=[^&]*", "oauth_signature=<redacted>", url)
    return url if len(url) <= limit else url[:limit] + "..."
