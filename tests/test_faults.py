"""The fault table: big enough, covering every group, wired at one place each, validated by name.

Detection itself is proven by ``conformance selftest`` (tests/test_selftest.py); these tests keep
the table honest: no row without a deviation in the server, no deviation without a row, and a
typo in ``--fault`` never silently serves the clean reference.
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest
import requests

import conformance.reference
from conformance.catalog import load_catalog
from conformance.reference import ReferenceServer, ReferenceSettings
from conformance.reference.behaviour import Behaviour
from conformance.reference.faults import CORE_FAULTS, FAULT_LIST, FAULTS
from conformance.reference.selection import UnknownBehaviourName, behaviour_for
from tests.reference_helpers import PHOTO_ID, get_token, js, xml
from tests.suite_runs import conformance_in_process

REFERENCE_DIR = Path(conformance.reference.__file__).parent
FAULT_CALL = re.compile(r"""\.fault\(\s*["']([A-Za-z0-9_]+)["']\s*\)""")


def _fault_calls() -> dict[str, list[str]]:
    """Fault name -> reference modules that check it with ``behaviour.fault("name")``."""
    out: dict[str, list[str]] = {}
    for path in sorted(REFERENCE_DIR.glob("*.py")):
        if path.name == "behaviour.py":  # the mechanism itself (its docstrings show the call)
            continue
        for name in FAULT_CALL.findall(path.read_text(encoding="utf-8")):
            out.setdefault(name, []).append(path.name)
    return out


def test_table_size() -> None:
    assert len(CORE_FAULTS) >= 27
    assert len(FAULT_LIST) >= 35


def test_names_are_unique_snake_case_and_described() -> None:
    assert len(FAULTS) == len(FAULT_LIST), "duplicate fault names"
    for f in FAULT_LIST:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", f.name), f.name
        assert f.description.strip() and f.detected_by, f.name
        assert f.profile in ("core", "full"), f.name


def test_every_requirement_group_has_a_fault() -> None:
    groups = {r.group for r in load_catalog().values()}
    covered = {f.group for f in FAULT_LIST}
    assert groups <= covered, f"groups without a fault: {sorted(groups - covered)}"


def test_detected_by_names_catalog_requirements_within_the_faults_profile() -> None:
    catalog = load_catalog()
    for f in FAULT_LIST:
        for rid in f.detected_by:
            assert rid in catalog, f"{f.name}: unknown requirement {rid}"
            assert catalog[rid].in_profile(f.profile), f"{f.name}: {rid} needs a profile beyond {f.profile}"


def test_core_faults_are_core_profile() -> None:
    assert all(f.profile == "core" for f in CORE_FAULTS)


def test_every_inline_fault_is_checked_in_the_reference_and_every_check_has_a_row() -> None:
    calls = _fault_calls()
    inline = {f.name for f in FAULT_LIST if not f.knobs}
    assert not inline - set(calls), f"faults with no behaviour.fault() check: {sorted(inline - set(calls))}"
    assert not set(calls) - set(FAULTS), f"checks without a table row: {sorted(set(calls) - set(FAULTS))}"


def test_knob_faults_change_a_knob() -> None:
    clean = Behaviour()
    for f in FAULT_LIST:
        if not f.knobs:
            continue
        b = Behaviour()
        b.set_knobs(f.knobs, f.name)
        changed = [fl.name for fl in fields(Behaviour) if getattr(b, fl.name) != getattr(clean, fl.name)]
        assert changed, f"{f.name}: knobs change nothing"


def test_behaviour_for_applies_knobs_and_records_the_fault() -> None:
    b = behaviour_for(frozenset({"token_short", "cached_one"}), None, "clamp")
    assert b.token_bytes == 4 and b.fault("cached_one") and not b.fault("format_ignored")
    assert behaviour_for(frozenset(), None, "clamp") == Behaviour()


@pytest.mark.parametrize(("faults", "variant"), [({"no_such_fault"}, None), (set(), "no_such_variant")])
def test_unknown_names_are_refused(faults: set[str], variant: str | None) -> None:
    with pytest.raises(UnknownBehaviourName, match="no_such_"):
        behaviour_for(frozenset(faults), variant, "clamp")


def test_server_refuses_unknown_fault_before_binding() -> None:
    with pytest.raises(UnknownBehaviourName):
        ReferenceServer(ReferenceSettings(faults=frozenset({"typo"}))).start()


def test_serve_with_unknown_fault_exits_2_naming_it() -> None:
    proc = conformance_in_process("serve", "--fault", "cached_one", "--fault", "nope_fault")
    assert proc.returncode == 2
    assert "nope_fault" in proc.stderr and "known faults" in proc.stderr


def test_serve_list_shows_every_fault() -> None:
    proc = conformance_in_process("serve", "--list")
    assert proc.returncode == 0
    assert all(f.name in proc.stdout for f in FAULT_LIST)


# -- a few faults end to end: the deviation really reaches the wire ---------------------------
def _server(*faults: str) -> ReferenceServer:
    return ReferenceServer(ReferenceSettings(faults=frozenset(faults)))


def test_crash_fault_answers_500_with_a_trace() -> None:
    with _server("malformed_int_500") as server:
        resp = get_token(server, {"photo_id": PHOTO_ID, "valid_minutes": "abc"})
        assert resp.status_code == 500 and "Traceback" in resp.text
        ok = get_token(server, {"photo_id": PHOTO_ID, "valid_minutes": "30"})
        assert ok.status_code == 200 and xml(ok).get("status") == "ok"


def test_several_faults_combine() -> None:
    faults = ("errors_http_4xx", "token_short", "valid_until_milliseconds", "json_status_uppercase")
    with _server(*faults) as server:
        denied = get_token(server, level="anonymous")
        assert denied.status_code == 403
        _, _, obj = js(get_token(server, {"photo_id": PHOTO_ID, "format": "json"}))
        assert obj["status"] == "OK"
        assert len(obj["replacetoken"]["replace_token"]) == 8
        assert len(obj["replacetoken"]["valid_until"]) == 13  # milliseconds


def test_the_clean_reference_is_unaffected_by_the_table() -> None:
    with ReferenceServer(ReferenceSettings()) as server:
        resp = get_token(server, {"photo_id": "999999999"})
        assert resp.status_code == 200 and xml(resp).get("code") == "no_such_photo"
        resp = requests.get(server.base_url + "/api/photo/get-replace-token", timeout=10)
        assert xml(resp).get("permission_level") == "anonymous"
