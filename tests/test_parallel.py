"""How the whole suite is split over workers (tests/parallel.py): whole files, the readers of one
session fixture together, so no session run is repeated on a second worker."""

from __future__ import annotations

from pathlib import Path

from tests.parallel import LONGEST_FIRST, file_units, session_fixtures

ROOT = Path(__file__).resolve().parent.parent


def test_files_taking_a_session_fixture_share_one_unit(tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    tests.mkdir()
    clean, cert = "clean_run", "certified"  # (spelled apart: this file takes neither fixture)
    sources = {
        "test_a.py": f"def test_x({clean}: CleanRun) -> None: ...\n",
        "test_b.py": f"def embedded(tmp_path, {cert}, {clean}): ...\n",  # links the two fixtures
        "test_c.py": f"def test_y(\n    {cert}: Certified,\n) -> None: ...\n",
        "test_d.py": f"# {clean} is not a parameter here, nor is {cert} in a string: '{cert}'\n",
        "test_e.py": f"def test_z({clean}_copy: int) -> None: ...\n",  # another name
        "helper.py": f"def f({clean}): ...\n",  # not a test file
    }
    for name, text in sources.items():
        (tests / name).write_text(text, encoding="utf-8")
    units = file_units(tmp_path, [clean, cert])
    assert set(units) == {"tests/test_a.py", "tests/test_b.py", "tests/test_c.py"}
    assert len(set(units.values())) == 1
    assert file_units(tmp_path, []) == {}


def test_the_project_keeps_each_session_run_on_one_worker() -> None:
    assert set(session_fixtures()) >= {"clean_run", "certified"}
    units = file_units(ROOT, session_fixtures())
    readers = ["tests/test_report_run.py", "tests/test_suite_verdicts.py", "tests/test_verdict_states.py"]
    assert len({units[path] for path in readers}) == 1
    assert units["tests/test_certificate.py"] == units["tests/test_certificate_forgeries.py"]
    assert "tests/test_checks_format.py" not in units  # a file with no session fixture is its own unit


def test_the_longest_tests_started_first_exist() -> None:
    """A renamed test would silently lose its place at the front."""
    for nodeid in LONGEST_FIRST:
        path, name = nodeid.split("::")
        assert f"def {name}(" in (ROOT / path).read_text(encoding="utf-8"), nodeid
