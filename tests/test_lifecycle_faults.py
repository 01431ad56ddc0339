"""Every lifecycle requirement FAILS against a reference broken in exactly that one way.

Each case starts the reference with one redeem fault (clock control on), runs the full profile
limited with -k to the tests that should catch it, and requires the fault's requirements to be
'fail' and the exit code 1. Together with the conformant full run (test_lifecycle.py) this shows
the verdicts follow the target, not the suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.commands.selftest_cases import all_cases, select_cases
from conformance.reference.faults import FAULTS
from conformance.reference.server import ReferenceServer, ReferenceSettings
from tests.suite_runs import run_suite, verdicts, write_config

QUICK = ("--max-examples", "3", "--settings", "polite", "--seed", "11", "--quiet")

# fault -> the suite tests (-k) that must catch it
SELECTION = {
    "callback_drops_tree_id": "replace_the_photo",
    "callback_loses_return_url_query": "query_is_kept",
    "extra_params_not_repeated": "extra_fields_are_repeated",
    "callback_values_not_encoded": "values_arrive or short_callback or long_callback or background_callback",
    "callback_long_as_get": "long_callback",
    "callback_always_form": "short_callback",
    "callback_threshold_1024": "just_below_the_threshold",
    "empty_return_url_redirects": "no_return_url",
    "redeem_unknown_token_redirects": "unknown_token",
    "redeem_missing_file_succeeds": "missing_file",
    "redeem_limit_unenforced": "consumed_token or max_uploads or token_store_model",
    "redeem_limit_racy": "concurrent_redemptions",
    "redeem_expiry_unchecked": "refused_after_valid_until",
    "background_callback_ignored": "background_callback",
    "background_error_unprefixed": "background_error",
    "issue_resets_all_uses": "token_store_model",
}
FULL_FAULTS = sorted(name for name, fault in FAULTS.items() if fault.profile == "full")
# The full-profile faults `conformance selftest --subset` already runs (each with the tests of its
# detected_by requirements): tests/test_selftest.py asserts the same of them there (their requirements
# fail, exit 1).
IN_SELFTEST_SUBSET = sorted(
    c.name
    for c in select_cases(all_cases("full"), subset=True)
    if c.kind == "fault" and c.name in FULL_FAULTS
)


def test_every_full_profile_fault_has_a_case() -> None:
    assert sorted(SELECTION) == FULL_FAULTS


@pytest.mark.parametrize("fault", [f for f in FULL_FAULTS if f not in IN_SELFTEST_SUBSET])
def test_fault_fails_its_requirements(tmp_path: Path, fault: str) -> None:
    with ReferenceServer(ReferenceSettings(clock_control=True, faults=frozenset({fault}))) as server:
        # A short timeout bounds the wait for a background callback that never comes.
        cfg = write_config(tmp_path / "t.toml", server, limits={"timeout_seconds": 3})
        proc = run_suite(
            "--config",
            str(cfg),
            "--profile",
            "full",
            "--report-dir",
            str(tmp_path),
            "-k",
            SELECTION[fault],
            *QUICK,
        )
    got = verdicts(tmp_path)
    expected = FAULTS[fault].detected_by
    assert {rid: got[rid] for rid in expected} == dict.fromkeys(expected, "fail"), proc.stdout[-3000:]
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
