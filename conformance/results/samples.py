"""Replayable samples of a passing test: what ``certificate verify --recheck`` sends again.

During a run, each passing test keeps a tiny sample of the requests it made and what the target
answered (``tests[].samples`` in results.json: the logical request and a summary of the answer,
never a signature or a secret); :func:`request_from_sample` turns one back into a request.

Only requests whose answer depends on the request alone are sampled: get-replace-token requests
of core-profile tests with a logical form, only documented parameter names, a parseable answer,
and a nonce used once (a deliberate replay is not reproducible by a fresh signature). Requests that
change the target (redeem, clock moves) never are, so the lifecycle requirements of the full
profile are not rechecked.

A sample read back from a bundle is a stranger's data: :func:`request_from_sample` takes only
parameter *values* from it. The endpoint is always the documented get-replace-token path; the
method, signature placement and credential level must be ones the suite itself uses, and anything
else refuses the sample (:class:`SampleRefused`) before a request exists.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from conformance import checks
from conformance.catalog import load_catalog
from conformance.model.exchange import ApiRequest, Exchange
from conformance.model.text import printable
from conformance.spec import FORMAT_PARAMS, GET_REPLACE_TOKEN, GET_REPLACE_TOKEN_PARAMS

SAMPLES_PER_TEST = 2
_NONCE = re.compile(r"oauth_nonce(?:=|%3D|=\")([^\"&,\s]+)")
_DEFAULTS = ApiRequest()
_REQUEST_FIELDS = ("http_method", "auth", "placement", "path", "sign_query_on_post", "tamper")
DOCUMENTED_PARAMS = frozenset(GET_REPLACE_TOKEN_PARAMS + FORMAT_PARAMS)
# What a replayed sample may choose, and nothing else: the values the suite's own tests use.
_ALLOWED_CHOICES: dict[str, tuple[object, ...]] = {
    "http_method": ("GET", "POST"),
    "placement": ("header", "query", "body"),
    "auth": ("write", "read", "admin", None),
    "sign_query_on_post": (True, False),
    "tamper": (True, False),
}
_SAMPLE_KEYS = frozenset({"params", "config_photo_id", "query_on_post", *_ALLOWED_CHOICES, "path"})
MAX_PARAM_VALUE = 8192  # the longest value a suite test sends is a few thousand characters


class SampleRefused(ValueError):
    """A recorded sample asks for something a recheck never sends (another path, method, level)."""


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
        if any(k not in DOCUMENTED_PARAMS for k, _ in (*req.params, *req.query_on_post)):
            continue  # a stranger's recheck sends only documented parameter names
        if (req.signature_method, req.realm) != (_DEFAULTS.signature_method, _DEFAULTS.realm):
            continue  # a recheck signs as the suite normally does: never PLAINTEXT with a reviewer's secrets
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


def _pairs(value: Any, what: str) -> tuple[tuple[str, str], ...]:
    """``[[name, value], ...]`` of documented parameter names and bounded string values."""
    if not isinstance(value, list):
        raise SampleRefused(f"{what} is not a list of [name, value] pairs")
    out = []
    for pair in value:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise SampleRefused(f"{what} holds an entry that is not a [name, value] pair of strings")
        name, val = pair
        if name not in DOCUMENTED_PARAMS:
            raise SampleRefused(f"{what} names parameter {printable(name, 60)}, not a documented one")
        if len(val) > MAX_PARAM_VALUE:
            raise SampleRefused(f"{what}: the value of {name} is {len(val)} characters long")
        out.append((name, val))
    return tuple(out)


def request_from_sample(sample: Any, photo_id: str) -> ApiRequest:
    """The get-replace-token request a recorded sample describes (SampleRefused for anything else).

    Only parameter values and the suite's own choices (GET/POST, placement, level, a deliberately
    bad signature) come from the sample; the path is always the documented endpoint, on whatever
    target the caller's client is configured for, and ``photo_id`` is the reviewer's where the run
    used its configured one.
    """
    data = sample.get("request") if isinstance(sample, dict) else None
    if not isinstance(data, dict):
        raise SampleRefused("the sample has no request object")
    unknown = sorted(set(data) - _SAMPLE_KEYS)
    if unknown:
        raise SampleRefused(
            f"the sample sets {printable(', '.join(unknown), 80)}, which a recheck never sends"
        )
    if data.get("path", GET_REPLACE_TOKEN) != GET_REPLACE_TOKEN:
        raise SampleRefused(
            f"the sample names path {printable(data.get('path'), 120)}; "
            f"a recheck only requests {GET_REPLACE_TOKEN}"
        )
    fields: dict[str, Any] = {}
    for name, allowed in _ALLOWED_CHOICES.items():
        if name in data:
            if data[name] not in allowed or isinstance(data[name], int) != isinstance(allowed[0], int):
                raise SampleRefused(
                    f"the sample's {name} {printable(data[name], 60)} is not one the suite uses"
                )
            fields[name] = data[name]
    params = _pairs(data.get("params", []), "params")
    if data.get("config_photo_id") is True:
        params = (("photo_id", photo_id), *params)
    return ApiRequest(
        params=params,
        query_on_post=_pairs(data.get("query_on_post", []), "query_on_post"),
        path=GET_REPLACE_TOKEN,
        **fields,
    )
