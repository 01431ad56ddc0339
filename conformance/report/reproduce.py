"""Copy-paste reproduction commands for a recorded exchange (shared by the HTML report and the console).

A reproduction must re-send the request *signed afresh* (the recorded signature is redacted and its
nonce spent), so requests with a logical form become ``conformance replay`` commands; exchanges the
suite built by hand (redeem's multipart posts) become ``curl`` commands. Secrets never appear: the
command names the config, and the config reads its secrets from environment variables.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from conformance.parse.forms import multipart_parts
from conformance.spec import GET_REPLACE_TOKEN

EMBEDDED_CONFIG = "target.toml"
REDACTED = "<redacted>"
# Headers curl sets itself (or that only describe the recorded connection).
_CURL_SKIP_HEADERS = {"content-length", "host", "connection", "accept-encoding", "accept", "user-agent"}
_RECORDED_BODY_LIMIT = 4096  # client.send_built keeps at most this much of a byte body


@dataclass(frozen=True)
class Reproduction:
    """One shell command plus the notes a reader needs before running it."""

    kind: Literal["replay", "curl"]
    command: str
    notes: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The notes as shell comments followed by the command: safe to paste as a whole."""
        return "\n".join([*(f"# {n}" for n in self.notes), self.command])


def shell_quote(arg: str) -> str:
    """``shlex.quote``: POSIX sh quoting (no bash-only ``$'..'``), safe in dash, bash and zsh alike.

    Arguments with control characters never reach it from a replay command: those parameters are
    printed as ``--params-json`` with JSON escapes (see ``replay_argv``). A curl command keeps them
    inside single quotes, which every POSIX shell passes through unchanged.
    """
    return shlex.quote(arg)


def join_command(argv: Sequence[str]) -> str:
    return " ".join(shell_quote(a) for a in argv)


def config_argument(target: Mapping[str, Any]) -> str:
    """The --config value: the run's config path, or the file ``conformance serve`` writes."""
    if target.get("embedded"):
        return EMBEDDED_CONFIG
    return str(target.get("config") or "target.toml")


def _common_notes(target: Mapping[str, Any], *, signs: bool = True) -> list[str]:
    notes = []
    if target.get("embedded"):
        notes.append(
            "the run certified the embedded reference: start one first with "
            f"`conformance serve --write-config {EMBEDDED_CONFIG}` and keep it running"
        )
    env = [str(n) for n in target.get("secret_env") or ()]
    if env and signs:
        notes.append(f"the config reads its secrets from the environment: export {' '.join(env)}")
    return notes


def _pairs(raw: Any) -> list[tuple[str, str]]:
    return [(str(p[0]), str(p[1])) for p in raw or ()]


def _printable(text: str) -> bool:
    return all(ch.isprintable() for ch in text)


def program(argv0: str | None = None) -> str:
    """The word that starts the printed ``conformance`` commands: ``conformance`` when that runs this
    program, else the program the user actually ran (``.venv/bin/conformance`` after README's quick
    start, where ``conformance`` is not on PATH), so a pasted command works in the same shell.

    Only a ``conformance`` script counts: under ``python -m conformance`` or plain pytest the word
    stays ``conformance``.
    """
    argv0 = sys.argv[0] if argv0 is None else argv0
    if not argv0 or Path(argv0).name != "conformance":
        return "conformance"
    found = shutil.which("conformance")
    if found and os.path.realpath(found) == os.path.realpath(argv0):
        return "conformance"
    ran = Path(argv0).absolute()
    try:
        relative = ran.relative_to(Path.cwd())
    except ValueError:
        return str(ran)
    return str(relative) if len(relative.parts) > 1 else f"./{relative}"  # ./x: never a PATH lookup


def replay_argv(
    logical: Mapping[str, Any], config: str, requirement: str | None = None, check: str | None = None
) -> list[str]:
    """``conformance replay`` arguments that rebuild the logical request, sign it afresh and re-judge.

    ``requirement`` and ``check`` name the finding, so replay runs the same check on the fresh answer
    and exits 1 while it still fails. Parameters holding a control character go as ``--params-json``
    (JSON escapes are printable ASCII): the command stays POSIX-sh safe and lossless.
    """
    argv = [program(), "replay", "--config", config]
    if requirement:
        argv += ["--requirement", requirement]
    if check:
        argv += ["--check", check]
    argv += [
        "--method",
        str(logical.get("http_method") or "GET"),
        "--auth",
        str(logical.get("auth") or "none"),
        "--placement",
        str(logical.get("placement") or "header"),
    ]
    path = logical.get("path") or GET_REPLACE_TOKEN
    if path != GET_REPLACE_TOKEN:
        argv += ["--path", str(path)]
    if logical.get("tamper"):
        argv.append("--tamper")
    for key, value in _pairs(logical.get("query_on_post")):
        item = f"{key}={value}"
        argv += [f"--post-query={item}"] if item.startswith("-") else ["--post-query", item]
    pairs = _pairs(logical.get("params"))
    if not all(_printable(k) and _printable(v) for k, v in pairs) or any("=" in k for k, _ in pairs):
        return [*argv, "--params-json", json.dumps([list(p) for p in pairs], ensure_ascii=True)]
    params = [f"{k}={v}" for k, v in pairs]
    if any(p.startswith("-") for p in params):
        argv.append("--")  # so argparse never reads a parameter as an option
    return argv + params


def _fidelity_notes(logical: Mapping[str, Any]) -> list[str]:
    notes = []
    if (
        logical.get("http_method") == "POST"
        and logical.get("query_on_post")
        and logical.get("sign_query_on_post") is False
    ):
        notes.append("the original left the POST query out of the signature; replay signs it")
    values = [v for pair in _pairs(logical.get("query_on_post")) for v in pair]
    if any("\x00" in v for v in values):
        notes.append("a parameter contains a NUL character, which no shell can pass: the replay differs")
    return notes


def _header(exchange: Mapping[str, Any], name: str) -> str:
    return next((v for k, v in _pairs(exchange.get("request_headers")) if k.lower() == name), "")


def curl_argv(exchange: Mapping[str, Any]) -> list[str]:
    """curl arguments for a recorded request; multipart bodies become -F fields (curl picks the boundary)."""
    method = str(exchange.get("method") or "GET")
    body = str(exchange.get("request_body") or "")
    parts = multipart_parts(_header(exchange, "content-type"), body) if body else None
    argv = [
        "curl",
        "-sS",
        "-i",
        *([] if parts is not None else ["-X", method]),
        str(exchange.get("url") or ""),
    ]
    for key, value in _pairs(exchange.get("request_headers")):
        if key.lower() not in _CURL_SKIP_HEADERS and not (
            parts is not None and key.lower() == "content-type"
        ):
            argv += ["-H", f"{key}: {value}"]
    if parts is not None:
        for part in parts:
            if part.filename is None:
                argv += ["--form-string", f"{part.name}={part.value}"]
            else:
                spec = f"{part.name}=@{part.filename}" + (
                    f";type={part.content_type}" if part.content_type else ""
                )
                argv += ["-F", spec]
    elif body:
        argv += ["--data-binary", body]
    return argv


def _curl(exchange: Mapping[str, Any], target: Mapping[str, Any]) -> Reproduction:
    notes = _common_notes(target, signs=False)
    argv = curl_argv(exchange)
    url = str(exchange.get("url") or "")
    at = argv.index(url) if url in argv else -1
    base = str(target.get("base_url") or "").rstrip("/")
    words = [shell_quote(a) for a in argv]
    if target.get("embedded") and base and url.startswith(base) and at >= 0:
        # the embedded server's port is gone; point at the one `conformance serve` prints
        words[at] = '"$BASE_URL"' + (shell_quote(url[len(base) :]) if url[len(base) :] else "")
        notes.append("set BASE_URL to the URL `conformance serve` prints")
    body = str(exchange.get("request_body") or "")
    parts = multipart_parts(_header(exchange, "content-type"), body) if body else None
    for part in parts or ():
        if part.filename is not None:
            notes.append(
                f"put a file at ./{part.filename} ({part.content_type or 'any type'}); the recorded upload "
                f"was {len(part.value)} characters and is not reproduced byte for byte"
            )
    recorded = " ".join([url, body, *(v for _, v in _pairs(exchange.get("request_headers")))])
    if REDACTED in recorded:
        notes.append(
            "the recorded request carried a secret or signature that is redacted here; "
            "the target will refuse this copy"
        )
    if len(body) >= _RECORDED_BODY_LIMIT:
        notes.append(
            f"the recorded body was cut at {_RECORDED_BODY_LIMIT} characters; the original was longer"
        )
    return Reproduction("curl", " ".join(words), notes)


def build_reproduction(
    exchange: Mapping[str, Any] | None,
    target: Mapping[str, Any],
    finding: Mapping[str, Any] | None = None,
) -> Reproduction | None:
    """A reproduction for a recorded exchange (``Exchange.to_dict()`` shape) of a run on ``target``.

    ``target`` is ``results["target"]``; ``finding`` (a ``Finding.to_dict()``) makes the replay
    re-judge its requirement and check. Returns None when there is no exchange to reproduce.
    """
    if not exchange:
        return None
    logical = exchange.get("logical")
    if not logical:
        return _curl(exchange, target)
    requirement = str(finding.get("requirement") or "") or None if finding else None
    check = str(finding.get("check") or "") or None if finding else None
    argv = replay_argv(logical, config_argument(target), requirement, check)
    return Reproduction("replay", join_command(argv), _common_notes(target) + _fidelity_notes(logical))


def rerun_command(results: Mapping[str, Any], nodeid: str) -> str:
    """``conformance run`` that repeats one test's Hypothesis draws (same seed, settings, examples)."""
    target = results.get("target") or {}
    run = results.get("run") or {}
    argv = ["conformance", "run", "--config", config_argument(target)]
    if run.get("profile") and run.get("profile") != "core":
        argv += ["--profile", str(run["profile"])]
    if run.get("seed") is not None:
        argv += ["--seed", str(run["seed"])]
    if run.get("settings_profile") and run.get("settings_profile") != "default":
        argv += ["--settings", str(run["settings_profile"])]
    max_examples = (run.get("hypothesis") or {}).get("max_examples")
    if max_examples is not None:
        argv += ["--max-examples", str(max_examples)]
    if run.get("include_slow"):
        argv.append("--include-slow")
    name = nodeid.rsplit("::", 1)[-1].split("[", 1)[0]
    argv += ["-k", name, "--report-dir", "reports-rerun"]
    return join_command(argv)
