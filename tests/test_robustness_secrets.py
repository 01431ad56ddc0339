"""No secret and no OAuth signature ever leaves a run, even when the target reflects them back.

The suite runs with distinctive secrets against a failing target that records every signature
it receives and reflects the request (Authorization header, URL, form body) into its answers in
many encodings. Then every byte the run wrote is searched: the report directory, the run's cwd
(Hypothesis' .hypothesis included), stdout and stderr, raw and decoded.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import quote, unquote

from tests.hostile import (
    HostileServer,
    Received,
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


def test_no_secret_or_signature_is_written_anywhere(tmp_path: Path) -> None:
    creds = distinctive_credentials("s")
    with HostileServer(when(reflected, reflect), upstream=True, credentials=creds) as hs:
        config = write_config(tmp_path / "target.toml", hs.base_url, creds)
        out = run_conformance(
            tmp_path,
            config,
            "--max-examples",
            "3",
            "--timeout",
            "2",
            "--deadline",
            "30",
            "-k",
            "auth or test_success_and_errors_are_http_200 or test_get_and_post or test_post_does_not_use",
            env=secret_env(creds),
            quiet=False,  # the per-test console lines are searched too
        )
        signatures = hs.signatures()
        reflections = sum(reflected(r) for r in hs.received)
    assert_survived(out, 30)
    assert out.code == 1
    assert len(signatures) >= 15 and reflections >= 5, (len(signatures), reflections)

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
