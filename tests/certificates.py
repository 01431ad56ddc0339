"""One real certified run, shared by the certificate tests, and the tools to forge its bundle.

The fixture runs ``conformance run --certify --sign-key`` once per test session against a
reference server on loopback (which stays up, so rechecks reach the certified target). Forgeries
are made the way a dishonest vendor would: edit results.json and certificate.json, recompute the
manifest, and sign again with the vendor's own key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conformance.reference.server import ReferenceServer, ReferenceSettings, write_target_config
from conformance.report.certificate import fingerprint
from conformance.report.trust import raw_public_key
from tests import suite_runs


@dataclass
class Certified:
    dir: Path
    bundle: Path
    config: Path
    public_key: Path
    other_public_key: Path
    private_key: Ed25519PrivateKey
    other_private_key: Ed25519PrivateKey
    server: ReferenceServer


def write_key(dir: Path, name: str) -> tuple[Ed25519PrivateKey, Path, Path]:
    key = Ed25519PrivateKey.generate()
    private = dir / f"{name}.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public = dir / f"{name}.pub.pem"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key, private, public


def conformance(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return suite_runs.conformance(*args, timeout=timeout)


@pytest.fixture(scope="session")
def certified(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Certified]:
    tmp = tmp_path_factory.mktemp("certificate")
    key, private, public = write_key(tmp, "vendor")
    other, _, other_public = write_key(tmp, "someone-else")
    with ReferenceServer(ReferenceSettings(clock_control=True)) as server:
        config = tmp / "target.toml"
        write_target_config(server, config)
        report = tmp / "report"
        proc = conformance(
            "run", "--config", str(config), "--report-dir", str(report), "--quiet", "--max-examples", "2",
            "--seed", "7", "--certify", "--sign-key", str(private),
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert f"signed by key {fingerprint(key.public_key())}" in proc.stdout
        yield Certified(tmp, report / "certificate.zip", config, public, other_public, key, other, server)


def members(bundle: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(bundle) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def rezip(files: dict[str, bytes], path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def verify(bundle: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``conformance certificate verify``, in-process: offline checks and the recheck's requests,
    no suite run, so a new interpreter per verification (dozens of them) would only add seconds."""
    return suite_runs.conformance_in_process("certificate", "verify", str(bundle), *args)


def edit_certificate(files: dict[str, bytes], change: dict) -> dict[str, bytes]:
    cert = json.loads(files["certificate.json"])
    change_fn = change.pop("__fn__", None)
    cert.update(change)
    if change_fn:
        change_fn(cert)
    return {**files, "certificate.json": json.dumps(cert, indent=2).encode()}


def forge(
    bundle: Path,
    out: Path,
    key: Ed25519PrivateKey | None,
    *,
    results: Callable[[dict[str, Any]], None] | None = None,
    certificate: Callable[[dict[str, Any]], None] | None = None,
    drop: tuple[str, ...] = (),
) -> Path:
    """A consistent forgery: edit the files, recompute the manifest, sign again with ``key``
    (None: an unsigned bundle). Only what the edit functions change differs from the real one."""
    files = members(bundle)
    res = json.loads(files["results.json"])
    if results is not None:
        results(res)
        files["results.json"] = json.dumps(res).encode()
    for name in drop:
        files.pop(name, None)
    files.pop("certificate.sig", None)
    cert = json.loads(files.pop("certificate.json"))
    cert["manifest"] = {n: hashlib.sha256(d).hexdigest() for n, d in sorted(files.items())}
    cert["signature"] = None
    if key is not None:
        cert["signature"] = {
            "algorithm": "Ed25519",
            "file": "certificate.sig",
            "public_key_sha256": fingerprint(key.public_key()),
            "public_key": raw_public_key(key.public_key()),
        }
    if certificate is not None:
        certificate(cert)
    raw = json.dumps(cert, indent=2).encode()
    entries = {"certificate.json": raw, **files}
    if key is not None:
        entries["certificate.sig"] = base64.b64encode(key.sign(raw)) + b"\n"
    return rezip(entries, out)
