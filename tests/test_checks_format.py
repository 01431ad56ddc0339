"""Table-driven unit tests of the transport, format, envelope, echo and injection checks.

Each check gets a passing observation, a failing one and one it does not judge (it returns
NotApplicable), built from real :class:`Exchange` objects whose response bodies are the bytes a
target would send: the bytes are the input of the unit under test, so nothing is mocked and no
server runs. Where a check judges every answer (well-formedness, the baseline), the third row is
the neighbouring case it must leave to another check (a warning, a format it was not told).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings

from conformance import checks
from conformance.checks.registry import Outcome, bound
from conformance.model.exchange import ApiRequest, Exchange, RecordedResponse
from conformance.model.finding import NotApplicable
from conformance.parse.observation import Observation, observe
from conformance.reference.params import HTTP_IRI_RE
from conformance.suite import strategies

PHOTO = "123456"
RETURN_URL = "https://www.example.com/upload/callback?theme=green"
TOKEN = "022fe6e3fb42758d6147c539727c5358af3524b1"
FIELDS = {
    "replace_token": TOKEN,
    "photo_id": PHOTO,
    "max_uploads": "1",
    "valid_minutes": "180",
    "valid_until": "1266711372",
    "return_url": RETURN_URL,
}
XML_TYPE = "text/xml; charset=utf-8"
JS_TYPE = "text/javascript; charset=utf-8"


def xml_ok(cached: str = "0", skip: str = "", **fields: str) -> bytes:
    kids = "".join(f"<{k}>{v}</{k}>" for k, v in {**FIELDS, **fields}.items() if k != skip)
    cached_attr = f' cached="{cached}"' if cached else ""
    return (
        f'<response status="ok" permission_level="write" message="m"{cached_attr}>{kids}</response>'.encode()
    )


def xml_error(code: str = "permission_denied", level: str = "anonymous", extra: str = "") -> bytes:
    return f'<response status="error" code="{code}" message="m" permission_level="{level}"{extra}/>'.encode()


def json_ok_doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "status": "ok",
        "message": "m",
        "permission_level": "write",
        "cached": "0",
        "replacetoken": dict(FIELDS),
        "p": "1",
        "size": "1",
        "site": {"domain": "videos.example.com"},
        "endpoint": "/api/photo/get-replace-token",
    }
    return {**doc, **changes}


def json_error_doc(code: str = "invalid_input") -> dict[str, Any]:
    return {
        "status": "error",
        "code": code,
        "message": "m",
        "permission_level": "write",
        "endpoint": "/api/photo/get-replace-token",
    }


def wrapped(doc: dict[str, Any], head: str = "var visual = ", tail: str = ";") -> bytes:
    return f"{head}{json.dumps(doc)}{tail}".encode()


def request(**params: str) -> ApiRequest:
    return ApiRequest(params=(("photo_id", PHOTO), *params.items()))


def exchange(
    body: bytes | None,
    *,
    status: int = 200,
    ctype: str | None = XML_TYPE,
    req: ApiRequest | None = None,
    at: float = 1000.0,
) -> Exchange:
    """An exchange as the client records it; ``body=None`` is a transport failure (no response)."""
    headers = [("Content-Type", ctype)] if ctype else []
    response = (
        None if body is None else RecordedResponse(status, "OK" if status == 200 else "Error", headers, body)
    )
    return Exchange(
        id=1,
        request=req or request(),
        method="GET",
        url="http://target.test/api/photo/get-replace-token",
        request_headers=[],
        request_body="",
        started_at=at,
        finished_at=at + 0.1,
        response=response,
        error=None if body is not None else "connection refused",
        error_kind=None if body is not None else "connect",
    )


def obs(body: bytes | None, fmt: str | None = None, **kw: Any) -> Observation:
    return observe(exchange(body, **kw), fmt)  # type: ignore[arg-type]


def js_obs(body: bytes, **kw: Any) -> Observation:
    return obs(body, "json", ctype=JS_TYPE, **kw)


R = "REQ"  # the requirement the calling suite test binds unbound findings to
NA = "not applicable"


def row(case: str, judge: Callable[[], Outcome], errors: Any = (), warns: Any = ()) -> Any:
    """One table row: ``judge`` runs the check on bytes; ``errors``/``warns`` are the requirement IDs of
    the error and warning findings it must return once bound to R (none: the check passes), or NA
    when it must answer NotApplicable."""
    return pytest.param(judge, errors if errors == NA else set(errors), set(warns), id=case)


ATTACK = "alert(1);//"
CASES = [
    # -- transport -------------------------------------------------------------------------------
    row("http_status_200-pass", lambda: checks.check_http_status_200(obs(xml_ok()))),
    row(
        "http_status_200-fail",
        lambda: checks.check_http_status_200(obs(xml_error(), status=401)),
        {R},
    ),
    row("http_status_200-na-no-response", lambda: checks.check_http_status_200(obs(None)), NA),
    row("no_server_error-pass", lambda: checks.check_no_server_error(obs(xml_ok()))),
    row(
        "no_server_error-fail-trace",
        lambda: checks.check_no_server_error(
            obs(
                b"<html><pre>Traceback (most recent call last):\n</pre></html>", status=500, ctype="text/html"
            )
        ),
        {R},
    ),
    row(
        "no_server_error-pass-marker-sent-by-the-request",
        lambda: checks.check_no_server_error(
            obs(
                xml_ok(return_url="https://e.com/?q=Fatal error: x"),
                req=request(return_url="https://e.com/?q=Fatal error: x"),
            )
        ),
    ),
    row("no_server_error-na-no-response", lambda: checks.check_no_server_error(obs(None)), NA),
    # -- well-formed, wrapper, content type ------------------------------------------------------
    row("well_formed-pass-xml", lambda: checks.check_well_formed(obs(xml_ok(), "xml"), "xml")),
    row(
        "well_formed-pass-jsonp-express",
        lambda: checks.check_well_formed(
            js_obs(wrapped(json_ok_doc(), "/**/ typeof cb === 'function' && cb(", ");")), "json"
        ),
    ),
    row(
        "well_formed-fail-html",
        lambda: checks.check_well_formed(obs(b"<html><body>x</body></html>", "xml"), "xml"),
        {R},
    ),
    row(
        "well_formed-fail-schema",
        lambda: checks.check_well_formed(obs(xml_ok(skip="valid_until"), "xml"), "xml"),
        {R},
    ),
    row(
        "well_formed-fail-cached-missing",
        lambda: checks.check_well_formed(obs(xml_ok(cached=""), "xml"), "xml"),
        {R},
    ),
    row(
        "well_formed-na-undocumented-code-left-to-error_code_documented",
        lambda: checks.check_well_formed(obs(xml_error(code="photo_locked"), "xml"), "xml"),
    ),
    row(
        "json_wrapper-pass-callback",
        lambda: checks.check_json_wrapper(js_obs(wrapped(json_ok_doc(), "cb(", ");")), "callback", "cb"),
    ),
    row(
        "json_wrapper-pass-comment-prefix",
        lambda: checks.check_json_wrapper(
            js_obs(wrapped(json_ok_doc(), "// x\n/**/ cb(", ")")), "callback", "cb"
        ),
    ),
    row(
        "json_wrapper-pass-error-wrapped",
        lambda: checks.check_json_wrapper(js_obs(wrapped(json_error_doc(), "cb(", ");")), "callback", "cb"),
    ),
    row(
        "json_wrapper-fail-error-in-var-visual",
        lambda: checks.check_json_wrapper(js_obs(wrapped(json_error_doc())), "callback", "cb"),
        {R},
    ),
    row(
        "json_wrapper-fail-other-varname",
        lambda: checks.check_json_wrapper(js_obs(wrapped(json_ok_doc())), "var", "tags"),
        {R},
    ),
    row(
        "json_wrapper-fail-raw-asked",
        lambda: checks.check_json_wrapper(js_obs(wrapped(json_ok_doc())), "raw", None),
        {R},
    ),
    row("json_wrapper-na-xml", lambda: checks.check_json_wrapper(obs(xml_ok(), "xml"), "callback", "cb"), NA),
    row("content_type-pass", lambda: checks.check_content_type(js_obs(wrapped(json_ok_doc())), "json")),
    row(
        "content_type-fail-html-warns",
        lambda: checks.check_content_type(obs(xml_ok(), "xml", ctype="text/html"), "xml"),
        set(),
        {R},
    ),
    row("content_type-na-no-response", lambda: checks.check_content_type(obs(None), "xml"), NA),
    # the client cannot tell the format: a missing or empty label warns like a wrong one
    row(
        "content_type-fail-missing-warns",
        lambda: checks.check_content_type(obs(xml_ok(), ctype=None), "xml"),
        set(),
        {R},
    ),
    row(
        "content_type-fail-empty-warns",
        lambda: checks.check_content_type(
            obs(wrapped(json_ok_doc()), "json", ctype="; charset=utf-8"), "json"
        ),
        set(),
        {R},
    ),
    # -- UTF-8 out: every label of the encoding says UTF-8 (or there is none) -------------------
    row(
        "utf8_label-pass-utf8", lambda: checks.check_utf8_label(obs(xml_ok(), ctype="text/xml; charset=UTF8"))
    ),
    row("utf8_label-pass-no-labels", lambda: checks.check_utf8_label(obs(xml_ok(), ctype="text/xml"))),
    row(
        "utf8_label-fail-latin1-charset",
        lambda: checks.check_utf8_label(
            obs(wrapped(json_ok_doc()), "json", ctype="text/javascript; charset=ISO-8859-1")
        ),
        {R},
    ),
    row(
        "utf8_label-fail-xml-declaration",
        lambda: checks.check_utf8_label(obs(b'<?xml version="1.0" encoding="windows-1252"?>' + xml_ok())),
        {R},
    ),
    row("utf8_label-na-no-response", lambda: checks.check_utf8_label(obs(None)), NA),
    # -- a refusal where a position accepts one: only the documented code ----------------------
    row(
        "refused_as-pass-invalid-input",
        lambda: checks.check_refused_as(obs(xml_error("invalid_input")), {"invalid_input"}),
    ),
    row(
        "refused_as-fail-invalid-signature",
        lambda: checks.check_refused_as(obs(xml_error("invalid_signature")), {"invalid_input"}),
        {R},
    ),
    row(
        "refused_as-fail-permission-denied",
        lambda: checks.check_refused_as(obs(xml_error("permission_denied", "write")), {"invalid_input"}),
        {R},
    ),
    row("refused_as-na-success", lambda: checks.check_refused_as(obs(xml_ok()), {"invalid_input"}), NA),
    # -- envelope --------------------------------------------------------------------------------
    row("status_ok-pass", lambda: checks.check_status_ok(obs(xml_ok()))),
    row("status_ok-fail", lambda: checks.check_status_ok(obs(xml_error())), {R}),
    row("status_ok-na-unparseable", lambda: checks.check_status_ok(obs(b"garbage")), NA),
    row("error-pass", lambda: checks.check_error(obs(xml_error()), codes={"permission_denied"})),
    row("error-fail-success", lambda: checks.check_error(obs(xml_ok())), {R}),
    row(
        "error-fail-code",
        lambda: checks.check_error(obs(xml_error("no_such_photo")), codes={"permission_denied"}),
        {R},
    ),
    row("error-fail-level", lambda: checks.check_error(obs(xml_error()), permission_levels={"read"}), {R}),
    row("error-na-unparseable", lambda: checks.check_error(obs(b"garbage")), NA),
    row("error_envelope-pass", lambda: checks.check_error_envelope(obs(xml_error()))),
    row(
        "error_envelope-fail-no-code",
        lambda: checks.check_error_envelope(
            obs(b'<response status="error" message="m" permission_level="write"/>')
        ),
        {R},
    ),
    row(
        "error_envelope-fail-json-no-message",
        lambda: checks.check_error_envelope(
            js_obs(wrapped({k: v for k, v in json_error_doc().items() if k != "message"}))
        ),
        {R},
    ),
    row("error_envelope-na-success", lambda: checks.check_error_envelope(obs(xml_ok())), NA),
    row("error_code_documented-pass", lambda: checks.check_error_code_documented(obs(xml_error()))),
    row(
        "error_code_documented-fail",
        lambda: checks.check_error_code_documented(obs(xml_error("photo_locked"))),
        {R},
    ),
    row("error_code_documented-na-success", lambda: checks.check_error_code_documented(obs(xml_ok())), NA),
    row("api_response-pass", lambda: checks.check_api_response(obs(xml_ok(), "xml"), "xml")),
    row(
        "api_response-fail-500-page",
        lambda: checks.check_api_response(
            obs(b"<html><body>Internal Server Error</body></html>", "xml", status=500, ctype="text/html"),
            "xml",
        ),
        {"HTTP-STATUS-200", "INPUT-ROBUST", R},
        {R},
    ),
    row(
        "api_response-warn-undocumented-code",
        lambda: checks.check_api_response(obs(xml_error(code="photo_locked"), "xml"), "xml"),
        set(),
        {"ERROR-CODES-DOCUMENTED"},
    ),
    row("api_response-fail-no-response", lambda: checks.check_api_response(obs(None, "xml"), "xml"), {R}),
    row(
        "api_response-na-format-not-told-judges-the-body",
        lambda: checks.check_api_response(js_obs(wrapped(json_error_doc(), "cb(", ");")), None),
    ),
    row("no_token-pass", lambda: checks.check_no_token(obs(xml_error()))),
    row("no_token-fail", lambda: checks.check_no_token(obs(xml_ok())), {R}),
    row("no_token-na-unparseable", lambda: checks.check_no_token(obs(b"garbage")), NA),
    row("permission_level-pass", lambda: checks.check_permission_level(obs(xml_error()), "anonymous")),
    row(
        "permission_level-fail",
        lambda: checks.check_permission_level(obs(xml_error(level="write")), "anonymous"),
        {R},
    ),
    row(
        "permission_level-na-unparseable",
        lambda: checks.check_permission_level(obs(b"garbage"), "anonymous"),
        NA,
    ),
    row("cached_zero-pass", lambda: checks.check_cached_zero(obs(xml_ok()))),
    row(
        "cached_zero-fail-one",
        lambda: checks.check_cached_zero(obs(xml_ok(cached="1"))),
        {R},
    ),
    row(
        "cached_zero-fail-missing",
        lambda: checks.check_cached_zero(obs(xml_ok(cached=""))),
        {R},
    ),
    row("cached_zero-na-error", lambda: checks.check_cached_zero(obs(xml_error(extra=' cached="1"'))), NA),
    # -- token fields, JSON envelope, echo -------------------------------------------------------
    row(
        "token_fields-pass", lambda: checks.check_token_fields(obs(xml_ok()), request(return_url=RETURN_URL))
    ),
    row(
        "token_fields-fail-valid_until",
        lambda: checks.check_token_fields(obs(xml_ok(skip="valid_until")), request()),
        {R},
    ),
    row(
        "token_fields-fail-return_url-sent",
        lambda: checks.check_token_fields(obs(xml_ok(skip="return_url")), request(return_url=RETURN_URL)),
        {R},
    ),
    row("token_fields-na-error", lambda: checks.check_token_fields(obs(xml_error()), request()), NA),
    row("json_envelope-pass", lambda: checks.check_json_envelope(js_obs(wrapped(json_ok_doc())))),
    row(
        "json_envelope-fail-unwrapped",
        lambda: checks.check_json_envelope(
            js_obs(wrapped({k: v for k, v in json_ok_doc().items() if k != "replacetoken"} | FIELDS))
        ),
        {R},
    ),
    row(
        "json_envelope-fail-no-site",
        lambda: checks.check_json_envelope(js_obs(wrapped(json_ok_doc(site="videos.example.com")))),
        {R},
    ),
    row("json_envelope-na-xml", lambda: checks.check_json_envelope(obs(xml_ok())), NA),
    row("echo-pass", lambda: checks.check_echo(obs(xml_ok()), request(return_url=RETURN_URL))),
    row(
        "echo-pass-iri",
        lambda: checks.check_echo(
            obs(xml_ok(return_url="https://e.com/日本?q=😀#é")),
            request(return_url="https://e.com/日本?q=😀#é"),
        ),
    ),
    row(
        "echo-fail-truncated",
        lambda: checks.check_echo(obs(xml_ok(return_url=RETURN_URL[:20])), request(return_url=RETURN_URL)),
        {R},
    ),
    row(
        "echo-fail-echoed-unsent",
        lambda: checks.check_echo(obs(xml_ok()), request()),
        {R},
    ),
    row("echo-na-error", lambda: checks.check_echo(obs(xml_error()), request(return_url=RETURN_URL)), NA),
    row(
        "echo_or_refused-pass-echo",
        lambda: checks.check_echo_or_refused(
            obs(xml_ok(return_url="not a url")), request(return_url="not a url")
        ),
    ),
    row(
        "echo_or_refused-pass-invalid_input",
        lambda: checks.check_echo_or_refused(
            obs(xml_error("invalid_input")), request(return_url="not a url")
        ),
    ),
    row(
        "echo_or_refused-fail-other-code",
        lambda: checks.check_echo_or_refused(
            obs(xml_error("no_such_photo")), request(return_url="not a url")
        ),
        {R},
    ),
    row(
        "echo_or_refused-fail-changed",
        lambda: checks.check_echo_or_refused(
            obs(xml_ok(return_url="not%20a%20url")), request(return_url="not a url")
        ),
        {R},
    ),
    row(
        "echo_or_refused-na-unparseable", lambda: checks.check_echo_or_refused(obs(b"garbage"), request()), NA
    ),
    row(
        "formats_agree-pass",
        lambda: checks.check_formats_agree(obs(xml_ok(), "xml"), js_obs(wrapped(json_ok_doc()), at=1000.5)),
    ),
    row(
        "formats_agree-fail-max_uploads",
        lambda: checks.check_formats_agree(
            obs(xml_ok(max_uploads="3"), "xml"), js_obs(wrapped(json_ok_doc()), at=1000.5)
        ),
        {R},
    ),
    row(
        "formats_agree-fail-valid_until",
        lambda: checks.check_formats_agree(
            obs(xml_ok(valid_until="1266711999"), "xml"), js_obs(wrapped(json_ok_doc()), at=1000.5)
        ),
        {R},
    ),
    row(
        "formats_agree-na-one-is-an-error",
        lambda: checks.check_formats_agree(obs(xml_error(), "xml"), js_obs(wrapped(json_ok_doc()))),
        NA,
    ),
    # -- name not reflected (FORMAT-CALLBACK-SAFE) -----------------------------------------------
    row(
        "name_not_reflected-pass-refused-in-var-visual",
        lambda: checks.check_name_not_reflected(js_obs(wrapped(json_error_doc())), ATTACK),
    ),
    row(
        "name_not_reflected-pass-quoted-in-a-json-string",
        lambda: checks.check_name_not_reflected(
            js_obs(wrapped(json_error_doc() | {"message": f"bad callback {ATTACK}"})), ATTACK
        ),
    ),
    row(
        "name_not_reflected-pass-unparseable-but-only-inside-a-string",
        lambda: checks.check_name_not_reflected(obs(f'oops {{"message": "{ATTACK}"}}'.encode()), ATTACK),
    ),
    row(
        "name_not_reflected-fail-at-the-start",
        lambda: checks.check_name_not_reflected(js_obs(wrapped(json_ok_doc(), f"{ATTACK}(", ");")), ATTACK),
        {R},
    ),
    row(
        "name_not_reflected-fail-after-a-comment",
        lambda: checks.check_name_not_reflected(
            js_obs(wrapped(json_ok_doc(), f"/**/ {ATTACK}(", ");")), ATTACK
        ),
        {R},
    ),
    row(
        "name_not_reflected-fail-at-the-end",
        lambda: checks.check_name_not_reflected(js_obs(wrapped(json_ok_doc(), "cb(", f");{ATTACK}")), ATTACK),
        {R},
    ),
    row(
        "name_not_reflected-fail-in-an-html-page",
        lambda: checks.check_name_not_reflected(
            obs(b"<html><body>unknown callback <script>alert(1)</script></body></html>", ctype="text/html"),
            "<script>alert(1)</script>",
        ),
        {R},
    ),
    # an XML answer is searched too: an escaped name is inert text, an unescaped one is markup
    row(
        "name_not_reflected-pass-escaped-in-xml",
        lambda: checks.check_name_not_reflected(
            obs(xml_error("invalid_input", "write", ' detail="&lt;script&gt;alert(1)&lt;/script&gt;"')),
            "<script>alert(1)</script>",
        ),
    ),
    row(
        "name_not_reflected-pass-plain-name-in-xml-text",
        lambda: checks.check_name_not_reflected(
            obs(xml_error("invalid_input", "write", ' detail="alert(1);//"')), ATTACK
        ),
    ),
    row(
        "name_not_reflected-fail-cdata-in-xml",
        lambda: checks.check_name_not_reflected(
            obs(
                b'<response status="error" code="invalid_input" message="m" permission_level="write">'
                b"<detail><![CDATA[<script>alert(1)</script>]]></detail></response>"
            ),
            "<script>alert(1)</script>",
        ),
        {R},
    ),
    row(
        "name_not_reflected-fail-markup-in-xml",
        lambda: checks.check_name_not_reflected(
            obs(
                b'<response status="error" code="invalid_input" message="m" permission_level="write">'
                b"<b onmouseover='alert(1)'>x</b></response>"
            ),
            "<b onmouseover='alert(1)'>x</b>",
        ),
        {R},
    ),
    row(
        "name_not_reflected-na-identifier",
        lambda: checks.check_name_not_reflected(js_obs(wrapped(json_ok_doc(), "cb(", ");")), "cb"),
        NA,
    ),
    row(
        "name_not_reflected-na-too-short-to-judge",
        lambda: checks.check_name_not_reflected(obs(b"Error 0: bad", ctype="text/plain"), "0"),
        NA,
    ),
]


@pytest.mark.parametrize(("judge", "errors", "warns"), CASES)
def test_check(judge: Callable[[], Outcome], errors: set[str] | str, warns: set[str]) -> None:
    outcome = judge()
    if errors == NA:
        assert isinstance(outcome, NotApplicable) and outcome.reason, outcome
        assert outcome.check in checks.CHECKS
        return
    assert not isinstance(outcome, NotApplicable), outcome
    findings = bound(outcome, R)
    assert {f.requirement for f in findings if f.severity == "error"} == errors, findings
    assert {f.requirement for f in findings if f.severity == "warning"} == warns, findings
    for f in findings:
        assert f.exchange is not None and f.message and f.check in checks.CHECKS
        assert f.title == checks.CHECKS[f.check].title
        assert "None" not in (f.expected, f.observed)


def test_every_check_in_this_area_has_a_pass_a_fail_and_a_not_applicable_row() -> None:
    """The table covers each check three ways (a check judging every answer has a second pass row)."""
    names = [p.id for p in CASES]
    for check in (
        "http_status_200",
        "no_server_error",
        "well_formed",
        "json_wrapper",
        "content_type",
        "status_ok",
        "error",
        "error_envelope",
        "error_code_documented",
        "api_response",
        "no_token",
        "permission_level",
        "cached_zero",
        "token_fields",
        "json_envelope",
        "echo",
        "echo_or_refused",
        "refused_as",
        "utf8_label",
        "formats_agree",
        "name_not_reflected",
    ):
        kinds = {n.split("-")[1] for n in names if n.split("-")[0] == check}
        assert {"pass", "fail", "na"} <= kinds, check
        assert hasattr(checks, f"check_{check}"), check


# -- the probes' return_url values (RESPONSE-ECHO position) ----------------------------------------
@settings(max_examples=300, deadline=None)
@given(url=strategies.return_urls(), iri=strategies.return_urls(unicode=True))
def test_return_url_probes_are_absolute_http_urls(url: str, iri: str) -> None:
    """Probes about something else send what a validating server (return_url_validated) accepts."""
    assert HTTP_IRI_RE.fullmatch(url), url
    assert HTTP_IRI_RE.fullmatch(iri) and not iri.isascii(), iri


def test_deliberate_non_urls_are_not_urls() -> None:
    assert not any(HTTP_IRI_RE.fullmatch(text) for text in strategies.NOT_URLS)
