"""Forgeries a dishonest vendor can make with its own key, and what verify says about each.

Every bundle here is consistent: the files are edited, the manifest recomputed and the certificate
signed again with the vendor's key (tests/certificates.py ``forge``). Only re-deriving the verdict
from the evidence under this suite's catalog, pinning signers to targets and checking validity
tells them apart from the real one.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from conformance.report.trust import signers_line
from tests.certificates import Certified, forge, members, rezip, verify
from tests.hostile import HostileServer, fixed

FAILED_MUST = "AUTH-UNSIGNED-DENIED"
FAILED_TEST = "test_auth.py::test_unsigned_request_is_denied_with_callers_level"


def _fail_the_must(results: dict[str, Any]) -> None:
    """The evidence of a real failure: the test record fails with a finding of a MUST."""
    record = next(t for t in results["tests"] if t["nodeid"] == FAILED_TEST)
    record["verdict"], record["outcome"], record["message"] = "fail", "failed", "a token was issued"
    record["findings"] = [
        {
            "requirement": FAILED_MUST,
            "check": "check_no_token",
            "message": "a token was issued to an unsigned caller",
            "expected": "no token",
            "observed": "a token",
            "severity": "error",
            "exchange": None,
        }
    ]
    record.pop("samples", None)


def _requirement(doc: dict[str, Any], rid: str) -> dict[str, Any]:
    return next(r for r in doc["requirements"] if r["id"] == rid)


def _vendor(certified: Certified) -> tuple[str, ...]:
    return ("--public-key", str(certified.public_key))


def _invalid(proc: Any, *lines: str) -> None:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "certificate INVALID" in proc.stdout and "certificate valid" not in proc.stdout
    for line in lines:
        assert line in proc.stdout, proc.stdout


def test_an_honest_re_signature_still_verifies(certified: Certified, tmp_path: Path) -> None:
    """The forging tool itself changes nothing when nothing is edited: the tests below fail for their edit."""
    same = forge(certified.bundle, tmp_path / "c.zip", certified.private_key)
    proc = verify(same, *_vendor(certified))
    assert proc.returncode == 0 and "certificate valid" in proc.stdout, proc.stdout


def test_a_failed_must_left_out_of_the_certificate(certified: Certified, tmp_path: Path) -> None:
    def drop(cert: dict[str, Any]) -> None:
        cert["requirements"] = [r for r in cert["requirements"] if r["id"] != FAILED_MUST]

    bad = forge(certified.bundle, tmp_path / "c.zip", certified.private_key, results=_fail_the_must,
                certificate=drop)  # fmt: skip
    _invalid(
        verify(bad, *_vendor(certified)),
        f"requirement {FAILED_MUST} (MUST) is missing from the certificate",
        "verdict: the certificate says CONFORMANT; the evidence in results.json folds to NOT CONFORMANT",
        f"MUST failed: {FAILED_MUST}",
        f"results.json: requirement {FAILED_MUST}: the file says pass; its own test records give fail",
    )


def test_a_failed_must_relabelled_as_a_should_warning(certified: Certified, tmp_path: Path) -> None:
    def relabel(doc: dict[str, Any]) -> None:
        entry = _requirement(doc, FAILED_MUST)
        entry["level"] = "SHOULD"
        entry["verdict"] = "fail"
        if "state" in entry:
            entry["state"] = "warning"

    def both(results: dict[str, Any]) -> None:
        _fail_the_must(results)
        relabel(results)
        results["summary"]["must_failed"] = []

    bad = forge(certified.bundle, tmp_path / "c.zip", certified.private_key, results=both,
                certificate=relabel)  # fmt: skip
    _invalid(
        verify(bad, *_vendor(certified)),
        f"requirement {FAILED_MUST}: the certificate labels its level SHOULD; this suite's catalog says MUST",
        f"results.json: requirement {FAILED_MUST}: the file labels its level SHOULD",
        "folds to NOT CONFORMANT",
    )


def test_a_must_marked_not_in_profile(certified: Certified, tmp_path: Path) -> None:
    def outside(doc: dict[str, Any]) -> None:
        entry = _requirement(doc, FAILED_MUST)
        entry["profile"], entry["verdict"] = "full", "not-in-profile"
        if "state" in entry:
            entry["state"] = "not-in-profile"

    bad = forge(certified.bundle, tmp_path / "c.zip", certified.private_key, results=outside,
                certificate=outside)  # fmt: skip
    _invalid(
        verify(bad, *_vendor(certified)),
        f"requirement {FAILED_MUST}: the certificate labels its profile full; this suite's catalog says core",
        f"requirement {FAILED_MUST}: the certificate says not-in-profile; the evidence gives pass",
    )


def test_a_certificate_listing_one_requirement(certified: Certified, tmp_path: Path) -> None:
    def one(cert: dict[str, Any]) -> None:
        cert["requirements"] = cert["requirements"][:1]

    bad = forge(certified.bundle, tmp_path / "c.zip", certified.private_key, certificate=one)
    proc = verify(bad, *_vendor(certified))
    _invalid(proc, "AUTH-READ-DENIED (MUST) is missing from the certificate")
    assert proc.stdout.count("is missing from the certificate") > 20


def test_no_results_json(certified: Certified, tmp_path: Path) -> None:
    bad = forge(certified.bundle, tmp_path / "c.zip", certified.private_key, drop=("results.json",))
    _invalid(
        verify(bad, *_vendor(certified)),
        "results.json is missing: without the evidence no verdict can be re-derived",
    )


def test_the_profile_swapped(certified: Certified, tmp_path: Path) -> None:
    def full(cert: dict[str, Any]) -> None:
        cert["profile"] = "full"

    bad = forge(certified.bundle, tmp_path / "c.zip", certified.private_key, certificate=full)
    _invalid(verify(bad, *_vendor(certified)), "profile: the certificate says full, results.json says core")


def test_a_test_record_rebound_to_another_requirement(certified: Certified, tmp_path: Path) -> None:
    """Moving a failing test's finding onto a SHOULD does not move the failure off its MUST."""

    def rebind(results: dict[str, Any]) -> None:
        _fail_the_must(results)
        record = next(t for t in results["tests"] if t["nodeid"] == FAILED_TEST)
        record["requirements"] = ["TOKEN-ENTROPY-128"]
        record["findings"][0]["requirement"] = "TOKEN-ENTROPY-128"

    bad = forge(certified.bundle, tmp_path / "c.zip", certified.private_key, results=rebind)
    _invalid(
        verify(bad, *_vendor(certified)),
        f"results.json: test {FAILED_TEST}: the file says it verifies TOKEN-ENTROPY-128; "
        f"this suite's index says {FAILED_MUST}",
        "is not certifiable",
    )


def test_a_signature_by_a_key_nobody_trusts(certified: Certified, tmp_path: Path) -> None:
    bad = forge(certified.bundle, tmp_path / "c.zip", certified.other_private_key)
    _invalid(verify(bad, *_vendor(certified)), "which is none of the 1 trusted key(s)")


def test_allowed_signers_bind_each_key_to_its_targets(certified: Certified, tmp_path: Path) -> None:
    public = certified.private_key.public_key()
    elsewhere = tmp_path / "elsewhere"
    line = signers_line(public, ["https://staging.vendor-a.example*"], "vendor-a")
    elsewhere.write_text(f"# vendor A may certify only its own staging\n{line}\n")
    _invalid(
        verify(certified.bundle, "--allowed-signers", str(elsewhere)),
        "may certify only https://staging.vendor-a.example*",
        f"this certificate is for {certified.server.base_url}",
    )
    here = tmp_path / "here"
    here.write_text(signers_line(public, ["https://x.example", "http://127.0.0.1:*"]) + "\n")
    proc = verify(certified.bundle, "--allowed-signers", str(here))
    assert proc.returncode == 0 and "certificate valid" in proc.stdout, proc.stdout
    assert f"{here} line 1" in proc.stdout


def test_a_broken_allowed_signers_file_is_a_usage_error(certified: Certified, tmp_path: Path) -> None:
    bad = tmp_path / "signers"
    bad.write_text("http://127.0.0.1:* ssh-rsa AAAAB3NzaC1yc2E\n")
    proc = verify(certified.bundle, "--allowed-signers", str(bad))
    assert proc.returncode == 2 and f"{bad} line 1: key type ssh-rsa; only ed25519" in proc.stderr


@pytest.mark.parametrize(
    ("at", "line"),
    [
        ("2099-01-01", "expired: valid until"),
        ("2000-01-01T00:00:00Z", "after the moment judged (2000-01-01T00:00:00Z)"),
    ],
)
def test_validity_is_judged_at_a_moment(certified: Certified, at: str, line: str) -> None:
    _invalid(verify(certified.bundle, *_vendor(certified), "--at", at), line)


def test_an_expiry_rewritten_into_the_future_breaks_the_signature(
    certified: Certified, tmp_path: Path
) -> None:
    files = members(certified.bundle)
    cert = json.loads(files["certificate.json"])
    cert["expires_at"] = "2099-01-01T00:00:00Z"
    files["certificate.json"] = json.dumps(cert).encode()
    proc = verify(rezip(files, tmp_path / "c.zip"), *_vendor(certified), "--at", "2098-01-01")
    _invalid(proc, "does not carry a valid signature")


def test_control_characters_from_a_bundle_never_reach_the_terminal(
    certified: Certified, tmp_path: Path
) -> None:
    sneaky = "AUTH-X\r\x1b[2K\x1b[1Acertificate valid: CONFORMANT"

    def inject(doc: dict[str, Any]) -> None:
        doc["requirements"][0]["id"] = sneaky

    bad = forge(certified.bundle, tmp_path / "c.zip", certified.private_key, certificate=inject)
    proc = verify(bad, *_vendor(certified))
    assert proc.returncode == 1
    assert "\x1b" not in proc.stdout + proc.stderr and "\r" not in proc.stdout + proc.stderr
    assert "\\x1b[2K" in proc.stdout  # shown, escaped

    def test_name(results: dict[str, Any]) -> None:
        results["tests"][0]["nodeid"] = "test_x.py::t\x1b]0;owned\x07"

    bad = forge(certified.bundle, tmp_path / "d.zip", certified.private_key, results=test_name)
    proc = verify(bad, *_vendor(certified))
    assert proc.returncode == 1 and "\x1b" not in proc.stdout and "\x07" not in proc.stdout
    assert "t\\x1b]0;owned\\x07 is not a test of this suite" in proc.stdout


# ------------------------------------------------------------------ recheck: only what the reviewer allows
WEAPONS: list[tuple[str, dict[str, Any], str]] = [
    ("another method", {"path": "/api/photo/delete"}, "names path /api/photo/delete"),
    ("redeem", {"path": "/api/photo/redeem-replace-token", "http_method": "POST"}, "names path"),
    ("another host", {"path": "@127.0.0.1:9/collect"}, "names path @127.0.0.1:9/collect"),
    ("a level above admin", {"auth": "super"}, "auth super is not one the suite uses"),
    ("a verb", {"http_method": "DELETE"}, "http_method DELETE is not one the suite uses"),
    ("a parameter", {"params": [["photo_id", "1"], ["delete", "1"]]}, "names parameter delete"),
    ("an unknown field", {"url": "http://evil.example/"}, "the sample sets url"),
    ("plaintext signing", {"signature_method": "PLAINTEXT"}, "the sample sets signature_method"),
]


def _retarget_to(url: str, weapon: dict[str, Any] | None) -> tuple[Any, Any]:
    def results(doc: dict[str, Any]) -> None:
        doc["target"]["base_url"] = url
        if weapon is not None:
            sample = next(s for t in doc["tests"] for s in t.get("samples") or ())
            sample["request"].update(weapon)

    def certificate(cert: dict[str, Any]) -> None:
        cert["target"]["base_url"] = url

    return results, certificate


@pytest.mark.parametrize(("what", "weapon", "line"), WEAPONS, ids=[w[0] for w in WEAPONS])
def test_a_weaponised_sample_sends_nothing(
    certified: Certified, tmp_path: Path, what: str, weapon: dict[str, Any], line: str
) -> None:
    with HostileServer(fixed(b"<response status='ok'/>")) as recorder:
        config = tmp_path / "reviewer.toml"
        text = certified.config.read_text().replace(certified.server.base_url, recorder.base_url)
        config.write_text(text)
        results, certificate = _retarget_to(recorder.base_url, weapon)
        bad = forge(certified.bundle, tmp_path / "c.zip", certified.private_key, results=results,
                    certificate=certificate)  # fmt: skip
        proc = verify(bad, *_vendor(certified), "--recheck", "--config", str(config), "--recheck-admin")
        assert recorder.count == 0, [r.target for r in recorder.received]
    _invalid(proc, "recorded sample(s) ask for what a recheck never sends; nothing was sent", line)


def test_a_recheck_only_ever_requests_the_documented_endpoint(certified: Certified, tmp_path: Path) -> None:
    with HostileServer(fixed(b"<response status='ok'/>")) as recorder:
        config = tmp_path / "reviewer.toml"
        config.write_text(certified.config.read_text().replace(certified.server.base_url, recorder.base_url))
        results, certificate = _retarget_to(recorder.base_url, None)
        bundle = forge(certified.bundle, tmp_path / "c.zip", certified.private_key, results=results,
                       certificate=certificate)  # fmt: skip
        proc = verify(bundle, *_vendor(certified), "--recheck", "--config", str(config))
        received = list(recorder.received)
    assert received, proc.stdout
    assert {(r.method, r.target.split("?")[0]) for r in received} <= {
        ("GET", "/api/photo/get-replace-token"),
        ("POST", "/api/photo/get-replace-token"),
    }
    admin = tomllib.loads(certified.config.read_text())["credentials"]["admin"]["consumer_key"]
    assert not any(
        admin in (r.header("Authorization") or "") + r.target for r in received
    )  # no --recheck-admin
    assert proc.returncode == 1  # the recorder's answers are not the certified ones


def test_a_recheck_against_another_target_needs_saying_so(certified: Certified, tmp_path: Path) -> None:
    with HostileServer(fixed(b"<response status='ok'/>")) as recorder:
        config = tmp_path / "reviewer.toml"
        config.write_text(certified.config.read_text().replace(certified.server.base_url, recorder.base_url))
        proc = verify(certified.bundle, *_vendor(certified), "--recheck", "--config", str(config))
        assert recorder.count == 0
    _invalid(proc, f"recheck: the config's target {recorder.base_url} is not the certified "
                   f"{certified.server.base_url}; nothing was sent")  # fmt: skip
