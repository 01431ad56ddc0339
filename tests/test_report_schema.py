"""schemas/results.schema.json: a valid draft 2020-12 schema that describes what write_outputs writes.

Real run output is validated in test_report_run.py; these tests pin the schema's own edges.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.test_report_html import hostile_results

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "results.schema.json"


def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(data: dict[str, Any]) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator().iter_errors(data)]


def test_schema_is_draft_2020_12() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    validator()


def test_synthetic_results_validate() -> None:
    assert errors(hostile_results()) == []


@pytest.mark.parametrize("where", ["url", "request_body", "header", "response_body"])
def test_an_unredacted_signature_is_invalid(where: str) -> None:
    data = copy.deepcopy(hostile_results())
    ex = data["tests"][3]["findings"][0]["exchange"]
    leaked = "oauth_signature=dGhpc2lzYXNpZ25hdHVyZQ%3D%3D"
    if where == "url":
        ex["url"] += "&" + leaked
    elif where == "request_body":
        ex["request_body"] = leaked
    elif where == "header":
        ex["request_headers"] = [["Authorization", 'OAuth oauth_signature="dGhpc2lzYXNpZ25hdHVyZQ=="']]
    else:
        ex["response"]["body"] = f"echo: {leaked}"
    assert errors(data), where


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("summary", "verdict"), "MOSTLY CONFORMANT"),
        (("summary", "exit_code"), 5),  # 2 is a preflight STOPPED run
        (("requirements", 0, "verdict"), "passed"),
        (("requirements", 0, "level"), "MAY"),
        (("tests", 0, "verdict"), "blocked"),
        (("integrity", "catalog_sha256"), "not-a-hash"),
        (("run", "seed"), "42"),
    ],
)
def test_wrong_values_are_caught(path: tuple[Any, ...], value: Any) -> None:
    data = copy.deepcopy(hostile_results())
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert errors(data)


def test_a_stopped_run_has_exit_code_2_and_says_why() -> None:
    """STOPPED (the preflight found a user mistake) goes with exit code 2 and summary.stopped only."""
    data = copy.deepcopy(hostile_results())
    data["summary"].update(verdict="STOPPED", exit_code=2, stopped={"by": "preflight", "reason": "r"})
    assert not errors(data)
    for change in ({"exit_code": 1}, {"stopped": None}):
        broken = copy.deepcopy(data)
        broken["summary"].update(change)
        if change.get("stopped", 0) is None:
            del broken["summary"]["stopped"]
        assert errors(broken)


def test_partial_runs_and_unknown_future_keys_are_allowed() -> None:
    data = copy.deepcopy(hostile_results())
    data["summary"]["verdict"] = "NOT CONFORMANT (partial run)"
    data["summary"]["partial"] = True
    data["run"]["partial"] = True
    data["requirements"][0]["verdict"] = "not-run"
    data["something_new"] = {"added": "later"}
    assert errors(data) == []
