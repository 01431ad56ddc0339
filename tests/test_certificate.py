"""Certificate bundles: a real certified run verifies; every tampering is caught by name; recheck.

One real ``conformance run --certify --sign-key`` against a reference server on loopback makes the
bundle (the session fixture in tests/certificates.py); each tamper test rewrites a copy of it the
way an editor of the files would. Forgeries re-signed with the vendor's own key are in
test_certificate_forgeries.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from conformance.catalog import catalog_sha256
from conformance.reference.server import ReferenceServer, ReferenceSettings, write_target_config
from conformance.report.badge import GREEN, GREY, RED, render_badge
from conformance.report.certificate import bundle_bytes, fingerprint
from conformance.results.verdicts import overall, requirement_verdicts
from tests.certificates import Certified, conformance, edit_certificate, forge, members, rezip, verify
from tests.suite_runs import conformance_in_process


# ------------------------------------------------------------------ the bundle
def test_bundle_holds_the_run_files_badge_signature_and_a_complete_certificate(certified: Certified) -> None:
    files = members(certified.bundle)
    assert set(files) == {
        "certificate.json", "certificate.sig", "results.json", "report.html", "junit.xml", "badge.svg",
        "exchanges.har",
    }  # fmt: skip
    cert = json.loads(files["certificate.json"])
    results = json.loads(files["results.json"])
    assert cert["verdict"] == "CONFORMANT" and cert["profile"] == "core"
    assert cert["catalog_sha256"] == catalog_sha256() == results["integrity"]["catalog_sha256"]
    assert cert["schemas_sha256"] == results["integrity"]["schemas_sha256"] and cert["schemas_sha256"]
    assert cert["target"]["base_url"] == certified.server.base_url
    assert cert["target"]["bounds_policy"] == results["target"]["bounds_policy"]
    assert cert["run"]["seed"] == 7 and cert["run"]["max_examples"] == 2
    assert cert["run"]["started_at"] <= cert["run"]["ended_at"]
    assert cert["suite"]["version"] == results["suite"]["version"] == cert["runtime"]["suite"]
    assert cert["runtime"]["python"] == results["suite"]["python"]
    assert {"pytest", "hypothesis", "cryptography"} <= set(cert["runtime"]["dependencies"])
    assert cert["issued_at"] >= cert["run"]["ended_at"] and cert["expires_at"] > cert["issued_at"]
    # every other file of the bundle is in the manifest with its digest
    assert cert["manifest"] == {
        n: hashlib.sha256(d).hexdigest()
        for n, d in files.items()
        if n not in ("certificate.json", "certificate.sig")
    }
    states = {r["id"]: r["state"] for r in cert["requirements"]}
    assert len(states) == len(results["requirements"])
    assert {s for rid, s in states.items() if rid.startswith("AUTH-")} <= {"verified", "warning"}
    assert set(states.values()) <= {"verified", "warning", "not-in-profile"}
    assert cert["counts"]["by_state"]["verified"] == sum(s == "verified" for s in states.values())
    assert cert["signature"]["public_key_sha256"] == fingerprint(certified.private_key.public_key())
    assert (certified.bundle.parent / "badge.svg").read_bytes() == files["badge.svg"]


def test_valid_bundle_verifies_with_the_vendors_key(certified: Certified) -> None:
    proc = verify(certified.bundle, "--public-key", str(certified.public_key))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "certificate valid: CONFORMANT (profile core)" in proc.stdout
    assert "signature valid" in proc.stdout


# ------------------------------------------------------------------ tampering, each caught by name
def test_edited_requirement_verdict_no_longer_folds_to_the_verdict(
    certified: Certified, tmp_path: Path
) -> None:
    def fail_one(cert: dict) -> None:
        req = next(r for r in cert["requirements"] if r["id"] == "AUTH-UNSIGNED-DENIED")
        req["verdict"], req["state"] = "fail", "unverified"

    bad = rezip(edit_certificate(members(certified.bundle), {"__fn__": fail_one}), tmp_path / "c.zip")
    proc = verify(bad, "--allow-unsigned")
    assert proc.returncode == 1
    assert (
        "requirement AUTH-UNSIGNED-DENIED: the certificate says fail; the evidence gives pass" in proc.stdout
    )
    assert "state unverified does not follow from the evidence (expected verified)" in proc.stdout


def test_edited_overall_verdict_is_caught(certified: Certified, tmp_path: Path) -> None:
    files = members(certified.bundle)
    bad = rezip(edit_certificate(files, {"verdict": "CONFORMANT with extras"}), tmp_path / "c.zip")
    proc = verify(bad, "--allow-unsigned")
    assert proc.returncode == 1
    assert (
        "verdict: the certificate says CONFORMANT with extras; the evidence in results.json folds to "
        "CONFORMANT" in proc.stdout
    )


def test_a_changed_report_byte_breaks_the_manifest(certified: Certified, tmp_path: Path) -> None:
    files = members(certified.bundle)
    report = bytearray(files["report.html"])
    report[len(report) // 2] ^= 0x20
    bad = rezip({**files, "report.html": bytes(report)}, tmp_path / "c.zip")
    proc = verify(bad, "--public-key", str(certified.public_key))
    assert proc.returncode == 1
    assert "report.html does not match its manifest digest" in proc.stdout
    assert "results.json does not match" not in proc.stdout  # only the changed file is named


def test_a_removed_file_is_named(certified: Certified, tmp_path: Path) -> None:
    files = members(certified.bundle)
    del files["junit.xml"]
    proc = verify(rezip(files, tmp_path / "c.zip"), "--allow-unsigned")
    assert proc.returncode == 1
    assert "junit.xml is listed in the manifest but missing from the bundle" in proc.stdout


def test_an_added_file_is_named(certified: Certified, tmp_path: Path) -> None:
    files = {**members(certified.bundle), "extra.html": b"<p>trust me</p>"}
    proc = verify(rezip(files, tmp_path / "c.zip"), "--allow-unsigned")
    assert proc.returncode == 1 and "extra.html is in the bundle but not in the manifest" in proc.stdout


def test_a_wrong_key_is_refused(certified: Certified) -> None:
    proc = verify(certified.bundle, "--public-key", str(certified.other_public_key))
    assert proc.returncode == 1
    signer = fingerprint(certified.private_key.public_key())
    assert f"signature: signed by key {signer}, which is none of the 1 trusted key(s)" in proc.stdout


def test_a_consistent_forgery_of_every_file_needs_the_key(certified: Certified, tmp_path: Path) -> None:
    """Rewrite results.json and the certificate, recompute the manifest: only a trusted key can tell."""

    def retarget(doc: dict) -> None:
        doc["target"]["base_url"] = "https://forged.example"

    left_signed = rezip(
        edit_certificate(members(certified.bundle), {"__fn__": retarget}), tmp_path / "signed.zip"
    )
    proc = verify(left_signed)  # the signature the certificate embeds no longer matches its bytes
    assert proc.returncode == 1 and "does not carry a valid signature of key" in proc.stdout
    unsigned = forge(certified.bundle, tmp_path / "c.zip", None, results=retarget, certificate=retarget)
    proc = verify(unsigned)  # consistent, yet without a trusted key it is never "valid"
    assert proc.returncode == 2 and "no trusted key: integrity checked, origin unproven" in proc.stdout
    assert "certificate valid" not in proc.stdout
    proc = verify(unsigned, "--public-key", str(certified.public_key))
    assert (
        proc.returncode == 1
        and "the certificate is not signed, and a trusted key was required" in proc.stdout
    )


def test_an_unsigned_bundle_fails_when_a_key_is_required(certified: Certified, tmp_path: Path) -> None:
    files = members(certified.bundle)
    del files["certificate.sig"]
    proc = verify(rezip(files, tmp_path / "c.zip"), "--public-key", str(certified.public_key))
    assert proc.returncode == 1 and "certificate.json and certificate.sig disagree" in proc.stdout


def test_a_catalog_from_another_version_names_the_catalog(certified: Certified, tmp_path: Path) -> None:
    other = hashlib.sha256(b"catalog of 0.0.9").hexdigest()

    def older(cert: dict) -> None:
        cert["catalog_sha256"], cert["suite"]["version"] = other, "0.0.9"

    bad = rezip(edit_certificate(members(certified.bundle), {"__fn__": older}), tmp_path / "c.zip")
    proc = verify(bad, "--public-key", str(certified.public_key))
    assert proc.returncode == 1
    assert f"catalog: issued against catalog {other} (suite 0.0.9)" in proc.stdout
    assert f"knows catalog {catalog_sha256()}" in proc.stdout


def test_accepted_gaps_are_written_and_fold_to_conformant(certified: Certified, tmp_path: Path) -> None:
    """A skipped MUST the user accepted is 'accepted-unverified'; without the acceptance it is INCOMPLETE."""
    files = members(certified.bundle)

    def with_read_skipped(accept: list[str]) -> dict:
        results = json.loads(files["results.json"])
        for t in results["tests"]:
            if "AUTH-READ-DENIED" in t["requirements"]:
                t["verdict"], t["message"], t["samples"] = "skip", "no [credentials.read]", []
        results["run"]["accept_unverified"] = accept
        results["requirements"] = requirement_verdicts(results["tests"], "core")
        results["summary"] = {**results["summary"], **overall(results["requirements"], None, accepted=accept)}
        return results

    accepted = with_read_skipped(["AUTH-READ-DENIED"])
    run_files = {n: files[n] for n in ("report.html", "junit.xml")}
    run_files["results.json"] = json.dumps(accepted).encode()
    ok = tmp_path / "accepted.zip"
    ok.write_bytes(bundle_bytes(accepted, run_files))
    cert = json.loads(members(ok)["certificate.json"])
    assert [a["id"] for a in cert["accepted_unverified"]] == ["AUTH-READ-DENIED"]
    assert {r["id"]: r["state"] for r in cert["requirements"]}["AUTH-READ-DENIED"] == "accepted-unverified"
    proc = verify(ok, "--allow-unsigned")
    assert proc.returncode == 0, proc.stdout

    not_accepted = with_read_skipped([])
    run_files["results.json"] = json.dumps(not_accepted).encode()
    gap = tmp_path / "gap.zip"
    gap.write_bytes(bundle_bytes(accepted, run_files))  # the certificate still claims the acceptance
    proc = verify(gap, "--allow-unsigned")
    assert proc.returncode == 1
    assert "verdict: INCOMPLETE is not certifiable" in proc.stdout
    assert "accepted gaps: the certificate lists AUTH-READ-DENIED; the evidence gives none" in proc.stdout


# ------------------------------------------------------------------ usage: unsafe or absent files
def test_missing_file_and_non_zip_are_usage_errors(tmp_path: Path) -> None:
    proc = verify(tmp_path / "nope.zip")
    assert proc.returncode == 2 and "no such file" in proc.stderr
    text = tmp_path / "cert.zip"
    text.write_text("not a zip")
    proc = verify(text)
    assert proc.returncode == 2 and "not a zip archive" in proc.stderr


def test_path_traversal_member_is_refused(tmp_path: Path) -> None:
    bad = rezip({"certificate.json": b"{}", "../../evil.sh": b"rm -rf /"}, tmp_path / "c.zip")
    proc = verify(bad)
    assert proc.returncode == 2 and "path traversal refused" in proc.stderr
    assert not (tmp_path.parent / "evil.sh").exists()


def test_zip_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("results.json", "w") as fh:
            chunk = b"\0" * (1 << 20)
            for _ in range(16):
                fh.write(chunk)
        zf.writestr("certificate.json", b"{}")
    assert bomb.stat().st_size < 100_000
    proc = verify(bomb)
    assert proc.returncode == 2 and "zip bomb refused" in proc.stderr


def test_a_damaged_member_is_invalid(certified: Certified, tmp_path: Path) -> None:
    """A byte flipped inside the archive itself (not a rewritten member) fails its CRC."""
    stored = tmp_path / "stored.zip"
    with zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members(certified.bundle).items():
            zf.writestr(name, data)
    raw = bytearray(stored.read_bytes())
    at = raw.index(b"<!DOCTYPE html>") + 200
    raw[at] ^= 0x01
    stored.write_bytes(bytes(raw))
    proc = verify(stored)
    assert proc.returncode == 1 and "report.html: damaged inside the archive" in proc.stdout


def test_sign_key_without_certify_is_a_usage_error(certified: Certified, tmp_path: Path) -> None:
    report = str(tmp_path / "r")
    proc = conformance_in_process("run", "--config", str(certified.config), "--report-dir", report,
                                  "--sign-key", str(certified.public_key))  # fmt: skip
    assert proc.returncode == 2 and "--sign-key signs a certificate: it needs --certify" in proc.stderr


def test_recheck_needs_a_config(certified: Certified) -> None:
    proc = verify(certified.bundle, "--recheck")
    assert proc.returncode == 2 and "--recheck needs --config" in proc.stderr


# ------------------------------------------------------------------ refusal and keys at run time
def test_certify_refuses_a_verdict_that_is_not_conformant_and_keeps_the_reports(
    certified: Certified, tmp_path: Path
) -> None:
    report = tmp_path / "partial"
    proc = conformance(
        "run", "--config", str(certified.config), "--report-dir", str(report), "--quiet",
        "--max-examples", "2", "-k", "test_auth", "--certify",
    )  # fmt: skip
    assert proc.returncode != 0
    refusals = [line for line in proc.stderr.splitlines() if "--certify: refused" in line]
    assert len(refusals) == 1 and "a certificate needs CONFORMANT" in refusals[0]
    assert (report / "results.json").is_file() and (report / "report.html").is_file()
    assert not (report / "certificate.zip").exists()


def test_a_bad_sign_key_is_a_usage_error_before_any_request(certified: Certified, tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    report = tmp_path / "r"
    proc = conformance_in_process("run", "--config", str(certified.config), "--report-dir", str(report),
                                  "--certify", "--sign-key", str(key))  # fmt: skip
    assert proc.returncode == 2 and "--sign-key" in proc.stderr
    assert not (report / "results.json").exists()


# ------------------------------------------------------------------ recheck against the live target
def test_recheck_against_the_unchanged_target_holds(certified: Certified) -> None:
    proc = verify(certified.bundle, "--public-key", str(certified.public_key), "--recheck", "--config",
                  str(certified.config))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "recorded requests replayed" in proc.stdout and "requirements hold" in proc.stdout


@pytest.mark.parametrize(
    ("fault", "requirement"),
    [
        ("unsigned_gets_token", "AUTH-UNSIGNED-DENIED"),
        ("default_valid_minutes_60", "PARAMS-VALID-MINUTES-DEFAULT"),
    ],
)
def test_recheck_against_a_target_faulted_since_fails_naming_requirements(
    certified: Certified, tmp_path: Path, fault: str, requirement: str
) -> None:
    with ReferenceServer(ReferenceSettings(clock_control=True, faults=frozenset([fault]))) as server:
        config = tmp_path / "faulted.toml"
        write_target_config(server, config)
        proc = verify(certified.bundle, "--public-key", str(certified.public_key), "--recheck", "--config",
                      str(config), "--recheck-other-target")  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"recheck: {requirement} no longer holds" in proc.stdout


# ------------------------------------------------------------------ the badge
@pytest.mark.parametrize(
    ("verdict", "color"), [("CONFORMANT", GREEN), ("NOT CONFORMANT", RED), ("INCOMPLETE", GREY)]
)
def test_badge_colour_and_text(verdict: str, color: str) -> None:
    svg = render_badge(verdict, "full", "ab" * 32)
    root = ET.fromstring(svg)
    texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert f"{verdict} core+full" in texts and "catalog abababab" in texts and "conformance" in texts
    fills = [r.get("fill") for r in root.iter("{http://www.w3.org/2000/svg}rect")]
    assert color in fills


def test_badge_text_is_escaped() -> None:
    svg = render_badge('<script>alert(1)</script>"&', "core", "00" * 32)
    root = ET.fromstring(svg)  # still well-formed XML
    assert not list(root.iter("{http://www.w3.org/2000/svg}script")) and "<script>" not in svg
    assert any("<script>alert(1)</script>" in "".join(t.itertext()) for t in root.iter())


def test_badge_in_the_bundle_is_the_verdict_of_the_run(certified: Certified) -> None:
    svg = members(certified.bundle)["badge.svg"].decode()
    assert "CONFORMANT core" in svg and f"catalog {catalog_sha256()[:8]}" in svg and GREEN in svg
    assert io.BytesIO(svg.encode()).getbuffer().nbytes < 4096


def test_the_certificate_schema_is_a_valid_schema_and_holds_for_a_real_certificate(
    certified: Certified,
) -> None:
    from conformance.parse.schemas import json_validator

    validator = json_validator("certificate.schema.json")  # check_schema runs on load
    cert = json.loads(members(certified.bundle)["certificate.json"])
    assert list(validator.iter_errors(cert)) == []
    cert["requirements"][0]["level"] = "MAY"
    cert["manifest"]["../evil"] = "0" * 64
    assert len(list(validator.iter_errors(cert))) == 2
