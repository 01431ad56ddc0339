"""Replayable samples of a passing test: what ``certificate verify --recheck`` sends again.

During a run, each passing test keeps a tiny sample of the requests it made and what the target
answered (``tests[].samples`` in results.json: the logical request and a summary of the answer,
never a signature or a secret); :func:`request_from_sample` turns one back into a request.

Only requests whose answer depends on the request alone are sampled: get-replace-token requests
of core-profile tests with a logical form, a parseable answer, and a nonce used once (a deliberate
replay is not reproducible by a fresh signature). Requests that change the target (redeem, clock
moves) never are, so the lifecycle requirements of the full profile are not rechecked.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from conformance import checks
from conformance.catalog import load_catalog
from conformance.model.exchange import ApiRequest, Exchange
from conformance.spec import GET_REPLACE_TOKEN

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
