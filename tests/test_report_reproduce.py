"""Reproduction commands: exact argv through a real shell, and agreement with ``conformance replay``."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest

from conformance.commands.cli import build_parser
from conformance.commands.replay import replay_request
from conformance.model.exchange import ApiRequest
from conformance.parse.forms import multipart_parts
from conformance.report.reproduce import (
    EMBEDDED_CONFIG,
    build_reproduction,
    curl_argv,
    replay_argv,
    rerun_command,
    shell_quote,
)

NASTY_VALUES = [
    "plain",
    "with space",
    "it's",
    'double"quote',
    "$HOME",
    "`id`",
    "a;b|c&d",
    "*?[x]",
    "ünïcødé ✓",
    "😀",
    "-9223372036854775807",
    "back\\slash",
    "line\nbreak",
    "tab\there",
    "cr\rlf",
    "\x1b[31mred",
    "\u2028",
    "",
    "!event",
    "~user",
    "{a,b}",
]
TARGET = {
    "base_url": "https://staging.example.com",
    "config": "ci/staging config.toml",
    "embedded": False,
    "secret_env": ["STAGING_CONSUMER_SECRET", "STAGING_TOKEN_SECRET"],
}
EMBEDDED = {
    "base_url": "http://127.0.0.1:40123",
    "config": "<embedded reference>",
    "embedded": True,
    "secret_env": [],
}

needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
# POSIX sh (dash on Debian) and bash: a printed command must mean the same in both.
SHELLS = [
    pytest.param(name, marks=pytest.mark.skipif(shutil.which(name) is None, reason=f"no {name}"))
    for name in ("sh", "bash")
]


def logical(**changes: Any) -> dict[str, Any]:
    base = {
        "params": [["photo_id", "123456"]],
        "http_method": "GET",
        "auth": "write",
        "placement": "header",
        "path": "/api/photo/get-replace-token",
        "query_on_post": [],
        "sign_query_on_post": True,
        "tamper": False,
    }
    return {**base, **changes}


def exchange(log: dict[str, Any] | None, **changes: Any) -> dict[str, Any]:
    base = {
        "id": 7,
        "logical": log,
        "method": "GET",
        "url": "https://staging.example.com/api/photo/get-replace-token",
        "request_headers": [],
        "request_body": "",
        "response": None,
    }
    return {**base, **changes}


def shell_argv(command: str, program: str, shell: str = "bash") -> list[str]:
    """The argv a real shell hands ``program`` for ``command`` (the program is shadowed by a function)."""
    script = f'{program}() {{ printf "%s\\0" "$@"; }}\n{command}\n'
    out = subprocess.run(
        [shell, "-c", script], capture_output=True, check=True, env={"BASE_URL": "http://srv:1"}
    )
    return out.stdout.decode("utf-8").split("\0")[:-1]


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("value", NASTY_VALUES)
def test_every_value_reaches_replay_unchanged_through_the_shell(value: str, shell: str) -> None:
    log = logical(params=[["photo_id", "123456"], ["valid_minutes", value], [f"k{value}", "v"]])
    repro = build_reproduction(exchange(log), TARGET)
    assert repro is not None and repro.kind == "replay"
    assert "$'" not in repro.command  # bash-only quoting: dash would send a literal '$'
    argv = shell_argv(repro.command, "conformance", shell)
    assert argv == replay_argv(log, TARGET["config"])[1:]
    rebuilt = replay_request(build_parser().parse_args(argv))
    assert list(rebuilt.params) == [("photo_id", "123456"), ("valid_minutes", value), (f"k{value}", "v")]


@needs_bash
def test_notes_are_shell_comments_so_the_whole_text_can_be_pasted() -> None:
    repro = build_reproduction(exchange(logical()), EMBEDDED)
    assert repro is not None
    assert all(line.startswith("# ") for line in repro.text.splitlines()[:-1])
    assert shell_argv(repro.text, "conformance")[:3] == ["replay", "--config", EMBEDDED_CONFIG]


@pytest.mark.parametrize(
    "log",
    [
        logical(),
        logical(auth=None, placement="header"),
        logical(auth="read", placement="query", tamper=True),
        logical(http_method="POST", placement="body", query_on_post=[["valid_minutes", "60"], ["-x", "-1"]]),
        logical(params=[["photo_id", "1"], ["valid_minutes", "-5"]], path="/api/photo/redeem-replace-token"),
        logical(params=[]),
    ],
)
def test_replay_arguments_rebuild_the_same_logical_request(log: dict[str, Any]) -> None:
    """What `conformance replay` parses from the command is the request the suite sent."""
    args = build_parser().parse_args(replay_argv(log, "t.toml")[1:])
    rebuilt = replay_request(args)
    original = ApiRequest(
        params=tuple(map(tuple, log["params"])),
        http_method=log["http_method"],
        auth=log["auth"],
        placement=log["placement"],
        path=log["path"],
        query_on_post=tuple(map(tuple, log["query_on_post"])),
        tamper=log["tamper"],
    )
    assert rebuilt == original
    assert args.config == "t.toml"


def test_replay_names_the_config_and_the_secret_variables_never_their_values() -> None:
    repro = build_reproduction(exchange(logical(tamper=True)), TARGET)
    assert repro is not None
    assert repro.command.startswith(
        "conformance replay --config 'ci/staging config.toml' --method GET --auth write"
    )
    assert "--tamper" in repro.command
    assert any("export STAGING_CONSUMER_SECRET STAGING_TOKEN_SECRET" in n for n in repro.notes)


def test_embedded_runs_say_to_start_the_reference_with_a_written_config() -> None:
    repro = build_reproduction(exchange(logical()), EMBEDDED)
    assert repro is not None
    assert "--config target.toml" in repro.command
    assert any("conformance serve --write-config target.toml" in n for n in repro.notes)


def test_unsigned_request_uses_auth_none_and_minus_values_get_a_separator() -> None:
    argv = replay_argv(logical(auth=None, params=[["-weird", "1"]]), "t.toml")
    assert argv[argv.index("--auth") + 1] == "none"
    assert argv[-2:] == ["--", "-weird=1"]


def test_fidelity_notes_for_what_replay_cannot_express() -> None:
    repro = build_reproduction(
        exchange(
            logical(
                http_method="POST",
                query_on_post=[["a", "1"]],
                sign_query_on_post=False,
                params=[["x", "a\x00b"]],
            )
        ),
        TARGET,
    )
    assert repro is not None
    assert any("left the POST query out of the signature" in n for n in repro.notes)
    assert '--params-json \'[["x", "a\\u0000b"]]\'' in repro.command  # JSON carries even a NUL


MULTIPART = (
    '--b\r\nContent-Disposition: form-data; name="replace_token"\r\n\r\ntok\'en $x\r\n'
    '--b\r\nContent-Disposition: form-data; name="file"; filename="up.gif"\r\nContent-Type: image/gif\r\n\r\n'
    "GIF89a\ufffd\x00\r\n--b--\r\n"
)
REDEEM = "https://staging.example.com/api/photo/redeem-replace-token"


@needs_bash
def test_multipart_posts_become_curl_form_fields() -> None:
    ex = exchange(
        None,
        method="POST",
        url=REDEEM,
        request_headers=[
            ["Content-Type", "multipart/form-data; boundary=b"],
            ["Content-Length", "99"],
            ["User-Agent", "twentythree-conformance/0.1"],
        ],
        request_body=MULTIPART,
    )
    repro = build_reproduction(ex, TARGET)
    assert repro is not None and repro.kind == "curl"
    argv = shell_argv(repro.command, "curl")
    assert argv == curl_argv(ex)[1:]
    assert argv == [
        "-sS",
        "-i",
        REDEEM,
        "--form-string",
        "replace_token=tok'en $x",
        "-F",
        "file=@up.gif;type=image/gif",
    ]
    assert any("./up.gif (image/gif)" in n for n in repro.notes)
    assert not any("export" in n for n in repro.notes)  # anonymous: no secrets needed


@needs_bash
def test_other_bodies_are_sent_byte_for_byte() -> None:
    body = "a=1&b=it's\r\n$HOME"
    ex = exchange(
        None, method="POST", url=REDEEM, request_headers=[["Content-Type", "text/plain"]], request_body=body
    )
    argv = shell_argv(build_reproduction(ex, TARGET).command, "curl")  # type: ignore[union-attr]
    assert argv == [
        "-sS",
        "-i",
        "-X",
        "POST",
        REDEEM,
        "-H",
        "Content-Type: text/plain",
        "--data-binary",
        body,
    ]


def test_a_cut_multipart_body_keeps_the_complete_parts() -> None:
    cut = MULTIPART[: MULTIPART.index("GIF89a") - 30]
    assert [p.name for p in multipart_parts("multipart/form-data; boundary=b", cut) or []] == [
        "replace_token"
    ]
    assert multipart_parts("text/plain", MULTIPART) is None


@needs_bash
def test_embedded_curl_points_at_base_url_variable() -> None:
    ex = exchange(None, method="POST", url="http://127.0.0.1:40123/api/photo/redeem-replace-token?a=1")
    repro = build_reproduction(ex, EMBEDDED)
    assert repro is not None
    assert '"$BASE_URL"' in repro.command
    assert "http://srv:1/api/photo/redeem-replace-token?a=1" in shell_argv(repro.command, "curl")
    assert any("BASE_URL" in n for n in repro.notes)


def test_curl_of_a_redacted_request_warns_it_will_be_refused() -> None:
    ex = exchange(None, request_headers=[["Authorization", 'OAuth oauth_signature="<redacted>"']])
    repro = build_reproduction(ex, TARGET)
    assert repro is not None and any("redacted" in n for n in repro.notes)


def test_no_exchange_no_reproduction() -> None:
    assert build_reproduction(None, TARGET) is None
    assert build_reproduction({}, TARGET) is None


def test_rerun_command_repeats_seed_settings_and_examples() -> None:
    results = {
        "target": TARGET,
        "run": {
            "profile": "full",
            "seed": 42,
            "settings_profile": "polite",
            "hypothesis": {"max_examples": 5},
            "include_slow": True,
        },
    }
    cmd = rerun_command(results, "test_params.py::test_out_of_range_follows_declared_policy[xml]")
    assert cmd == (
        "conformance run --config 'ci/staging config.toml' --profile full --seed 42 --settings polite "
        "--max-examples 5 --include-slow -k test_out_of_range_follows_declared_policy "
        "--report-dir reports-rerun"
    )


def test_shell_quote_uses_plain_quoting_for_printable_text() -> None:
    assert shell_quote("a b") == "'a b'"
    assert shell_quote("plain") == "plain"
    assert shell_quote("x\ny") == "'x\ny'"  # POSIX: single quotes keep a newline as it is
