"""No secret and no OAuth signature ever leaves a run, even when the target reflects them back.

The suite runs with distinctive secrets against a failing target that records every signature
it receives and reflects the request (Authorization header, URL, form body) into its answers in
many encodings; a second target (which, being the server, knows the secrets) reflects every
secret and signature base64/base64url/hex-encoded, percent/HTML/JSON-escaped, reversed and split
in two halves. Then every byte the run wrote is searched: the report directory, the run's cwd
(Hypothesis' .hypothesis included), stdout and stderr, raw and decoded. A one-character secret
is redacted without breaking results.json or losing report.html.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape, quoteattr

from conformance.model.credentials import Credentials
from tests.hostile import (
    Ctx,
    HostileServer,
    Received,
    RunOutcome,
    distinctive_credentials,
    reflect,
    run_conformance,
    secret_env,
    when,
    write_config,
)
from tests.test_robustness_runs import assert_survived, every_byte


def reflected(req: Received) -> bool:
    """About half of the signed requests (those whose signature starts below 'a') are reflected."""
    return any(sig[0] < "a" for sig in req.signatures())


def decoded(data: bytes) -> str:
    """The bytes with the usual escapes undone, so an encoded leak is found too."""
    text = data.decode("utf-8", errors="replace")
    text = html.unescape(html.unescape(text))
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text).replace("\\/", "/")
    return unquote(unquote(text))


def reflecting_run(
    tmp_path: Path, reflector: Any, creds: dict[str, Credentials], keyword: str
) -> tuple[RunOutcome, set[str]]:
    """A run against a target that reflects about half the signed requests; the signatures it saw."""
    with HostileServer(when(reflected, reflector), upstream=True, credentials=creds) as hs:
        config = write_config(tmp_path / "target.toml", hs.base_url, creds)
        out = run_conformance(
            tmp_path,
            config,
            *("--max-examples", "3", "--timeout", "2", "--deadline", "30", "-k", keyword),
            env=secret_env(creds),
            quiet=False,  # the per-test console lines are searched too
        )
        signatures = set(hs.signatures())
        reflections = sum(reflected(r) for r in hs.received)
    assert_survived(out, 30)
    assert len(signatures) >= 15 and reflections >= 5, (len(signatures), reflections)
    return out, signatures


def test_no_secret_or_signature_is_written_anywhere(tmp_path: Path) -> None:
    creds = distinctive_credentials("s")
    out, signatures = reflecting_run(
        tmp_path,
        reflect,
        creds,
        "auth or test_success_and_errors_are_http_200 or test_get_and_post or test_post_does_not_use",
    )
    assert out.code == 1

    written = every_byte(out)
    plain = written.decode("utf-8", errors="replace")
    normal = decoded(written)
    secrets = [s for c in creds.values() for s in (c.consumer_secret, c.access_token_secret)]
    for needle in secrets + sorted(signatures):
        for form in {needle, quote(needle, safe=""), needle.replace("/", "\\/")}:
            assert form not in plain, f"leaked: {form}"
        assert needle not in normal, f"leaked in an encoded form: {needle}"

    # The redaction did happen (the reflections reached the recorded bodies) ...
    results = (out.report_dir / "results.json").read_text()
    assert "[redacted]" in results and "<redacted>" in results
    # ... reproductions name the environment variables instead of the values ...
    assert "HOSTILE_WRITE_CONSUMER_SECRET" in results
    # ... and the run left nothing in its cwd: no .hypothesis example database, no logs.
    assert not (out.cwd / ".hypothesis").exists()
    assert list(out.cwd.iterdir()) == []


# ------------------------------------------------------------------ encoded reflections
def encoded(value: str) -> dict[str, str]:
    """How a reflecting server plausibly dresses a value up (each form names its encoding)."""
    raw = value.encode()
    half = len(value) // 2
    return {
        "base64": base64.b64encode(raw).decode(),
        "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "percent": quote(value, safe=""),
        "html": "".join(f"&#{ord(c)};" for c in value),
        "json": "".join(f"\\u{ord(c):04x}" for c in value),
        "reversed": value[::-1],
        "halves": f"{value[:half]} / {value[half:]}",
    }


def reflect_encoded(secrets: list[str]) -> Callable[[Ctx], None]:
    """A failing answer carrying every secret and signature of the request in every encoding."""

    def behaviour(ctx: Ctx) -> None:
        values = [*secrets, *sorted(ctx.req.signatures())]
        auth = ctx.req.header("Authorization") or ""
        parts = [f"{name}={form}" for v in values for name, form in encoded(v).items()]
        # The whole request base64-encoded: the signature sits at some byte alignment inside it.
        parts.append("request=" + base64.b64encode(f"{ctx.req.target} {auth}".encode()).decode())
        message = " ; ".join(parts)
        body = (
            '<?xml version="1.0" encoding="utf-8"?>\n<response status="error" code="reflected" message='
            + quoteattr(message)
            + ' permission_level="write"><echo>'
            + escape(message)
            + "</echo></response>"
        ).encode()
        ctx.handler.send_response_only(200, "OK " + " ".join(v[::-1] for v in values))
        for k, v in (
            ("Content-Type", "text/xml; charset=utf-8"),
            ("X-Echo", " ".join(encoded(v)["base64"] for v in values)),
            ("Content-Length", str(len(body))),
        ):
            ctx.handler.send_header(k, v)
        ctx.handler.end_headers()
        ctx.raw(body)

    return behaviour


def search_forms(value: str) -> set[str]:
    """What must not be found: each encoding, base64 at every byte alignment, each half."""
    forms = {value, *encoded(value).values()} - {encoded(value)["halves"]}
    half = len(value) // 2
    forms |= {value[:half], value[half:]}
    return forms | base64_cores(value.encode())


def base64_cores(raw: bytes) -> set[str]:
    """The characters of base64 (both alphabets) that depend on ``raw`` alone, at every byte
    alignment inside a longer text."""
    cores: set[str] = set()
    for align in range(3):
        core = base64.b64encode(b"\0" * align + raw).decode()[
            -(-8 * align // 6) : (8 * (align + len(raw))) // 6
        ]
        cores |= {core, core.replace("+", "-").replace("/", "_")}
    return cores


def test_secrets_and_signatures_reflected_in_any_encoding_are_never_written(tmp_path: Path) -> None:
    creds = distinctive_credentials("e")
    secrets = [s for c in creds.values() for s in (c.consumer_secret, c.access_token_secret)]
    out, signatures = reflecting_run(
        tmp_path,
        reflect_encoded(secrets),
        creds,
        "auth or test_success_and_errors_are_http_200 or test_get_and_post",
    )

    written = every_byte(out)
    plain = written.decode("utf-8", errors="replace")
    normal = decoded(written)
    for needle in secrets + sorted(signatures):
        for form in sorted(search_forms(needle)):
            assert form not in plain, f"leaked: {form!r} (of {needle!r})"
            assert form not in normal, f"leaked in an escaped form: {form!r} (of {needle!r})"
    # The reflections were recorded (redacted), and the documents are intact.
    results = (out.report_dir / "results.json").read_text()
    assert json.loads(results)["summary"]["exit_code"] == 1
    assert "[redacted]" in results and "request=" in results
    assert (out.report_dir / "report.html").stat().st_size > 1000


def test_a_one_character_secret_breaks_no_report_and_no_verdict(tmp_path: Path) -> None:
    """consumer_secret = "s": results.json stays JSON (``false`` intact), report.html is written,
    and the checks still judge what the target sent (a conformant target passes)."""
    creds = distinctive_credentials("o")
    creds["write"] = Credentials("write", creds["write"].consumer_key, "s", creds["write"].access_token, "e")
    with HostileServer(Ctx.forward, upstream=True, credentials=creds) as hs:
        config = write_config(tmp_path / "target.toml", hs.base_url, creds)
        out = run_conformance(
            tmp_path,
            config,
            "-k",
            "test_success_and_errors_are_http_200 or test_get_and_post or test_xml_is_the_default",
            env=secret_env(creds),
            hard_timeout=120,
        )
    results = json.loads((out.report_dir / "results.json").read_text(encoding="utf-8"))
    assert results["run"]["partial"] is True and results["run"]["budget_exhausted"] is False
    assert len(results["tests"]) >= 2, out.stdout[-3000:]
    assert all(t["verdict"] == "pass" for t in results["tests"]), out.stdout[-3000:]
    judged = {r["verdict"] for r in results["requirements"]}
    assert "pass" in judged and not judged & {"fail", "error", "blocked"}, judged
    html_report = (out.report_dir / "report.html").read_text(encoding="utf-8")
    assert results["summary"]["verdict"] in html_report and "fal<redacted>e" not in html_report
    # The short secret still never stands alone in what was written (whole-token redaction).
    assert not re.search(r"(?<![A-Za-z0-9])s(?![A-Za-z0-9])", json.dumps(results["tests"]))


def reflect_request_encoded(ctx: Ctx) -> None:
    """A failing answer echoing the whole Authorization header, URL and body base64- and hex-encoded:
    inside them the signature is percent-encoded, so its own encodings are not what shows."""
    auth = ctx.req.header("Authorization") or ""
    parts = []
    for name, text in (("auth", auth), ("url", ctx.req.target), ("body", ctx.req.body.decode("latin-1"))):
        raw = text.encode()
        parts += [
            f"{name}.b64={base64.b64encode(raw).decode()}",
            f"{name}.b64url={base64.urlsafe_b64encode(b'x' + raw).decode()}",
            f"{name}.hex={raw.hex()}",
        ]
    message = " ; ".join(parts)
    body = (
        '<?xml version="1.0" encoding="utf-8"?>\n<response status="error" code="reflected" message='
        + quoteattr(message)
        + ' permission_level="write"/>'
    ).encode()
    ctx.respond(body, headers=[("Content-Type", "text/xml; charset=utf-8"), ("X-Echo", parts[0])])


def header_search_forms(value: str) -> set[str]:
    """The base64 (every alignment, both alphabets) and hex forms of the value percent-encoded."""
    forms: set[str] = set()
    for encoded in (quote(value, safe="~"), quote(quote(value, safe="~"), safe="~")):
        raw = encoded.encode()
        forms |= {raw.hex(), raw.hex().upper(), *base64_cores(raw)}
    return forms


def test_the_request_echoed_base64_or_hex_encoded_reaches_no_report(tmp_path: Path) -> None:
    creds = distinctive_credentials("b")
    secrets = [s for c in creds.values() for s in (c.consumer_secret, c.access_token_secret)]
    out, signatures = reflecting_run(
        tmp_path, reflect_request_encoded, creds, "auth or test_success_and_errors_are_http_200"
    )
    written = every_byte(out).decode("utf-8", errors="replace")
    reports = {
        name: (out.report_dir / name).read_text(encoding="utf-8") for name in ("report.html", "results.json")
    }
    assert "auth.b64=" in reports["results.json"] and "[redacted]" in reports["results.json"]
    for needle in secrets + sorted(signatures):
        for form in sorted(header_search_forms(needle) | search_forms(needle)):
            assert form not in written, f"leaked: {form!r} (of {needle!r})"
            for name, text in reports.items():
                assert form not in text, f"{name}: {form!r} (of {needle!r})"
