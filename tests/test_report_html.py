"""report.html: well-formed, self-contained, complete, and inert whatever the target sent."""

from __future__ import annotations

import base64
import copy
import hashlib
import re
from collections import Counter
from html.parser import HTMLParser
from importlib import resources
from typing import Any

import pytest

from conformance.report.html import HTML_BODY_LIMIT, render_html

# What a hostile target could put into its answers (and so into the evidence).
SCRIPT = (
    "<script>document.title='PWNED';document.documentElement.setAttribute('data-pwned','script')</script>"
)
IMG = "\"><img src=x onerror=\"document.documentElement.setAttribute('data-pwned','img')\">"
SVG = "'><svg onload=\"document.documentElement.setAttribute('data-pwned','svg')\"></svg>"
BREAKOUT = (
    "</pre></td></table></section><script>"
    + "document.documentElement.setAttribute('data-pwned','x')</script>"
)
COMMENT = "<!-- --><style>body{display:none}</style>"
TEMPLATE = "{{ 7*7 }}{% raw %}"
PAYLOADS = (SCRIPT, IMG, SVG, BREAKOUT, COMMENT, TEMPLATE)
HOSTILE = " ".join(PAYLOADS)

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
TEMPLATE_TAGS = {
    "ul",  # the failures summary and the banner's unverified lists
    "li",
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "header",
    "h1",
    "h2",
    "h3",
    "h4",
    "div",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "dl",
    "dt",
    "dd",
    "details",
    "summary",
    "nav",
    "a",
    "main",
    "form",
    "label",
    "select",
    "option",
    "input",
    "span",
    "p",
    "section",
    "pre",
    "footer",
    "script",
}


class StrictHTML(HTMLParser):
    """A real tag-balance check: every non-void element closed, in order, nothing stray."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: Counter[str] = Counter()
        self.ids: list[str] = []
        self.hrefs: list[str] = []
        self.attrs: list[tuple[str, str, str | None]] = []
        self.text: list[str] = []
        self.doctype: str | None = None
        self._open_pre: list[str] = []
        self.pre_text: dict[str, list[str]] = {}

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        for name, value in attrs:
            self.attrs.append((tag, name, value))
            if name == "id" and value is not None:
                self.ids.append(value)
            if name == "href" and value is not None:
                self.hrefs.append(value)
        if tag == "pre":
            self._open_pre.append(dict(attrs).get("class") or "")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self.errors.append(f"self-closed non-void <{tag}/>")
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            self.errors.append(f"end tag for void element </{tag}>")
        elif not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else 'nothing'}>")
        else:
            self.stack.pop()
            if tag == "pre":
                self._open_pre.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] in ("script", "style"):
            return
        self.text.append(data)
        if self._open_pre:
            self.pre_text.setdefault(self._open_pre[-1], []).append(data)

    def close(self) -> None:
        super().close()
        if self.stack:
            self.errors.append(f"unclosed: {self.stack}")


def parse(html: str) -> StrictHTML:
    parser = StrictHTML()
    parser.feed(html)
    parser.close()
    return parser


def exchange(body: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "id": 11,
        "logical": {
            "params": [["photo_id", "123456"], ["valid_minutes", HOSTILE]],
            "http_method": "GET",
            "auth": "write",
            "placement": "header",
            "path": "/api/photo/get-replace-token",
            "query_on_post": [],
            "sign_query_on_post": True,
            "tamper": False,
        },
        "method": "GET",
        "url": "https://evil.example/api/photo/get-replace-token?photo_id=123456&valid_minutes=%3Cscript%3E",
        "request_headers": [["Authorization", 'OAuth oauth_consumer_key="k", oauth_signature="<redacted>"']],
        "request_body": "",
        "started_at": 1.0,
        "finished_at": 2.0,
        "response": {
            "status": 200,
            "reason": f"OK {SCRIPT}",
            "headers": [[f"X-Evil{IMG}", HOSTILE], ["Content-Type", f"text/html{SVG}"]],
            "body": body or HOSTILE,
            "body_bytes": len((body or HOSTILE).encode()),
            "body_truncated_in_report": False,
            "body_truncated_by_cap": False,
            "elapsed_ms": 3.2,
        },
        "error": None,
        "error_kind": None,
        "retried": False,
        **extra,
    }


def finding(req: str = "PARAMS-OUT-OF-RANGE", severity: str = "error", **extra: Any) -> dict[str, Any]:
    return {
        "requirement": req,
        "check": "check_bounds_policy",
        "message": f"rejected {SCRIPT}",
        "expected": f"a token {IMG}",
        "observed": f"error {BREAKOUT}",
        "severity": severity,
        "exchange": exchange(),
        **extra,
    }


def requirement(
    rid: str, group: str, verdict: str, tests: list[str], level: str = "MUST", position: str = ""
) -> dict[str, Any]:
    return {
        "id": rid,
        "group": group,
        "level": level,
        "profile": "core",
        "spec": "index.md, Responses",
        "summary": f"Summary of {rid}.",
        "position": position,
        "verdict": verdict,
        "tests": tests,
        "warnings": [],
    }


def record(nodeid: str, verdict: str, reqs: list[str], **extra: Any) -> dict[str, Any]:
    outcome = {"pass": "passed", "skip": "skipped"}.get(verdict, "failed")
    return {
        "nodeid": nodeid,
        "name": nodeid.split("::")[-1],
        "when": "call",
        "requirements": reqs,
        "doc": "",
        "outcome": outcome,
        "verdict": verdict,
        "message": "",
        "duration": 0.1,
        "requests": 3,
        "findings": [],
        "warnings": [],
        "hypothesis": [],
        **extra,
    }


def hostile_results() -> dict[str, Any]:
    """A NOT CONFORMANT results dict whose every target-derived string is an injection attempt."""
    fail_id = "test_params.py::test_out_of_range_follows_declared_policy"
    skip_id = "test_auth.py::test_read_level_is_denied_with_read_level[xml]"
    error_id = "test_http.py::test_success_and_errors_are_http_200"
    reqs = [
        requirement(
            "AUTH-READ-DENIED", "AUTH", "skip", [skip_id], position="Skipped without read credentials."
        ),
        requirement(
            "AUTH-NONCE-REPLAY",
            "AUTH",
            "fail",
            ["test_auth.py::test_replayed_nonce_is_refused"],
            level="SHOULD",
        ),
        requirement("HTTP-STATUS-200", "HTTP", "error", [error_id]),
        requirement(
            "PARAMS-OUT-OF-RANGE",
            "PARAMS",
            "fail",
            [fail_id],
            position="The vendor declares 'clamp', 'reject' or 'either'.",
        ),
        requirement("REDEEM-OK", "REDEEM", "not-in-profile", []),
    ]
    reqs[1]["warnings"] = [finding("AUTH-NONCE-REPLAY", severity="warning")]
    tests = [
        record("test_auth.py::test_replayed_nonce_is_refused", "pass", ["AUTH-NONCE-REPLAY"]),
        record(skip_id, "skip", ["AUTH-READ-DENIED"], message=f"no read-level credentials {SCRIPT}"),
        record(
            error_id,
            "error",
            ["HTTP-STATUS-200"],
            message=f"transport: connection reset {IMG}",
            findings=[
                finding(
                    "HTTP-STATUS-200",
                    check="transport",
                    exchange=exchange(
                        response=None, error=f"connection error {SCRIPT}", error_kind="connection"
                    ),
                )
            ],
        ),
        record(
            fail_id,
            "fail",
            ["PARAMS-OUT-OF-RANGE"],
            message=f"ConformanceFailure: {SCRIPT}",
            findings=[finding()],
            hypothesis=[f"Falsifying example: test(value={SCRIPT!r})", f"Draw 1: {IMG}"],
        ),
    ]
    return {
        "format": 1,
        "suite": {"name": "twentythree-replace-token-conformance", "version": "0.1.0", "python": "3.11.7"},
        "target": {
            "base_url": f"https://evil.example/{IMG}",
            "config": f"cfg{SVG}.toml",
            "embedded": False,
            "bounds_policy": "clamp",
            "destructive": False,
            "credential_levels": ["write"],
            "secret_env": ["EVIL_SECRET"],
        },
        "run": {
            "profile": "core",
            "seed": 4242,
            "settings_profile": "default",
            "hypothesis": {"max_examples": 25, "deadline": None, "database": None},
            "include_slow": False,
            "started_at": "2026-01-02T03:04:05Z",
            "duration_seconds": 12.5,
            "request_budget": 20000,
            "max_rps": 0.0,
            "timeout_seconds": 10.0,
            "max_body_bytes": 4194304,
            "run_deadline_seconds": 900.0,
            "requests_sent": 1234,
            "retries": 1,
            "transport_errors": 1,
            "timeouts": 0,
            "oversize_responses": 0,
            "clock_skew_seconds": -1.25,
            "preflight_error": None,
        },
        "integrity": {"catalog_sha256": "a" * 64, "schemas_sha256": {"get-replace-token.xsd": "b" * 64}},
        "summary": {
            "verdict": "NOT CONFORMANT",
            "exit_code": 1,
            "counts": {
                "MUST": {"fail": 1, "error": 1, "skip": 1, "not-in-profile": 1},
                "SHOULD": {"fail": 1},
            },
            "must_not_passed": ["HTTP-STATUS-200", "PARAMS-OUT-OF-RANGE"],
            "should_warnings": ["AUTH-NONCE-REPLAY"],
        },
        "requirements": reqs,
        "tests": tests,
    }


@pytest.fixture(scope="module")
def hostile_html() -> str:
    return render_html(hostile_results())


def test_hostile_report_is_well_formed(hostile_html: str) -> None:
    p = parse(hostile_html)
    assert p.errors == []
    assert p.doctype == "DOCTYPE html"
    assert len(p.ids) == len(set(p.ids)), [i for i, n in Counter(p.ids).items() if n > 1]


def test_nothing_from_the_target_becomes_markup(hostile_html: str) -> None:
    p = parse(hostile_html)
    assert set(p.tags) <= TEMPLATE_TAGS, set(p.tags) - TEMPLATE_TAGS
    assert p.tags["script"] == 1 and p.tags["style"] == 1 and p.tags["img"] == 0 and p.tags["svg"] == 0
    assert not [a for a in p.attrs if a[1].startswith("on")]
    assert "data-pwned" not in "".join(f"{t} {n}" for t, n, _ in p.attrs)
    text = "".join(p.text)
    for payload in PAYLOADS:
        assert payload in text, payload  # shown, verbatim, as text
    assert "49" not in text.replace("4942", "")  # no template evaluation of target data


def test_page_is_self_contained_and_locked_down(hostile_html: str) -> None:
    p = parse(hostile_html)
    assert p.tags["link"] == 0
    assert all(h.startswith("#") for h in p.hrefs), [h for h in p.hrefs if not h.startswith("#")]
    assert not [a for a in p.attrs if a[1] in ("src", "srcset", "action", "style")]
    csp = next(v for t, n, v in p.attrs if t == "meta" and n == "content" and v and "default-src" in v)
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp
    script = re.search(r"<script>(.*?)</script>", hostile_html, re.S)
    style = re.search(r"<style>(.*?)</style>", hostile_html, re.S)
    assert script and style
    for block in (script.group(1), style.group(1)):
        digest = base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
        assert (
            "http:" not in block and "https:" not in block and "url(" not in block and "@import" not in block
        )


def test_every_internal_link_lands_on_an_element(hostile_html: str) -> None:
    p = parse(hostile_html)
    missing = {h[1:] for h in p.hrefs} - set(p.ids)
    assert missing == set()


def test_header_shows_verdict_counts_and_run_facts(hostile_html: str) -> None:
    text = " ".join("".join(parse(hostile_html).text).split())
    for expected in (
        "NOT CONFORMANT",
        "https://evil.example/",
        "0.1.0",
        "profile core",
        "4242",
        "max_examples 25",
        "1234 sent of a budget of 20000",
        "2026-01-02T03:04:05Z",
        "12.5 s",
        "-1.25 s",
        "a" * 64,
        "b" * 64,
        "catalog.toml",
        "get-replace-token.xsd",
    ):
        assert expected in text, expected
    p = parse(hostile_html)
    assert p.tags["table"] >= 3


def test_matrix_groups_in_catalog_order_with_positions_and_test_links(hostile_html: str) -> None:
    matrix = hostile_html[hostile_html.index('id="matrix"') : hostile_html.index('id="failures"')]
    groups = re.findall(r'<tr class="group"><th colspan="7">([A-Z-]+)</th>', matrix)
    assert groups == ["AUTH", "HTTP", "PARAMS", "REDEEM"]
    assert "The vendor declares" in matrix and "Skipped without read credentials." in matrix
    for rid, label in (
        ("PARAMS-OUT-OF-RANGE", "FAIL"),
        ("AUTH-NONCE-REPLAY", "WARN"),
        ("HTTP-STATUS-200", "ERROR"),
        ("AUTH-READ-DENIED", "SKIP"),
        ("REDEEM-OK", "NOT IN PROFILE"),
    ):
        row = re.search(rf'<tr class="req" id="req-{rid}".*?</tr>', matrix, re.S)
        assert row and f">{label}<" in row.group(0), rid
    row = re.search(r'<tr class="req" id="req-PARAMS-OUT-OF-RANGE".*?</tr>', matrix, re.S)
    assert row is not None
    anchor = re.search(r'href="#(test-\d+)"', row.group(0))
    assert anchor and f'<section class="failure" id="{anchor.group(1)}">' in hostile_html


def test_failure_shows_expected_observed_request_response_reproduction_and_seed(hostile_html: str) -> None:
    p = parse(hostile_html)
    section = hostile_html[hostile_html.index('id="failures"') : hostile_html.index('id="warnings"')]
    sp = parse("<div>" + section.split(">", 1)[1].rsplit("<h2", 1)[0] + "</div>")
    text = "".join(sp.text)
    for expected in (
        "Expected",
        "a token",
        "Observed",
        "error",
        "Falsifying example",
        "Draw 1",
        "GET https://evil.example/api/photo/get-replace-token",
        "Authorization",
        'oauth_signature="<redacted>"',
        "HTTP 200",
        "X-Evil",
        "Logical request",
        "valid_minutes=",
    ):
        assert expected in text, expected
    repro = "".join(p.pre_text["repro"])
    assert "conformance replay --config" in repro and "export EVIL_SECRET" in repro
    assert "--seed 4242" in "".join(p.pre_text["repro rerun"])
    assert "connection error" in text  # the errored test's transport failure


def test_skips_list_their_reasons(hostile_html: str) -> None:
    section = hostile_html[hostile_html.index('id="skips"') : hostile_html.index('id="tests"')]
    assert "no read-level credentials" in section and "test_read_level_is_denied_with_read_level" in section


def test_large_bodies_are_cut_with_a_note() -> None:
    results = hostile_results()
    body = "x" * (HTML_BODY_LIMIT * 2)
    ex = results["tests"][3]["findings"][0]["exchange"]
    ex["response"].update(
        body=body, body_bytes=50000, body_truncated_in_report=True, body_truncated_by_cap=True
    )
    html = render_html(results)
    assert "x" * HTML_BODY_LIMIT in html and "x" * (HTML_BODY_LIMIT + 1) not in html
    assert f"showing the first {HTML_BODY_LIMIT} characters of 50000 bytes" in html
    assert "keeps only its first 16 KiB" in html and "more than max_body_bytes" in html


def test_conformant_and_unreachable_verdicts() -> None:
    results = hostile_results()
    results["summary"].update(verdict="CONFORMANT", exit_code=0, must_not_passed=[])
    assert 'class="verdict ok"' in render_html(results)
    results["summary"].update(verdict="UNREACHABLE", exit_code=3)
    results["run"]["preflight_error"] = "connection refused"
    html = render_html(results)
    assert 'class="verdict unreachable"' in html and "connection refused" in html


def test_incomplete_interrupted_and_accepted_gaps_are_in_the_banner_escaped() -> None:
    """Unverified MUSTs and their reasons (text that can come from a config) are shown, escaped."""
    results = hostile_results()
    gap = {"id": "AUTH-READ-DENIED", "reason": "no <b>read</b> credentials", "cause": "skipped"}
    results["summary"].update(verdict="INCOMPLETE", exit_code=4, must_failed=[], unverified=[gap])
    html = render_html(results)
    banner = html.split('id="verdict"', 1)[1].split('<table id="counts">', 1)[0]
    assert 'class="verdict incomplete"' in html and "MUST not verified (1)" in banner
    link = '<a href="#req-AUTH-READ-DENIED">AUTH-READ-DENIED</a>'
    assert f"{link}: no &lt;b&gt;read&lt;/b&gt; credentials" in banner
    assert parse(html).errors == []
    results["summary"].update(verdict="CONFORMANT", exit_code=0, unverified=[], accepted_unverified=[gap])
    banner = render_html(results).split('id="verdict"', 1)[1].split('<table id="counts">', 1)[0]
    assert "Accepted as unverified by the user (1" in banner and "AUTH-READ-DENIED</a>" in banner
    results["summary"].update(
        verdict="INTERRUPTED", exit_code=130, interrupted="SIGTERM", accepted_unverified=[]
    )
    html = render_html(results)
    assert 'class="verdict incomplete"' in html and "Interrupted by SIGTERM" in html


def test_sparse_results_still_render() -> None:
    """An old or truncated results.json gives a thinner page, never a crash."""
    sparse = copy.deepcopy(hostile_results())
    for key in ("suite", "integrity", "run", "target"):
        del sparse[key]
    sparse["tests"][3]["findings"][0]["exchange"]["response"] = None
    html = render_html(sparse)
    assert parse(html).errors == [] and "NOT CONFORMANT" in html
    assert parse(render_html({})).errors == []


def test_templates_ship_as_package_data() -> None:
    templates = resources.files("conformance.report") / "templates"
    names = {p.name for p in templates.iterdir()}
    assert {"report.html.j2", "_macros.html.j2", "report.css", "report.js"} <= names


def _failing_results(findings: list[dict[str, Any]], **rec: Any) -> dict[str, Any]:
    data = hostile_results()
    data["tests"] = [
        record(
            "test_format.py::test_xml_and_json_agree",
            "fail",
            ["FORMAT-XML-JSON-AGREE"],
            findings=findings,
            **rec,
        )
    ]
    return data


def test_failures_summary_sits_under_the_banner_before_the_matrix(hostile_html: str) -> None:
    summary = hostile_html.index('id="failures-summary"')
    assert hostile_html.index('id="verdict"') < summary < hostile_html.index('id="counts"')
    block = hostile_html[summary : hostile_html.index("</section>", summary)]
    text = " ".join("".join(parse("<div>" + block.split(">", 1)[1] + "</div>").text).split())
    assert "PARAMS-OUT-OF-RANGE: rejected" in text  # the first finding, escaped, linked to its evidence
    anchors = re.findall(r'href="#(test-\d+)"', block)
    assert anchors and all(f'id="{a}"' in hostile_html for a in anchors)


def test_absent_values_and_object_addresses_are_shown_for_people() -> None:
    note = "Falsifying example: test(api=<conformance.suite.plugin.Api object at 0x7f3a2b1c>, value=None)"
    data = _failing_results(
        [finding("RESPONSE-ECHO", message="return_url not echoed exactly", expected="'x'", observed="None")],
        hypothesis=[note],
    )
    page = render_html(data)
    text = " ".join("".join(parse(page).text).split())
    assert "(absent)" in text and "value=(absent)" in text
    assert not re.search(r"\bNone\b", text)
    assert " at 0x" not in page and "<conformance.suite.plugin.Api>" in text


def test_xml_json_disagreement_shows_both_answers_and_replays_the_failing_side() -> None:
    params = [["photo_id", "123456"], ["return_url", "https://example.com/done"]]
    json_ex = exchange('var visual = {"return_url": "https://example.com/done"};', id=21)
    json_ex["logical"] = {**json_ex["logical"], "params": [*params, ["format", "json"]]}
    xml_ex = exchange('<response status="ok"><return_url></return_url></response>', id=20)
    xml_ex["logical"] = {**xml_ex["logical"], "params": params}
    f = finding(
        "FORMAT-XML-JSON-AGREE",
        check="check_formats_agree",
        message="return_url differs: XML '', JSON 'https://example.com/done'",
        exchange=json_ex,
        related_exchange=xml_ex,
    )
    page = render_html(_failing_results([f]))
    p = parse(page)
    assert p.errors == []
    text = " ".join("".join(p.text).split())
    assert "XML answer: request, exchange #20" in text and "JSON answer: request, exchange #21" in text
    assert "Failing side: XML (its return_url is not the value sent" in text
    repro = "".join(p.pre_text["repro"])
    assert "--requirement FORMAT-XML-JSON-AGREE --check check_formats_agree" in repro
    assert "format=json" not in repro  # the XML side's request, which the replay sends in both formats
