"""``conformance run --certify``: a certificate bundle a reviewer can verify offline.

``certificate.zip`` holds ``certificate.json`` (what was certified, under which suite, catalog and
schemas, every requirement's verdict, and a manifest of SHA-256 digests of every other file), the
run's ``results.json``, ``report.html`` and ``junit.xml``, an SVG badge, and optionally
``certificate.sig``: an Ed25519 signature of the exact bytes of ``certificate.json`` made with the
``cryptography`` library, plus the run's HAR when it wrote one. ``conformance certificate verify``
checks it (``certificate_check.py``, re-deriving every verdict from the bundled results.json).

The verdict rules live in ``conformance/results/verdicts.py``; this module only classifies
requirements (verified / accepted-unverified / warning / not-in-profile) for the certificate.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import io
import json
import sys
import time
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from conformance.model.exit_codes import EXIT_USAGE
from conformance.model.verdict import RunVerdict
from conformance.model.versions import runtime_versions
from conformance.report.badge import render_badge
from conformance.report.har import CERTIFY_NAME as HAR_NAME
from conformance.results.files import ReportWriteError, write_atomic

CERTIFICATE_FORMAT = 2  # 2: pins the runtime, issue time and expiry
DEFAULT_VALID_DAYS = 84  # 12 weeks, as other conformance programmes renew; --valid-days at certify time
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
CERTIFICATE = "certificate.json"
SIGNATURE = "certificate.sig"
BADGE = "badge.svg"
BUNDLE = "certificate.zip"
RUN_FILES = ("results.json", "report.html", "junit.xml")
OPTIONAL_RUN_FILES = (HAR_NAME,)  # every exchange of the run, when the run wrote one
# What a run leaves beside its reports that an earlier run's verdict could be read from.
STALE_ON_NEW_RUN = (BUNDLE, BADGE, *OPTIONAL_RUN_FILES)
# Requirement states in a certificate.
VERIFIED, ACCEPTED, WARNING, NOT_IN_PROFILE, UNVERIFIED = (
    "verified",
    "accepted-unverified",
    "warning",
    "not-in-profile",
    "unverified",
)


class CertificateError(Exception):
    """A certificate cannot be made or read (bad key file, refused verdict); one line for the user."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------ keys
def _load_key(path: str | Path, option: str, private: bool) -> Ed25519PrivateKey | Ed25519PublicKey:
    """An Ed25519 key from a PEM file, or a CertificateError naming the option and what is wrong."""
    what = "an unencrypted PEM private key" if private else "a PEM public key"
    try:
        data = Path(path).read_bytes()
        key = (
            serialization.load_pem_private_key(data, password=None)
            if private
            else serialization.load_pem_public_key(data)
        )
    except OSError as exc:
        raise CertificateError(f"{option} {path}: {exc.strerror or exc}") from None
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CertificateError(f"{option} {path}: not {what} ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey if private else Ed25519PublicKey):
        raise CertificateError(f"{option} {path}: an Ed25519 key is needed, got {type(key).__name__}")
    return key


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """The signing key (``openssl genpkey -algorithm ed25519``)."""
    key = _load_key(path, "--sign-key", private=True)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """A reviewer's verification key (``openssl pkey -in key.pem -pubout``)."""
    key = _load_key(path, "--public-key", private=False)
    assert isinstance(key, Ed25519PublicKey)
    return key


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw 32-byte public key, hex: what the certificate names its signer by."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return sha256_hex(raw)


# ------------------------------------------------------------------ requirement states
def accepted_ids(summary: Mapping[str, Any]) -> list[str]:
    """Accepted gaps as results.json records them (ids, or objects with an id)."""
    raw = summary.get("accepted_unverified") or ()
    return sorted({str(a["id"]) if isinstance(a, Mapping) else str(a) for a in raw})


def requirement_state(req: Mapping[str, Any], accepted: Iterable[str]) -> str:
    """verified / accepted-unverified / warning / not-in-profile / unverified, for one requirement."""
    verdict = req.get("verdict")
    if verdict == "pass":
        return VERIFIED
    if verdict == "not-in-profile":
        return NOT_IN_PROFILE
    if req.get("id") in set(accepted):
        return ACCEPTED
    if req.get("level") == "SHOULD" and verdict == "fail":
        return WARNING
    return UNVERIFIED


def refusal(results: Mapping[str, Any]) -> str | None:
    """Why this run cannot be certified, or None when it can."""
    summary = results.get("summary") or {}
    verdict = str(summary.get("verdict", ""))
    if (
        verdict != RunVerdict.CONFORMANT
        or summary.get("partial")
        or (results.get("run") or {}).get("partial")
    ):
        gaps = [str(g.get("id")) for g in summary.get("unverified") or () if isinstance(g, Mapping)]
        named = f"; not verified: {', '.join(gaps)}" if gaps else ""
        shown = verdict or "missing"
        return f"--certify: refused, the verdict is {shown} (a certificate needs CONFORMANT){named}"
    accepted = accepted_ids(summary)
    gaps = [
        r["id"]
        for r in results.get("requirements") or ()
        if r.get("level") == "MUST" and requirement_state(r, accepted) == UNVERIFIED
    ]
    if gaps:
        return (
            f"--certify: refused, MUST requirement(s) not verified and not accepted: {', '.join(gaps)} "
            "(accept a gap knowingly with [verdict] accept_unverified)"
        )
    return None


# ------------------------------------------------------------------ building the bundle
def _ended_at(run: Mapping[str, Any]) -> str:
    try:
        start = calendar.timegm(time.strptime(str(run.get("started_at")), "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return ""
    end = start + float(run.get("duration_seconds") or 0)
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end))


def utc_text(seconds: float) -> str:
    return time.strftime(TIME_FORMAT, time.gmtime(seconds))


def build_certificate(
    results: Mapping[str, Any],
    files: Mapping[str, bytes],
    signer: Ed25519PublicKey | None,
    *,
    issued: float | None = None,
    valid_days: int = DEFAULT_VALID_DAYS,
) -> dict[str, Any]:
    """certificate.json's content: the facts of the run, every requirement's verdict, the manifest."""
    issued = time.time() if issued is None else issued
    summary = results.get("summary") or {}
    run = results.get("run") or {}
    target = results.get("target") or {}
    integrity = results.get("integrity") or {}
    suite = results.get("suite") or {}
    accepted = accepted_ids(summary)
    reasons = {
        str(g.get("id")): str(g.get("reason", ""))
        for g in summary.get("accepted_unverified") or ()
        if isinstance(g, Mapping)
    }
    requirements = [
        {
            "id": r["id"],
            "level": r.get("level"),
            "profile": r.get("profile"),
            "verdict": r.get("verdict"),
            "state": requirement_state(r, accepted),
        }
        for r in results.get("requirements") or ()
    ]
    counts: dict[str, int] = {}
    for r in requirements:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    return {
        "format": CERTIFICATE_FORMAT,
        "kind": "twentythree-replace-token-conformance-certificate",
        "suite": {"name": suite.get("name"), "version": suite.get("version")},
        "runtime": runtime_versions(),
        "issued_at": utc_text(issued),
        "expires_at": utc_text(issued + valid_days * 86400),
        "catalog_sha256": integrity.get("catalog_sha256"),
        "schemas_sha256": dict(integrity.get("schemas_sha256") or {}),
        "profile": run.get("profile"),
        "target": {
            "base_url": target.get("base_url"),
            "embedded": target.get("embedded"),
            "bounds_policy": target.get("bounds_policy"),
        },
        "run": {
            "seed": run.get("seed"),
            "settings_profile": run.get("settings_profile"),
            "max_examples": (run.get("hypothesis") or {}).get("max_examples"),
            "include_slow": run.get("include_slow"),
            "request_budget": run.get("request_budget"),
            "max_rps": run.get("max_rps"),
            "timeout_seconds": run.get("timeout_seconds"),
            "requests_sent": run.get("requests_sent"),
            "started_at": run.get("started_at"),
            "ended_at": _ended_at(run),
        },
        "verdict": summary.get("verdict"),
        "exit_code": summary.get("exit_code"),
        "accepted_unverified": [{"id": rid, "reason": reasons.get(rid, "")} for rid in accepted],
        "requirements": requirements,
        "counts": {"by_state": counts, "by_verdict": summary.get("counts") or {}},
        "signature": None
        if signer is None
        else {
            "algorithm": "Ed25519",
            "file": SIGNATURE,
            "public_key_sha256": fingerprint(signer),
            "public_key": base64.b64encode(
                signer.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            ).decode("ascii"),
        },
        "manifest": {name: sha256_hex(data) for name, data in sorted(files.items())},
    }


def bundle_bytes(
    results: Mapping[str, Any],
    run_files: Mapping[str, bytes],
    key: Ed25519PrivateKey | None = None,
    valid_days: int = DEFAULT_VALID_DAYS,
) -> bytes:
    """The zip archive: run files, the badge, certificate.json and, with a key, certificate.sig."""
    files = dict(run_files)
    summary = results.get("summary") or {}
    files[BADGE] = render_badge(
        str(summary.get("verdict", "")),
        str((results.get("run") or {}).get("profile", "")),
        str((results.get("integrity") or {}).get("catalog_sha256", "")),
    ).encode("utf-8")
    cert = build_certificate(results, files, key.public_key() if key else None, valid_days=valid_days)
    cert_bytes = (json.dumps(cert, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    entries = [(CERTIFICATE, cert_bytes), *sorted(files.items())]
    if key is not None:
        entries.append((SIGNATURE, base64.b64encode(key.sign(cert_bytes)) + b"\n"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=time.gmtime()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()


def write_bundle(
    results: Mapping[str, Any],
    report_dir: Path,
    key: Ed25519PrivateKey | None = None,
    valid_days: int = DEFAULT_VALID_DAYS,
) -> Path:
    """Write ``certificate.zip`` (and ``badge.svg`` beside it); CertificateError when refused."""
    reason = refusal(results)  # before reading any file: a refusal is about the verdict
    if reason:
        raise CertificateError(reason)
    run_files = {}
    for name in RUN_FILES:
        try:
            run_files[name] = (report_dir / name).read_bytes()
        except OSError as exc:
            raise CertificateError(f"--certify: {name} of the run is missing ({exc.strerror})") from None
    for name in OPTIONAL_RUN_FILES:  # written by this run (stale copies are removed at its start)
        if (report_dir / name).is_file():
            run_files[name] = (report_dir / name).read_bytes()
    # The certificate describes the results.json it ships (secrets scrubbed), not the in-memory dict.
    data = bundle_bytes(json.loads(run_files["results.json"]), run_files, key, valid_days)
    path = report_dir / BUNDLE
    write_atomic(path, data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:  # the same badge, for a README next to the reports
        write_atomic(report_dir / BADGE, zf.read(BADGE))
    return path


def signing_key(path: str | None, certify: bool) -> Ed25519PrivateKey | None:
    """The --sign-key of a run, loaded before the run starts (CertificateError: exit 2)."""
    if path is None:
        return None
    if not certify:
        raise CertificateError("--sign-key signs a certificate: it needs --certify")
    return load_private_key(path)


def certify_after_run(
    results: Mapping[str, Any],
    report_dir: Path,
    key: Ed25519PrivateKey | None,
    code: int,
    valid_days: int = DEFAULT_VALID_DAYS,
) -> int:
    """Write the bundle after the reports; a refusal is one line and a non-zero exit."""
    try:
        path = write_bundle(results, report_dir, key, valid_days)
    except CertificateError as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return code or EXIT_USAGE
    except ReportWriteError as exc:  # a full disk: the environment's failure, never the target's
        print(f"conformance: {exc}", file=sys.stderr)
        return EXIT_USAGE
    signed = f", signed by key {fingerprint(key.public_key())}" if key else ""
    print(f"conformance: certificate written to {path}{signed}")
    return code
