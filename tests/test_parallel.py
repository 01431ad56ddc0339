"""How the whole suite is split over workers (tests/parallel.py): whole files, the readers of one
session fixture together, so no session run is repeated on a second worker."""

from __future__ import annotations

import os
import subprocess
import sys
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


CONFTEST = """
import os
from pathlib import Path

import pytest

from tests.parallel import pytest_cmdline_main, pytest_collection_modifyitems, pytest_xdist_make_scheduler

__all__ = ["pytest_cmdline_main", "pytest_collection_modifyitems", "pytest_xdist_make_scheduler", "once"]


@pytest.fixture(scope="session")
def once() -> str:
    with (Path(os.environ["PARALLEL_LOG"]) / "setups").open("a") as log:
        log.write("set up\\n")
    return "run"
"""
TEST = """
import os
from pathlib import Path


def test_{name}({params}) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    (Path(os.environ["PARALLEL_LOG"]) / "{name}").write_text(worker)
"""


def test_the_whole_suite_runs_on_two_workers_and_a_session_fixture_once(tmp_path: Path) -> None:
    """A project laid out like this one: `pytest` with no paths spreads its files over the
    workers, the two files that take the session fixture run on one of them (set up once); a
    file named on the command line runs in one process."""
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    (project / "tests" / "__init__.py").write_text("")
    (project / "tests" / "parallel.py").write_text((ROOT / "tests" / "parallel.py").read_text())
    (project / "tests" / "conftest.py").write_text(CONFTEST)
    takes = {"a": "once: str", "b": "once: str", "c": "", "d": "", "e": "", "f": ""}
    for name, params in takes.items():
        (project / "tests" / f"test_{name}.py").write_text(TEST.format(name=name, params=params))

    def pytest_run(*args: str) -> dict[str, str]:
        log = tmp_path / f"log{len(args)}"
        log.mkdir()
        env = {**os.environ, "PARALLEL_LOG": str(log), "PYTEST_XDIST_AUTO_NUM_WORKERS": "2"}
        env.pop("PYTEST_XDIST_WORKER", None)  # this test may itself run on a worker
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
            cwd=project, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert (log / "setups").read_text().count("set up") == 1, "the session fixture ran twice"
        return {name: (log / name).read_text() for name in takes if (log / name).exists()}

    everywhere = pytest_run()
    assert set(everywhere) == set(takes) and set(everywhere.values()) == {"gw0", "gw1"}, everywhere
    assert everywhere["a"] == everywhere["b"]  # the session fixture's files share a worker
    named = pytest_run("tests/test_a.py", "tests/test_c.py")
    assert named == {"a": "main", "c": "main"}
