"""The signed preflight: a mistake of the user is one line and exit 2, sent after only the preflight.

Every run here goes through a counting proxy (tests/hostile.py's HostileServer) in front of a real
reference server, or through a tiny loopback server that answers like a wrong base_url would, so
the tests see exactly how many requests reached the target before the run stopped.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from conformance.parse.schemas import json_validator
from tests.hostile import (
    PHOTO_ID,
    Ctx,
    HostileServer,
    RunOutcome,
    distinctive_credentials,
    fixed,
    run_conformance,
    secret_env,
    write_config,
)

CREDS = distinctive_credentials("pf")
ENV = secret_env(CREDS)
FAST = ("--max-examples", "2", "--timeout", "5")
ONE_TEST = ("-k", "test_write_level_gets_token")
NOT_FOUND_PAGE = b"<!DOCTYPE html><html><head><title>404</title></head><body>Not Found</body></html>"
REJECTED = (
    "write credentials rejected (invalid_signature): check all four of [credentials.write]: "
    "consumer_key, consumer_secret, access_token, access_token_secret"
)
INVALID_SIGNATURE = (
    b'<?xml version="1.0" encoding="utf-8"?>\n<response status="error" code="invalid_signature" '
    b'message="bad signature" permission_level="anonymous"/>'
)


def _stderr_lines(out: RunOutcome) -> list[str]:
    return [line for line in out.stderr.splitlines() if line.strip()]


def _config(tmp_path: Path, base_url: str, photo_id: str = PHOTO_ID) -> Path:
    path = write_config(tmp_path / "target.toml", base_url, CREDS)
    text = re.sub(r'(?m)^photo_id = ".*"$', f'photo_id = "{photo_id}"', path.read_text(encoding="utf-8"))
    path.write_text(text, encoding="utf-8")
    return path


def _passed_partial_run(out: RunOutcome) -> bool:
    """A -k run whose selected tests all passed: CONFORMANT, or INCOMPLETE for what -k left out."""
    return out.code in (0, 4) and {t["verdict"] for t in out.tests()} == {"pass"}


def _stopped_by_preflight(out: RunOutcome, line: str) -> None:
    """Exit 2 with one line; results.json and junit.xml still say why, for CI (no verdict on the target)."""
    assert out.code == 2, out.stdout[-2000:] + out.stderr[-2000:]
    assert _stderr_lines(out) == [f"conformance: {line}"]
    results = json.loads((out.report_dir / "results.json").read_text(encoding="utf-8"))
    assert results["summary"]["verdict"] == "STOPPED" and results["summary"]["exit_code"] == 2
    assert results["summary"]["stopped"] == {"by": "preflight", "reason": line}
    assert results["tests"] == [] and results["summary"]["must_failed"] == []
    assert {r["verdict"] for r in results["requirements"]} <= {"not-run", "not-in-profile"}
    junit = ET.parse(out.report_dir / "junit.xml").getroot()
    (case,) = junit.iter("testcase")
    (error,) = case.iter("error")
    assert case.get("name") == "preflight" and line in (error.get("message") or "")
    assert list(json_validator("results.schema.json").iter_errors(results)) == []


def test_a_wrong_consumer_secret_stops_after_the_two_preflight_requests(tmp_path: Path) -> None:
    with HostileServer(Ctx.forward, upstream=True, credentials=CREDS) as hs:
        config = _config(tmp_path, hs.base_url)
        env = {**ENV, "HOSTILE_WRITE_CONSUMER_SECRET": "not-the-secret-1234"}
        out = run_conformance(tmp_path, config, *FAST, env=env)
    _stopped_by_preflight(out, REJECTED)
    # Signed in the header, then once more in the query before blaming the credentials.
    assert hs.count == 2
    assert hs.received[0].header("Authorization") is not None
    assert hs.received[1].param("oauth_signature") is not None


def test_a_wrong_token_secret_is_the_same_one_line(tmp_path: Path) -> None:
    with HostileServer(Ctx.forward, upstream=True, credentials=CREDS) as hs:
        config = _config(tmp_path, hs.base_url)
        env = {**ENV, "HOSTILE_WRITE_TOKEN_SECRET": "not-the-token-secret-5678"}
        out = run_conformance(tmp_path, config, *FAST, *ONE_TEST, env=env)
    _stopped_by_preflight(out, REJECTED)
    assert hs.count == 2


def test_an_unknown_photo_id_stops_after_one_request(tmp_path: Path) -> None:
    with HostileServer(Ctx.forward, upstream=True, credentials=CREDS) as hs:
        config = _config(tmp_path, hs.base_url, photo_id="777")
        out = run_conformance(tmp_path, config, *FAST, env=ENV)
    _stopped_by_preflight(out, "photo_id 777 does not exist on the target")
    assert hs.count == 1


def test_a_404_page_means_base_url_is_not_the_site_root(tmp_path: Path) -> None:
    with HostileServer(fixed(NOT_FOUND_PAGE, "text/html", status=404)) as hs:
        config = _config(tmp_path, hs.base_url + "/videos")
        out = run_conformance(tmp_path, config, *FAST, env=ENV)
    _stopped_by_preflight(
        out, "base_url must be the site root (got 404 for /videos/api/photo/get-replace-token)"
    )
    assert hs.count == 1


def test_an_html_page_means_base_url_is_not_the_site_root(tmp_path: Path) -> None:
    page = b"<html><head><title>Welcome</title></head><body>Our videos</body></html>"
    with HostileServer(fixed(page, "text/html; charset=utf-8")) as hs:
        config = _config(tmp_path, hs.base_url)
        out = run_conformance(tmp_path, config, *FAST, env=ENV)
    _stopped_by_preflight(
        out, "base_url must be the site root (got an HTML page for /api/photo/get-replace-token)"
    )
    assert hs.count == 1


def test_a_redirect_of_the_api_path_names_the_base_url_to_use(tmp_path: Path) -> None:
    """http:// for an https-only site: the API path answers 301 to https://; that is the base_url."""

    def to_https(ctx: Ctx) -> None:
        ctx.respond(
            b"",
            status=301,
            headers=[
                ("Location", f"https://videos.example.com{ctx.req.target}"),
                ("Content-Type", "text/html"),
            ],
        )

    with HostileServer(to_https) as hs:
        config = _config(tmp_path, hs.base_url)
        out = run_conformance(tmp_path, config, *FAST, env=ENV)
    _stopped_by_preflight(
        out,
        "base_url must be the site root the API answers on (got 301 to "
        'https://videos.example.com/api/photo/get-replace-token): set base_url = "https://videos.example.com"',
    )
    assert hs.count == 1


# ------------------------------------------------------------------ never a conformant target's fault
def test_an_api_answer_with_status_404_is_judged_not_blamed_on_base_url(tmp_path: Path) -> None:
    """A target that answers the API with HTTP 404 is non-conformant (HTTP-STATUS-200), not misconfigured."""

    def api_answer_as_404(ctx: Ctx) -> None:
        _, headers, body = ctx.proxy()
        ctx.respond(body, status=404, headers=headers)

    with HostileServer(api_answer_as_404, upstream=True, credentials=CREDS) as hs:
        config = _config(tmp_path, hs.base_url)
        out = run_conformance(tmp_path, config, *FAST, "-k", "test_success_and_errors_are_http_200", env=ENV)
    assert out.code == 1, out.stderr[-2000:]
    assert {r["id"]: r["verdict"] for r in out.results["requirements"]}["HTTP-STATUS-200"] == "fail"
    assert hs.count > 1


def test_a_signature_refused_only_in_the_header_is_the_targets_failure(tmp_path: Path) -> None:
    """Credentials that verify in the query are right: the run goes on and judges the header placement."""

    def header_broken(ctx: Ctx) -> None:
        if ctx.req.header("Authorization") is not None:
            ctx.respond(INVALID_SIGNATURE)
        else:
            ctx.forward()

    with HostileServer(header_broken, upstream=True, credentials=CREDS) as hs:
        config = _config(tmp_path, hs.base_url)
        out = run_conformance(
            tmp_path,
            config,
            *FAST,
            "-k",
            "test_oauth_in_authorization_header or test_oauth_in_get_query",
            env=ENV,
        )
    assert out.code == 1, out.stderr[-2000:]
    verdicts = {r["id"]: r["verdict"] for r in out.results["requirements"]}
    assert verdicts["AUTH-PLACEMENT-HEADER"] == "fail" and verdicts["AUTH-PLACEMENT-QUERY"] == "pass"
    assert "write credentials rejected" not in out.stderr


def test_write_credentials_answered_permission_denied_are_judged_with_a_note(tmp_path: Path) -> None:
    """Verified but refused: AUTH-WRITE-GRANTED fails on the answer; the console names the mix-up."""
    creds = {**CREDS, "write": CREDS["read"]}  # read-level credentials declared as write
    with HostileServer(Ctx.forward, upstream=True, credentials=CREDS) as hs:
        config = write_config(tmp_path / "target.toml", hs.base_url, creds)
        out = run_conformance(tmp_path, config, *FAST, *ONE_TEST, env=secret_env(creds))
    assert out.code == 1, out.stderr[-2000:]
    assert {r["id"]: r["verdict"] for r in out.results["requirements"]}["AUTH-WRITE-GRANTED"] == "fail"
    assert "permission_denied (permission_level read) to [credentials.write]" in out.stderr


def test_preflight_requests_are_counted_like_every_other(tmp_path: Path) -> None:
    with HostileServer(Ctx.forward, upstream=True, credentials=CREDS) as hs:
        config = _config(tmp_path, hs.base_url)
        out = run_conformance(tmp_path, config, *FAST, *ONE_TEST, env=ENV)
    assert _passed_partial_run(out), out.stdout[-2000:] + out.stderr[-2000:]
    assert out.results["run"]["requests_sent"] == hs.count
    # the preflight's own request comes first, signed with the write credentials for photo_id
    first = hs.received[0]
    assert first.header("Authorization") is not None and first.param("photo_id") == PHOTO_ID


def test_a_second_run_keeps_the_first_results_as_previous(tmp_path: Path) -> None:
    with HostileServer(Ctx.forward, upstream=True, credentials=CREDS) as hs:
        config = _config(tmp_path, hs.base_url)
        first = run_conformance(tmp_path, config, *FAST, *ONE_TEST, env=ENV)
        first_text = (first.report_dir / "results.json").read_text(encoding="utf-8")
        second = run_conformance(tmp_path, config, *FAST, "-k", "test_oauth_in_get_query", env=ENV)
    assert _passed_partial_run(first) and _passed_partial_run(second), second.stderr[-2000:]
    previous = second.report_dir / "results.previous.json"
    assert previous.read_text(encoding="utf-8") == first_text
    names = [t["name"] for t in json.loads(first_text)["tests"]]
    assert names == ["test_write_level_gets_token_and_reports_write"]
    assert [t["name"] for t in second.results["tests"]] == ["test_oauth_in_get_query"]
