"""Offline verification of a certificate bundle: integrity, re-derived verdict, expiry, trust.

Nothing a bundle says is taken on its word. certificate.json and results.json must pass the
project's schemas; every file must match the manifest; the verdict is folded again from
results.json's test records under this suite's catalog and index (:mod:`conformance.results.rederive`),
and certificate.json must agree with that fold requirement by requirement; the certificate must be
within its validity; and its signature must come from a key the reviewer trusts *for this target*
(:mod:`.trust`). Without a trusted key nothing here says "valid": the caller reports the origin as
unproven.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from conformance import __version__
from conformance.catalog import catalog_sha256, load_catalog
from conformance.model.text import printable
from conformance.model.verdict import RunVerdict
from conformance.parse.schemas import schema_sha256
from conformance.report.certificate import (
    CERTIFICATE,
    CERTIFICATE_FORMAT,
    SIGNATURE,
    TIME_FORMAT,
    fingerprint,
    requirement_state,
    sha256_hex,
)
from conformance.report.trust import TrustedKey
from conformance.results.rederive import Rederived, rederive, verdict_family
from conformance.results.untrusted import (
    CERTIFICATE_SCHEMA,
    RESULTS_SCHEMA,
    UntrustedInputError,
    load_results_bytes,
    parse_json,
    validate,
)

# Schemas that describe our own report formats, not the contract the target was judged against.
REPORT_FORMAT_SCHEMAS = {RESULTS_SCHEMA, CERTIFICATE_SCHEMA}
MAX_CERTIFICATE_BYTES = 4 * 1024 * 1024
CLOCK_TOLERANCE = 300  # seconds an issue time may lie in the future of the moment judged


@dataclass
class Verification:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    certificate: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] | None = None
    signer: TrustedKey | None = None  # the trusted key that signed it, allowed for its target

    @property
    def valid(self) -> bool:
        """Internally consistent, re-derivable, in date and, where keys were given, from a trusted key."""
        return not self.problems


def parse_time(text: str) -> float:
    """``2027-03-01T12:00:00Z`` or ``2027-03-01`` as seconds since the epoch (ValueError otherwise)."""
    for fmt in (TIME_FORMAT, "%Y-%m-%d"):
        try:
            return float(calendar.timegm(time.strptime(text, fmt)))
        except ValueError:
            continue
    raise ValueError(f"{printable(text, 40)} is not a UTC time like 2027-03-01T12:00:00Z or 2027-03-01")


def verify_members(
    members: Mapping[str, bytes],
    anchors: Sequence[TrustedKey] = (),
    *,
    allow_unsigned: bool = False,
    at: float | None = None,
) -> Verification:
    """Every offline check of a bundle's content; each problem is one printable line."""
    v = Verification()
    raw = members.get(CERTIFICATE)
    if raw is None:
        v.problems.append(f"{CERTIFICATE} is missing from the bundle")
        return v
    try:
        cert = parse_json(raw, CERTIFICATE, max_bytes=MAX_CERTIFICATE_BYTES)
        if isinstance(cert, dict) and cert.get("format") != CERTIFICATE_FORMAT:
            v.problems.append(
                f"{CERTIFICATE}: format {printable(cert.get('format'), 20)}; "
                f"this suite ({__version__}) reads format {CERTIFICATE_FORMAT}: "
                "verify it with the suite version that issued it"
            )
            return v
        validate(cert, CERTIFICATE_SCHEMA, CERTIFICATE)
    except UntrustedInputError as exc:
        v.problems.append(str(exc))
        return v
    v.certificate = cert
    same_catalog = _check_suite(v, cert)
    _check_manifest(v, members, cert)
    results = v.results = _results(v, members, cert)
    if results is not None and same_catalog:  # under another catalog its verdicts cannot be re-derived
        rederived = rederive(results)
        v.problems.extend(f"results.json: {p}" for p in rederived.problems)
        _check_against_evidence(v, cert, results, rederived)
    _check_validity(v, cert, time.time() if at is None else at)
    _check_signature(v, members, raw, cert, anchors, allow_unsigned)
    return v


def _check_suite(v: Verification, cert: Mapping[str, Any]) -> bool:
    issued, issued_by = cert["catalog_sha256"], printable(cert["suite"]["version"], 50)
    if issued != catalog_sha256():
        v.problems.append(
            f"catalog: issued against catalog {issued} (suite {issued_by}); this suite "
            f"({__version__}) knows catalog {catalog_sha256()}: verify it with suite {issued_by}"
        )
        return False
    ours = schema_sha256()
    for name, digest in sorted(cert["schemas_sha256"].items()):
        if name not in REPORT_FORMAT_SCHEMAS and ours.get(name) != digest:
            v.problems.append(
                f"schema {printable(name, 80)}: issued against digest {digest}, this suite ({__version__}) "
                f"ships {ours.get(name) or 'no such schema'}"
            )
    return True


def _check_manifest(v: Verification, members: Mapping[str, bytes], cert: Mapping[str, Any]) -> None:
    manifest = cert["manifest"]
    for name, digest in sorted(manifest.items()):
        if name not in members:
            v.problems.append(f"{name} is listed in the manifest but missing from the bundle")
        elif sha256_hex(members[name]) != digest:
            v.problems.append(f"{name} does not match its manifest digest (the file was changed)")
    for name in sorted(set(members) - set(manifest) - {CERTIFICATE, SIGNATURE}):
        v.problems.append(f"{name} is in the bundle but not in the manifest")


def _results(v: Verification, members: Mapping[str, bytes], cert: Mapping[str, Any]) -> dict[str, Any] | None:
    """The bundled results.json, the evidence every verdict is derived from; None when unusable."""
    if "results.json" not in members or "results.json" not in cert["manifest"]:
        v.problems.append("results.json is missing: without the evidence no verdict can be re-derived")
        return None
    try:
        return load_results_bytes(members["results.json"], "results.json")
    except UntrustedInputError as exc:
        v.problems.append(str(exc))
        return None


def _check_against_evidence(
    v: Verification, cert: Mapping[str, Any], results: Mapping[str, Any], ours: Rederived
) -> None:
    """certificate.json must say what the evidence, folded under this suite's catalog, says."""
    catalog = load_catalog()
    run = results["run"]
    if run.get("partial") or run.get("selection"):
        v.problems.append("results.json: a partial run (a selection, a signal, a budget) is not certifiable")
    pairs = (
        ("profile", cert["profile"], run["profile"]),
        ("target", cert["target"]["base_url"], results["target"]["base_url"]),
        ("seed", cert["run"]["seed"], run["seed"]),
        ("catalog digest", cert["catalog_sha256"], results["integrity"].get("catalog_sha256")),
    )
    for what, in_cert, in_results in pairs:
        if in_cert != in_results:
            v.problems.append(
                f"{what}: the certificate says {printable(in_cert, 120)}, results.json says "
                f"{printable(in_results, 120)}"
            )
    accepted = sorted(g["id"] for g in ours.summary["accepted_unverified"])
    stated_accepted = sorted(a["id"] for a in cert["accepted_unverified"])
    if stated_accepted != accepted:
        v.problems.append(
            f"accepted gaps: the certificate lists {printable(', '.join(stated_accepted) or 'none', 200)}; "
            f"the evidence gives {', '.join(accepted) or 'none'}"
        )
    if cert["verdict"] != ours.verdict:
        v.problems.append(
            f"verdict: the certificate says {printable(cert['verdict'], 40)}; the evidence in results.json "
            f"folds to {ours.verdict} under this suite's rules"
        )
    if ours.verdict != RunVerdict.CONFORMANT:
        failed = ", ".join(ours.summary["must_failed"]) or "none"
        unverified = ", ".join(g["id"] for g in ours.summary["unverified"]) or "none"
        v.problems.append(
            f"verdict: {ours.verdict} is not certifiable "
            f"(MUST failed: {failed}; MUST unverified: {unverified})"
        )
    stated: dict[str, Mapping[str, Any]] = {}
    for entry in cert["requirements"]:
        if entry["id"] in stated:
            v.problems.append(f"requirement {entry['id']} is listed twice in the certificate")
        stated[entry["id"]] = entry
    for rid in sorted(set(stated) - set(catalog)):
        v.problems.append(f"requirement {rid} is not in this suite's catalog")
    for mine in ours.requirements:
        _check_requirement(v, stated.get(mine["id"]), mine, accepted)


def _check_requirement(
    v: Verification, entry: Mapping[str, Any] | None, mine: Mapping[str, Any], accepted: list[str]
) -> None:
    rid = mine["id"]
    if entry is None:
        v.problems.append(f"requirement {rid} ({mine['level']}) is missing from the certificate")
        return
    for key in ("level", "profile"):
        if entry[key] != mine[key]:
            v.problems.append(
                f"requirement {rid}: the certificate labels its {key} {entry[key]}; "
                f"this suite's catalog says {mine[key]}"
            )
    if verdict_family(entry["verdict"]) != verdict_family(mine["verdict"]):
        v.problems.append(
            f"requirement {rid}: the certificate says {printable(entry['verdict'], 40)}; "
            f"the evidence gives {mine['verdict']}"
        )
    state = requirement_state(mine, accepted)
    if entry["state"] != state:
        v.problems.append(
            f"requirement {rid}: state {entry['state']} does not follow from the evidence (expected {state})"
        )


def _check_validity(v: Verification, cert: Mapping[str, Any], at: float) -> None:
    issued, expires = parse_time(cert["issued_at"]), parse_time(cert["expires_at"])
    judged = time.strftime(TIME_FORMAT, time.gmtime(at))
    if expires <= issued:
        v.problems.append(
            f"validity: expires ({cert['expires_at']}) before it was issued ({cert['issued_at']})"
        )
    elif at >= expires:
        v.problems.append(
            f"expired: valid until {cert['expires_at']}, judged at {judged} (--at TIME judges another moment)"
        )
    elif issued > at + CLOCK_TOLERANCE:
        v.problems.append(f"validity: issued at {cert['issued_at']}, after the moment judged ({judged})")
    else:
        v.notes.append(f"issued {cert['issued_at']}, valid until {cert['expires_at']}")


def _signature_bytes(v: Verification, members: Mapping[str, bytes]) -> bytes | None:
    try:
        return base64.b64decode(members[SIGNATURE].strip(), validate=True)
    except (binascii.Error, ValueError):
        v.problems.append(f"{SIGNATURE} is not a base64 signature")
        return None


def _check_signature(
    v: Verification,
    members: Mapping[str, bytes],
    raw: bytes,
    cert: Mapping[str, Any],
    anchors: Sequence[TrustedKey],
    allow_unsigned: bool,
) -> None:
    info = cert["signature"]
    if info is None or SIGNATURE not in members:
        if info is not None or SIGNATURE in members:
            v.problems.append(f"signature: certificate.json and {SIGNATURE} disagree about being signed")
        elif anchors and not allow_unsigned:
            v.problems.append("signature: the certificate is not signed, and a trusted key was required")
        else:
            v.notes.append("the certificate is not signed")
        return
    named = info["public_key_sha256"]
    embedded = Ed25519PublicKey.from_public_bytes(base64.b64decode(info["public_key"]))
    if fingerprint(embedded) != named:
        v.problems.append("signature: the key certificate.json embeds does not have the fingerprint it names")
        return
    signature = _signature_bytes(v, members)
    if signature is None:
        return
    candidates = [a for a in anchors if a.fingerprint == named]
    key = candidates[0].key if candidates else embedded
    try:
        key.verify(signature, raw)
    except InvalidSignature:
        v.problems.append(f"signature: {CERTIFICATE} does not carry a valid signature of key {named}")
        return
    if not anchors:
        v.notes.append(f"signed by key {named}; no trusted key was given, so who that is stays unproven")
        return
    if not candidates:
        v.problems.append(
            f"signature: signed by key {named}, which is none of the {len(anchors)} trusted key(s)"
        )
        return
    target = str(cert["target"]["base_url"])
    allowed = [a for a in candidates if a.allows(target)]
    if not allowed:
        patterns = ", ".join(p for a in candidates for p in a.patterns)
        v.problems.append(
            f"signature: key {named} ({candidates[0].source}) may certify only {printable(patterns, 200)}; "
            f"this certificate is for {printable(target, 200)}"
        )
        return
    v.signer = allowed[0]
    v.notes.append(f"signature valid: signed by key {named} ({allowed[0].source})")
