"""Recheck a certificate against the live target: replay recorded requests, re-judge the answers.

During a run, each passing test keeps a tiny sample of the requests it made and what the target
answered (``tests[].samples`` in results.json: the logical request and a summary of the answer,
never a signature or a secret). ``conformance certificate verify --recheck`` sends those requests
again, signed afresh with the reviewer's credentials, and judges each new answer with the suite's
own check functions against what the certified target answered then. A target that has since
changed behaviour (a fault introduced, a permission check dropped) fails, naming the requirements
of the tests whose samples no longer hold.

Only requests whose answer depends on the request alone are sampled: get-replace-token requests
of core-profile tests with a logical form, a parseable answer, and a nonce used once (a deliberate
replay is not reproducible by a fresh signature). Requests that change the target (redeem, clock
moves) never are, so the lifecycle requirements of the full profile are not rechecked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance import checks
from conformance.config import TargetConfig
from conformance.model.exchange import ApiRequest, Exchange
from conformance.spec import GET_REPLACE_TOKEN
from conformance.transport.client import TargetClient, TransportError

SAMPLES_PER_TEST = 2
_NONCE = re.compile(r"oauth_nonce(?:=|%3D|=\")([^\"&,\s]+)")
_DEFAULTS = ApiRequest()
_REQUEST_FIELDS = ("http_method", "auth", "placement", "path", "sign_query_on_post", "tamper")


def _nonce(ex: Exchange) -> str | None:
    text = " ".join([ex.url, ex.request_body, *(v for _, v in ex.request_headers)])
    m = _NONCE.search(text)
    return m.group(1) if m else None


def _answer(obs: checks.Observation) -> dict[str, Any]:
    """What a recheck compares: the answer's status, code, level, wrapper and numeric terms."""
    assert obs.parsed is not None and obs.exchange.response is not None
    p = obs.parsed
    answer: dict[str, Any] = {
        "http_status": obs.exchange.response.status,
        "format": p.format,
        "status": p.status,
        "permission_level": p.attributes.get("permission_level"),
        "cached": p.attributes.get("cached"),
    }
    if p.status == "ok":
        for name in ("valid_minutes", "max_uploads"):
            value = p.fields.get(name)
            if value is not None and re.fullmatch(r"[0-9]{1,9}", value):
                answer[name] = int(value)
    else:
        answer["code"] = p.attributes.get("code")
    if p.format == "json":
        answer["wrapper"] = [p.wrapper, p.wrapper_name]
    return answer


def record_samples(
    exchanges: Sequence[Exchange],
    photo_id: str,
    requirements: Sequence[str] = (),
    limit: int = SAMPLES_PER_TEST,
) -> list[dict]:
    """Up to ``limit`` replayable requests of one passing test (first and last), for results.json.

    Tests of full-profile requirements (the redeem lifecycle) keep none: their get-replace-token
    requests only set the stage, and replaying them would say nothing about those requirements.
    """
    from conformance.catalog import load_catalog

    catalog = load_catalog()
    if any(rid in catalog and catalog[rid].profile == "full" for rid in requirements):
        return []
    nonces: dict[str, int] = {}
    for ex in exchanges:
        n = _nonce(ex)
        if n:
            nonces[n] = nonces.get(n, 0) + 1
    usable = []
    for ex in exchanges:
        req, resp = ex.request, ex.response
        if req is None or req.path != GET_REPLACE_TOKEN or resp is None or resp.truncated:
            continue
        n = _nonce(ex)
        if n and nonces[n] > 1:
            continue
        usable.append(ex)
    picked = usable[:1] + usable[-1:] if len(usable) > 1 else usable
    out = []
    for ex in picked[:limit]:
        fmt = "json" if ex.request and ex.request.param("format") == "json" else "xml"
        obs = checks.observe(ex, fmt)
        if obs.parsed is None:
            continue
        out.append({"request": _compact(ex.request, photo_id), "answer": _answer(obs)})
    return out


def _compact(req: ApiRequest | None, photo_id: str) -> dict[str, Any]:
    """The logical request without default fields; the configured photo_id becomes a flag."""
    assert req is not None
    data: dict[str, Any] = {
        "params": [[k, v] for k, v in req.params if not (k == "photo_id" and v == photo_id)],
    }
    if any(k == "photo_id" and v == photo_id for k, v in req.params):
        data["config_photo_id"] = True
    for name in _REQUEST_FIELDS:
        if getattr(req, name) != getattr(_DEFAULTS, name):
            data[name] = getattr(req, name)
    if req.query_on_post:
        data["query_on_post"] = [list(p) for p in req.query_on_post]
    return data


def request_from_sample(sample: dict[str, Any], photo_id: str) -> ApiRequest:
    """The ApiRequest a recorded sample describes, with the reviewer's photo_id where it was the config's."""
    data = sample["request"]
    params = [(str(k), str(v)) for k, v in data.get("params", [])]
    if data.get("config_photo_id"):
        params.insert(0, ("photo_id", photo_id))
    fields = {name: data[name] for name in _REQUEST_FIELDS if name in data}
    return ApiRequest(
        params=tuple(params),
        query_on_post=tuple((str(k), str(v)) for k, v in data.get("query_on_post", [])),
        **fields,
    )


def judge(obs: checks.Observation, answer: dict[str, Any], req: str) -> list[checks.Finding]:
    """The suite's checks, with the certified answer as the expectation; errors only."""
    fmt = answer.get("format", "xml")
    found = checks.check_api_response(obs, fmt, req)
    if answer.get("status") == "ok":
        found += checks.check_status_ok(obs, req)
        if answer.get("permission_level"):
            found += checks.check_permission_level(obs, answer["permission_level"], req)
        if answer.get("cached") == "0":
            found += checks.check_cached_zero(obs, req)
        for name in ("valid_minutes", "max_uploads"):
            if name in answer:
                found += checks.check_numeric_field(obs, name, answer[name], req)
    else:
        levels = {answer["permission_level"]} if answer.get("permission_level") else None
        codes = {answer["code"]} if answer.get("code") else None
        found += checks.check_error(obs, req, codes=codes, permission_levels=levels)
        found += checks.check_no_token(obs, req)
    if fmt == "json" and answer.get("wrapper"):
        wrapper, name = answer["wrapper"]
        found += checks.check_json_wrapper(obs, wrapper, name, req)
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
