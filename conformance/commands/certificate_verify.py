"""``conformance certificate verify``: check a certificate bundle offline, and optionally live.

Exit 0: valid. Exit 1: invalid, each mismatch named on its own line. Exit 2: usage (no such file,
not a zip archive, an archive that is unsafe to read: path traversal, too many or too large
members, a compression ratio of a zip bomb, encrypted members).

The archive is read by certificate_zip.py: in memory, through size caps, never extracted.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from conformance import __version__
from conformance.catalog import catalog_sha256, load_catalog
from conformance.commands.recheck import recheck
from conformance.config import ConfigError, load_config
from conformance.model.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from conformance.parse.schemas import schema_sha256
from conformance.report.certificate import (
    CERTIFICATE,
    SIGNATURE,
    CertificateError,
    accepted_ids,
    fingerprint,
    fold,
    load_public_key,
    requirement_state,
    sha256_hex,
)
from conformance.report.certificate_zip import DamagedMember, UnsafeBundle, read_bundle

REPORT_FORMAT_SCHEMAS = {"results.schema.json"}


@dataclass
class Verification:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    certificate: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.problems


def verify_members(members: Mapping[str, bytes], public_key: Ed25519PublicKey | None = None) -> Verification:
    """Every offline check of a bundle's content: signature, manifest, catalog, verdict folding."""
    v = Verification()
    raw = members.get(CERTIFICATE)
    if raw is None:
        v.problems.append(f"{CERTIFICATE} is missing from the bundle")
        return v
    try:
        cert = json.loads(raw)
        if not isinstance(cert, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        v.problems.append(f"{CERTIFICATE} is not valid JSON ({exc})")
        return v
    v.certificate = cert
    _check_signature(v, members, raw, cert, public_key)
    _check_manifest(v, members, cert)
    _check_suite(v, cert)
    _check_verdict(v, cert)
    _check_results(v, members, cert)
    return v


def _check_signature(
    v: Verification,
    members: Mapping[str, bytes],
    raw: bytes,
    cert: dict[str, Any],
    key: Ed25519PublicKey | None,
) -> None:
    sig_info = cert.get("signature") if isinstance(cert.get("signature"), dict) else None
    named = sig_info.get("public_key_sha256") if sig_info else None
    if key is None:
        if sig_info:
            v.notes.append(f"signed by key {named}; signature not checked (give --public-key)")
        else:
            v.notes.append("the certificate is not signed")
        return
    if SIGNATURE not in members:
        v.problems.append(f"no {SIGNATURE} in the bundle: the certificate is not signed")
        return
    try:
        signature = base64.b64decode(members[SIGNATURE].strip(), validate=True)
    except (binascii.Error, ValueError):
        v.problems.append(f"{SIGNATURE} is not a base64 signature")
        return
    given = fingerprint(key)
    try:
        key.verify(signature, raw)
    except InvalidSignature:
        which = f"key {given}" + (f"; the certificate names key {named}" if named and named != given else "")
        v.problems.append(f"signature: {CERTIFICATE} is not signed by the given public key ({which})")
        return
    if named != given:
        v.problems.append(f"signature: the certificate names key {named} but was signed by {given}")
        return
    v.notes.append(f"signature valid: signed by key {given}")


def _check_manifest(v: Verification, members: Mapping[str, bytes], cert: dict[str, Any]) -> None:
    manifest = cert.get("manifest")
    if not isinstance(manifest, dict) or not manifest:
        v.problems.append("the certificate has no manifest")
        return
    for name, digest in sorted(manifest.items()):
        if name not in members:
            v.problems.append(f"{name} is listed in the manifest but missing from the bundle")
        elif sha256_hex(members[name]) != digest:
            v.problems.append(f"{name} does not match its manifest digest (the file was changed)")
    for name in sorted(set(members) - set(manifest) - {CERTIFICATE, SIGNATURE}):
        v.problems.append(f"{name} is in the bundle but not in the manifest")


def _check_suite(v: Verification, cert: dict[str, Any]) -> None:
    issued = cert.get("catalog_sha256")
    issued_by = (cert.get("suite") or {}).get("version", "?")
    if issued != catalog_sha256():
        v.problems.append(
            f"catalog: issued against catalog {issued} (suite {issued_by}); this suite "
            f"({__version__}) knows catalog {catalog_sha256()}: verify it with suite {issued_by}"
        )
    ours = schema_sha256()
    for name, digest in sorted((cert.get("schemas_sha256") or {}).items()):
        if name in REPORT_FORMAT_SCHEMAS:
            continue  # describes results.json, not the contract the target was judged against
        if ours.get(name) != digest:
            v.problems.append(
                f"schema {name}: issued against digest {digest}, this suite ({__version__}) ships "
                f"{ours.get(name) or 'no such schema'}"
            )


def _check_verdict(v: Verification, cert: dict[str, Any]) -> None:
    reqs = cert.get("requirements")
    if not isinstance(reqs, list) or not reqs:
        v.problems.append("the certificate lists no requirement verdicts")
        return
    accepted = accepted_ids(cert)
    folded = fold(reqs, accepted)
    if folded != cert.get("verdict"):
        v.problems.append(
            f"verdict: the certificate says {cert.get('verdict')!r} but its requirement verdicts fold to "
            f"{folded!r} under this suite's rules"
        )
    if cert.get("verdict") != "CONFORMANT":
        v.problems.append(f"verdict: {cert.get('verdict')!r} is not a certifiable verdict")
    for r in reqs:
        state = requirement_state(r, accepted)
        if r.get("state") != state:
            v.problems.append(
                f"requirement {r.get('id')}: state {r.get('state')!r} does not follow from its verdict "
                f"{r.get('verdict')!r} (expected {state!r})"
            )
    unknown = sorted({str(r.get("id")) for r in reqs} - set(load_catalog()))
    if unknown:
        v.problems.append(f"requirement(s) not in this suite's catalog: {', '.join(unknown)}")


def _check_results(v: Verification, members: Mapping[str, bytes], cert: dict[str, Any]) -> None:
    """The certificate says what its own results.json says (catches an edit of both plus the manifest)."""
    if "results.json" not in members:
        return
    try:
        results = json.loads(members["results.json"])
    except ValueError:
        v.problems.append("results.json is not valid JSON")
        return
    summary = results.get("summary") or {}
    if summary.get("verdict") != cert.get("verdict"):
        v.problems.append(
            f"verdict: the certificate says {cert.get('verdict')!r}, "
            f"results.json says {summary.get('verdict')!r}"
        )
    recorded = {r.get("id"): r.get("verdict") for r in results.get("requirements") or ()}
    for r in cert.get("requirements") or ():
        if recorded.get(r.get("id")) != r.get("verdict"):
            v.problems.append(
                f"requirement {r.get('id')}: the certificate says {r.get('verdict')!r}, results.json "
                f"says {recorded.get(r.get('id'))!r}"
            )
    pairs = (
        (
            "catalog digest",
            cert.get("catalog_sha256"),
            (results.get("integrity") or {}).get("catalog_sha256"),
        ),
        ("target", (cert.get("target") or {}).get("base_url"), (results.get("target") or {}).get("base_url")),
        ("profile", cert.get("profile"), (results.get("run") or {}).get("profile")),
        ("seed", (cert.get("run") or {}).get("seed"), (results.get("run") or {}).get("seed")),
    )
    for what, in_cert, in_results in pairs:
        if in_cert != in_results:
            v.problems.append(f"{what}: the certificate says {in_cert!r}, results.json says {in_results!r}")


# ------------------------------------------------------------------ command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="certificate_command", required=True)
    p = sub.add_parser("verify", help="verify a certificate.zip offline (and against the live target)")
    p.add_argument("bundle", help="certificate.zip written by conformance run --certify")
    p.add_argument(
        "--public-key", metavar="FILE", help="PEM Ed25519 public key the certificate must be signed by"
    )
    p.add_argument("--recheck", action="store_true", help="replay recorded requests against the live target")
    p.add_argument(
        "--config", metavar="FILE", help="target TOML config with the reviewer's credentials (--recheck)"
    )
    p.add_argument(
        "--recheck-limit", type=int, default=100, metavar="N", help="at most N requests (default 100)"
    )


def main(args: argparse.Namespace) -> int:
    def usage(message: str) -> int:
        print(f"conformance certificate verify: {message}", file=sys.stderr)
        return EXIT_USAGE

    if args.recheck and not args.config:
        return usage("--recheck needs --config target.toml (the reviewer's credentials for the target)")
    if args.recheck_limit < 1:
        return usage("--recheck-limit must be at least 1")
    try:
        key = load_public_key(args.public_key) if args.public_key else None
    except CertificateError as exc:
        return usage(str(exc))
    config = None
    if args.recheck:
        try:
            config = load_config(args.config)
        except ConfigError as exc:
            return usage(f"config error: {exc}")
    try:
        members = read_bundle(args.bundle)
    except UnsafeBundle as exc:
        return usage(str(exc))
    except DamagedMember as exc:
        print(f"certificate INVALID: {args.bundle}\n  - {exc}")
        return EXIT_FAILED
    result = verify_members(members, key)
    if config is not None and result.valid:
        _recheck(result, members, config, args.recheck_limit)
    cert = result.certificate
    about = (
        f"{cert.get('verdict')} (profile {cert.get('profile')}) "
        f"for {(cert.get('target') or {}).get('base_url')}, "
        f"suite {(cert.get('suite') or {}).get('version')}, catalog {str(cert.get('catalog_sha256'))[:12]}"
    )
    for note in result.notes:
        print(f"note: {note}")
    if result.valid:
        print(f"certificate valid: {about}")
        return EXIT_OK
    print(f"certificate INVALID: {args.bundle}" + (f" ({about})" if cert else ""))
    for problem in result.problems:
        print(f"  - {problem}")
    return EXIT_FAILED


def _recheck(result: Verification, members: Mapping[str, bytes], config: Any, limit: int) -> None:
    results = json.loads(members["results.json"])
    certified = (result.certificate.get("target") or {}).get("base_url")
    if certified and certified.rstrip("/") != config.base_url.rstrip("/"):
        result.notes.append(f"rechecking {config.base_url}; the certificate names {certified}")
    outcome = recheck(results, config, limit)
    result.notes.extend(f"recheck: {s}" for s in outcome.skipped[:10])
    if not outcome.sent and not outcome.failed:
        result.problems.append("recheck: no recorded request could be replayed")
        return
    for rid, messages in sorted(outcome.failed.items()):
        result.problems.append(f"recheck: {rid} no longer holds: {messages[0]}")
    if outcome.ok:
        result.notes.append(
            f"recheck: {outcome.sent} recorded requests replayed, {len(outcome.checked)} requirements hold"
        )
