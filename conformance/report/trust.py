"""Trust anchors for certificates: which keys a reviewer trusts, and for which targets.

A signature proves only that somebody holding a key signed the certificate. Whether that somebody
may certify *this* target is the reviewer's decision, written down the way ``ssh-keygen -Y verify``
takes it: an allowed-signers file, one line per key,

    https://staging.example.com*,https://api.example.com/ ed25519 AAAAC3Nz...base64... vendor-a

(target base URL patterns, comma-separated, ``*`` and ``?`` as in shell globs; the key type; the
raw 32-byte Ed25519 public key in base64; an optional comment). A key given with ``--public-key``
is trusted for any target.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from conformance.model.text import printable
from conformance.report.certificate import CertificateError, fingerprint, load_public_key

MAX_SIGNERS_BYTES = 1024 * 1024
ANY_TARGET = ("*",)


@dataclass(frozen=True)
class TrustedKey:
    key: Ed25519PublicKey
    patterns: tuple[str, ...]  # target base URL patterns this key may certify
    source: str  # where the reviewer named it: "--public-key FILE" or "FILE line N"

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)

    def allows(self, base_url: str) -> bool:
        url = base_url.rstrip("/")
        return any(fnmatch.fnmatchcase(url, p.rstrip("/")) for p in self.patterns)


def raw_public_key(key: Ed25519PublicKey) -> str:
    """The base64 form an allowed-signers line (and certificate.json) names a key by."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def signers_line(key: Ed25519PublicKey, patterns: Sequence[str], comment: str = "") -> str:
    """One allowed-signers line for ``key``."""
    return " ".join(filter(None, [",".join(patterns), "ed25519", raw_public_key(key), comment]))


def parse_allowed_signers(text: str, source: str) -> list[TrustedKey]:
    """Every key of an allowed-signers file; CertificateError naming the line that is wrong."""
    keys = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source} line {number}"
        parts = line.split(None, 3)
        if len(parts) < 3:
            raise CertificateError(f"{where}: expected 'PATTERNS ed25519 BASE64-KEY [comment]'")
        patterns, kind, encoded = parts[0], parts[1], parts[2]
        if kind.lower() != "ed25519":
            raise CertificateError(f"{where}: key type {printable(kind, 30)}; only ed25519 is accepted")
        try:
            raw = base64.b64decode(encoded, validate=True)
            key = Ed25519PublicKey.from_public_bytes(raw)
        except (binascii.Error, ValueError):
            raise CertificateError(f"{where}: not a base64 Ed25519 public key (32 bytes)") from None
        globs = tuple(p for p in patterns.split(",") if p)
        if not globs:
            raise CertificateError(f"{where}: no target pattern")
        keys.append(TrustedKey(key, globs, where))
    return keys


def load_anchors(public_keys: Iterable[str], allowed_signers: Iterable[str]) -> list[TrustedKey]:
    """The reviewer's trust anchors from ``--public-key`` and ``--allowed-signers`` files."""
    anchors = [TrustedKey(load_public_key(p), ANY_TARGET, f"--public-key {p}") for p in public_keys]
    for path in allowed_signers:
        try:
            with open(path, "rb") as fh:
                data = fh.read(MAX_SIGNERS_BYTES + 1)
        except OSError as exc:
            raise CertificateError(f"--allowed-signers {path}: {exc.strerror or exc}") from None
        if len(data) > MAX_SIGNERS_BYTES:
            raise CertificateError(f"--allowed-signers {path}: larger than {MAX_SIGNERS_BYTES} bytes")
        anchors += parse_allowed_signers(data.decode("utf-8", errors="replace"), path)
    return anchors


def generate_key_files(private_path: Path, *, force: bool = False) -> tuple[Ed25519PrivateKey, Path]:
    """A new Ed25519 key: the private PEM written 0600 (never over an existing file without
    ``force``) and the public PEM beside it as ``NAME.pub.pem``; returns the key and that path."""
    public_path = private_path.with_name(private_path.name.removesuffix(".pem") + ".pub.pem")
    for path in (private_path, public_path):
        if path.exists() and not force:
            raise CertificateError(f"{path} exists; refusing to overwrite a key (--force to replace it)")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        private_path.unlink(missing_ok=True)
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(private_pem)
        public_path.write_bytes(public_pem)
    except OSError as exc:
        raise CertificateError(f"cannot write the key: {exc.strerror or exc}") from None
    return key, public_path
