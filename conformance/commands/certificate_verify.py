"""``conformance certificate verify | keygen``: check a certificate bundle; make a signing key.

verify exit codes: 0 valid (signed by a key the reviewer trusts for the certificate's target), or
consistent with ``--allow-unsigned`` (origin unproven, said so); 1 INVALID, each problem on its
own line; 2 usage: no such file, not a zip, an archive unsafe to read, a bad key or config, or no
trusted key given ("integrity checked, origin unproven").

The archive is read by certificate_zip.py (in memory, through size caps, never extracted); the
checks are in :mod:`conformance.report.certificate_check`; the recheck in :mod:`.recheck`.
Every string that comes from the bundle is printed with control characters escaped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from conformance.commands.common import add_list_option
from conformance.commands.recheck import recheck
from conformance.config import ConfigError, TargetConfig, load_config
from conformance.model.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from conformance.model.text import printable
from conformance.report.certificate import CertificateError, fingerprint
from conformance.report.certificate_check import Verification, parse_time, verify_members
from conformance.report.certificate_zip import DamagedMember, UnsafeBundle, read_bundle
from conformance.report.trust import generate_key_files, load_anchors, signers_line

NO_TRUSTED_KEY = "no trusted key: integrity checked, origin unproven"
UNSIGNED_PROVES = (
    "what --allow-unsigned proves: the files match the manifest and the verdict follows from the "
    "bundled evidence under this suite's catalog; what it does not: who made the bundle (anyone can "
    "write a consistent one)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="certificate_command", required=True)
    p = sub.add_parser("verify", help="verify a certificate.zip offline (and against the live target)")
    p.add_argument("bundle", help="certificate.zip written by conformance run --certify")
    add_list_option(p, "--public-key", "FILE", "a PEM Ed25519 public key trusted for any target (repeatable)")
    add_list_option(
        p,
        "--allowed-signers",
        "FILE",
        "trusted keys, each bound to the target base URLs it may certify: lines of "
        "'PATTERNS ed25519 BASE64-KEY [comment]' (repeatable)",
    )
    p.add_argument(
        "--allow-unsigned",
        action="store_true",
        help="accept a certificate no trusted key vouches for (integrity only; origin unproven)",
    )
    p.add_argument("--at", metavar="TIME", help="judge validity at this UTC time (default: now)")
    p.add_argument("--recheck", action="store_true", help="replay recorded requests against the live target")
    p.add_argument(
        "--config", metavar="FILE", help="target TOML config with the reviewer's credentials (--recheck)"
    )
    p.add_argument(
        "--recheck-limit", type=int, default=100, metavar="N", help="at most N requests (default 100)"
    )
    p.add_argument(
        "--recheck-other-target",
        action="store_true",
        help="recheck a base_url other than the certified one (e.g. production of a certified staging)",
    )
    p.add_argument(
        "--recheck-admin", action="store_true", help="also replay admin-level samples with your admin key"
    )
    k = sub.add_parser("keygen", help="make an Ed25519 key pair to sign certificates with")
    k.add_argument("--out", default="certificate-key.pem", help="private key file (written 0600)")
    add_list_option(k, "--target", "PATTERN", "base URL pattern for the printed allowed-signers line")
    k.add_argument("--force", action="store_true", help="replace existing key files")


def main(args: argparse.Namespace) -> int:
    if args.certificate_command == "keygen":
        return keygen(args)
    return verify(args)


def _usage(message: str) -> int:
    print(f"conformance certificate verify: {message}", file=sys.stderr)
    return EXIT_USAGE


def verify(args: argparse.Namespace) -> int:
    if args.recheck and not args.config:
        return _usage("--recheck needs --config target.toml (the reviewer's credentials for the target)")
    if args.recheck_limit < 1:
        return _usage("--recheck-limit must be at least 1")
    try:
        at = parse_time(args.at) if args.at else None
    except ValueError as exc:
        return _usage(f"--at: {exc}")
    try:
        anchors = load_anchors(args.public_key, args.allowed_signers)
    except CertificateError as exc:
        return _usage(str(exc))
    config = None
    if args.recheck:
        try:
            config = load_config(args.config)
        except ConfigError as exc:
            return _usage(f"config error: {exc}")
    try:
        members = read_bundle(args.bundle)
    except UnsafeBundle as exc:
        return _usage(printable(str(exc), 500))
    except DamagedMember as exc:
        print(f"certificate INVALID: {printable(args.bundle)}\n  - {printable(str(exc))}")
        return EXIT_FAILED
    result = verify_members(members, anchors, allow_unsigned=args.allow_unsigned, at=at)
    if config is not None and result.valid and result.results is not None:
        _recheck(result, config, args)
    return _report(result, args, trusted=bool(anchors))


def _about(cert: dict[str, Any]) -> str:
    if not cert:
        return ""
    return (
        f"{printable(cert['verdict'], 40)} (profile {cert['profile']}) for "
        f"{printable(cert['target']['base_url'], 200)}, suite {printable(cert['suite']['version'], 40)}, "
        f"catalog {cert['catalog_sha256'][:12]}"
    )


def _report(result: Verification, args: argparse.Namespace, *, trusted: bool) -> int:
    about = _about(result.certificate)
    for note in result.notes:
        print(f"note: {printable(note, 500)}")
    if not result.valid:
        print(f"certificate INVALID: {printable(args.bundle)}" + (f" ({about})" if about else ""))
        for problem in result.problems:
            print(f"  - {printable(problem, 500)}")
        return EXIT_FAILED
    if result.signer is not None:
        print(f"certificate valid: {about}; signed by key {result.signer.fingerprint}")
        return EXIT_OK
    if args.allow_unsigned:
        print(f"note: {UNSIGNED_PROVES}")
        print(f"certificate consistent, origin unproven (--allow-unsigned): {about}")
        return EXIT_OK
    hint = "" if trusted else "; give --public-key or --allowed-signers (or --allow-unsigned)"
    print(f"certificate NOT VERIFIED: {NO_TRUSTED_KEY}{hint}: {about}")
    return EXIT_USAGE


def _recheck(result: Verification, config: TargetConfig, args: argparse.Namespace) -> None:
    assert result.results is not None
    certified = str(result.certificate["target"]["base_url"]).rstrip("/")
    compared = config.base_url.rstrip("/")
    if certified != compared and not args.recheck_other_target:
        result.problems.append(
            f"recheck: the config's target {printable(compared, 200)} is not the certified "
            f"{printable(certified, 200)}; nothing was sent (--recheck-other-target compares them knowingly)"
        )
        return
    outcome = recheck(result.results, config, args.recheck_limit, allow_admin=args.recheck_admin)
    if outcome.refused:
        result.problems.append(
            f"recheck: {len(outcome.refused)} recorded sample(s) ask for what a recheck never sends; "
            "nothing was sent"
        )
        result.problems.extend(f"recheck: {r}" for r in outcome.refused[:10])
        return
    result.notes.append(f"recheck: compared {compared} against the certified {certified}")
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


def keygen(args: argparse.Namespace) -> int:
    """A signing key pair for ``run --certify --sign-key``; prints what to publish."""
    try:
        key, public_path = generate_key_files(Path(args.out), force=args.force)
    except CertificateError as exc:
        print(f"conformance certificate keygen: {exc}", file=sys.stderr)
        return EXIT_USAGE
    patterns = args.target or ["https://YOUR-TARGET.example.com*"]
    print(f"private key: {args.out} (mode 0600; keep it secret, e.g. in your CI's secret store)")
    print(f"public key:  {public_path} (give it to reviewers)")
    print(f"fingerprint: {fingerprint(key.public_key())}")
    print("allowed-signers line for reviewers (edit the target patterns):")
    print(f"  {signers_line(key.public_key(), patterns)}")
    return EXIT_OK
