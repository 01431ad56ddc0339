"""The implementation matrix: live targets run side by side, finished runs merged, the page is inert.

One module fixture runs ``conformance matrix --config ... --config ...`` for real against three
reference servers on loopback (the clean reference, a conformant variant that rejects out-of-range
values, and a fault), so the merge, the links and the filter are judged on real results.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance.commands.matrix import DEMO_FAULTS, _demo_cases, targets_from_configs
from conformance.reference.server import ReferenceServer, ReferenceSettings, write_target_config
from conformance.report.matrix import load_implementation, write_matrix
from tests import suite_runs
from tests.test_report_html import parse
from tests.test_report_run import CHROMIUM, needs_browser

HOSTILE = '"><script>document.title="PWNED"</script><img src=x onerror=alert(1)>'


@dataclass
class Live:
    dir: Path
    proc: subprocess.CompletedProcess[str]
    matrix: dict[str, Any]
    results: dict[str, Path]


def conformance(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return suite_runs.conformance(*args, timeout=timeout)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("matrix")
    settings = {
        "reference": ReferenceSettings(clock_control=True),
        "reject": ReferenceSettings(clock_control=True, variant="reject_out_of_range"),
        "unsigned": ReferenceSettings(clock_control=True, faults=frozenset(["unsigned_gets_token"])),
    }
    servers = {name: ReferenceServer(s).start() for name, s in settings.items()}
    try:
        configs = []
        for name, server in servers.items():
            path = tmp / f"{name}.toml"
            write_target_config(server, path)
            configs += ["--config", str(path)]
        out = tmp / "out"
        proc = conformance(
            "matrix", *configs, "--report-dir", str(out), "--max-examples", "1", "--jobs", "2", "--seed", "3",
            "--request-budget", "4000",
        )  # fmt: skip
    finally:
        for server in servers.values():
            server.stop()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    matrix = json.loads((out / "matrix.json").read_text())
    yield Live(out, proc, matrix, {name: out / name / "results.json" for name in settings})


def _row(matrix: dict[str, Any], rid: str) -> dict[str, Any]:
    return next(r for g in matrix["groups"] for r in g["requirements"] if r["id"] == rid)


def test_live_targets_become_columns_with_verdicts_bounds_and_totals(live: Live) -> None:
    cols = {c["name"]: c for c in live.matrix["implementations"]}
    assert list(cols) == ["reference", "reject", "unsigned"]
    assert cols["reference"]["verdict"] == "CONFORMANT" and cols["reject"]["verdict"] == "CONFORMANT"
    assert cols["unsigned"]["verdict"] == "NOT CONFORMANT"
    assert (cols["reference"]["bounds_policy"], cols["reject"]["bounds_policy"]) == ("clamp", "reject")
    for name, col in cols.items():
        results = json.loads(live.results[name].read_text())
        musts = [
            r for r in results["requirements"] if r["level"] == "MUST" and r["verdict"] != "not-in-profile"
        ]
        assert col["totals"]["must_passed"] == sum(r["verdict"] == "pass" for r in musts)
        assert col["totals"]["must_failed"] == sum(r["verdict"] == "fail" for r in musts)
        assert results["run"]["request_budget"] == 4000 and results["run"]["requests_sent"] <= 4000
        assert results["run"]["seed"] == 3
    assert cols["unsigned"]["totals"]["must_failed"] >= 1 and cols["reference"]["totals"]["must_failed"] == 0


def test_rows_are_grouped_as_in_the_report_and_disagreement_is_flagged(live: Live) -> None:
    results = json.loads(live.results["reference"].read_text())
    groups = list(dict.fromkeys(r["group"] for r in results["requirements"]))
    assert [g["group"] for g in live.matrix["groups"]] == groups
    row = _row(live.matrix, "AUTH-UNSIGNED-DENIED")
    assert [c["verdict"] for c in row["cells"]] == ["pass", "pass", "fail"] and row["disagree"]
    assert not _row(live.matrix, "AUTH-WRITE-GRANTED")["disagree"]
    assert live.matrix["disagreements"] == sum(
        r["disagree"] for g in live.matrix["groups"] for r in g["requirements"]
    )


def test_each_cell_links_to_the_requirement_in_that_implementations_report(live: Live) -> None:
    row = _row(live.matrix, "AUTH-UNSIGNED-DENIED")
    for cell, name in zip(row["cells"], ["reference", "reject", "unsigned"], strict=True):
        path, anchor = cell["href"].split("#")
        report = live.dir / path
        assert report == live.dir / name / "report.html" and report.is_file()
        assert f'id="{anchor}"' in report.read_text()


def test_merging_finished_runs_gives_the_same_matrix(live: Live, tmp_path: Path) -> None:
    """CI: each target's job leaves a results.json; one job merges them (here from another dir)."""
    out = tmp_path / "merged"
    files = [str(live.results[n]) for n in ("reference", "reject", "unsigned")]
    proc = suite_runs.conformance_in_process("matrix", *files, "--report-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    merged = json.loads((out / "matrix.json").read_text())
    assert [c["name"] for c in merged["implementations"]] == ["reference", "reject", "unsigned"]

    def cells(m: dict[str, Any]) -> list[tuple[str, list[str]]]:
        return [(r["id"], [c["verdict"] for c in r["cells"]]) for g in m["groups"] for r in g["requirements"]]

    assert cells(merged) == cells(live.matrix)
    href = _row(merged, "AUTH-UNSIGNED-DENIED")["cells"][2]["href"]
    assert (out / href.split("#")[0]).resolve() == (live.dir / "unsigned" / "report.html").resolve()


def test_matrix_page_is_balanced_self_contained_and_script_free(live: Live) -> None:
    page = (live.dir / "matrix.html").read_text()
    dom = parse(page)
    assert dom.errors == [] and dom.tags["script"] == 0
    csp = next(
        a[2] for a in dom.attrs if a[0] == "meta" and a[1] == "content" and "default-src" in (a[2] or "")
    )
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # nothing fetched from the network
    disagree_rows = {i for i in dom.ids if i.startswith("row-")}
    assert "row-AUTH-UNSIGNED-DENIED" in disagree_rows
    assert 'class="disagree" id="row-AUTH-UNSIGNED-DENIED"' in page
    assert 'class="same" id="row-AUTH-WRITE-GRANTED"' in page


def test_usage_errors(tmp_path: Path) -> None:
    conformance = suite_runs.conformance_in_process  # one line and exit 2: no new interpreter needed
    assert conformance("matrix").returncode == 2
    bogus = tmp_path / "x.json"
    bogus.write_text('{"hello": 1}')
    proc = conformance("matrix", str(bogus), "--report-dir", str(tmp_path / "o"))
    assert proc.returncode == 2 and "not a results document this suite reads" in proc.stderr
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    proc = conformance("matrix", str(deep), "--report-dir", str(tmp_path / "o"))
    assert proc.returncode == 2 and "nested too deep" in proc.stderr and "Traceback" not in proc.stderr
    proc = conformance("matrix", str(bogus), "--label", "x", "--report-dir", str(tmp_path / "o"))
    assert proc.returncode == 2 and "--label x: expected NAME=PATH" in proc.stderr
    proc = conformance("matrix", str(bogus), "--demo")
    assert proc.returncode == 2 and "one of them" in proc.stderr


def test_config_names_become_unique_column_names() -> None:
    names = [t.name for t in targets_from_configs(["a/prod.toml", "b/prod.toml", "c/<b>x.toml"])]
    assert names == ["prod", "prod-2", "b_x"]


def test_demo_is_the_reference_every_variant_and_a_few_faults() -> None:
    from conformance.reference.variants import VARIANT_LIST

    cases = _demo_cases("core")
    kinds = [c.kind for c in cases]
    assert kinds.count("reference") == 1 and kinds.count("fault") == DEMO_FAULTS
    assert {c.name for c in cases if c.kind == "variant"} == {v.name for v in VARIANT_LIST}


# ------------------------------------------------------------------ hostile implementations
def hostile_copy(live: Live, tmp_path: Path) -> Path:
    """A real run's results, re-labelled by a hostile implementation (name, URL, summaries)."""
    results = json.loads(live.results["unsigned"].read_text())
    evil = copy.deepcopy(results)
    evil["target"]["base_url"] = f"javascript:alert(1)//{HOSTILE}"
    evil["target"]["config"] = HOSTILE
    evil["requirements"][0]["summary"] = HOSTILE  # never shown: summaries come from the suite's catalog
    d = tmp_path / HOSTILE.replace("/", "_")
    d.mkdir()
    (d / "results.json").write_text(json.dumps(evil))
    shutil.copy(live.dir / "unsigned" / "report.html", d / "report.html")
    return d / "results.json"


def test_hostile_names_and_urls_are_text(live: Live, tmp_path: Path) -> None:
    out = tmp_path / "out"
    impls = [
        load_implementation(live.results["reference"], out),
        load_implementation(hostile_copy(live, tmp_path), out),
    ]
    _, html_path, matrix = write_matrix(impls, out)
    page = html_path.read_text()
    dom = parse(page)
    assert dom.errors == [] and dom.tags["script"] == 0 and dom.tags["img"] == 0
    assert not [a for a in dom.attrs if a[1].startswith("on")]
    assert not [h for h in dom.hrefs if h.lower().startswith("javascript:")]
    assert HOSTILE in "".join(dom.text)  # shown, as text
    assert matrix["implementations"][1]["name"] == HOSTILE.replace("/", "_")


# ------------------------------------------------------------------ in a real browser
def _rows(png: Path) -> list[bytes]:
    """Decoded pixel rows of a PNG (8-bit RGB/RGBA), undoing the per-row filters."""
    data = png.read_bytes()
    pos, idat = 8, b""
    width = height = bpp = 0
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and color in (2, 6)
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return rows


def _painted_rows(png: Path) -> int:
    """How many pixel rows hold anything but the white page background."""
    return sum(1 for row in _rows(png) if row.strip(b"\xff") != b"")


def _browse(uri: str, profile: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium on a file URI (with a fragment), as tests/test_report_run.py runs it."""
    assert CHROMIUM is not None
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
    return subprocess.run(
        [CHROMIUM, *args, f"--user-data-dir={profile}", *mode, uri],
        capture_output=True,
        text=True,
        timeout=120,
    )


@needs_browser
def test_browser_renders_the_matrix_and_the_filter_works_offline(live: Live, tmp_path: Path) -> None:
    page = live.dir / "matrix.html"
    shots = {}
    uri = page.resolve().as_uri()  # the control also navigates to a fragment (#all: the heading)
    for name, url in (("all", uri + "#all"), ("disagree", uri + "#disagree")):
        shot = tmp_path / f"{name}.png"
        proc = _browse(
            url, tmp_path / f"profile-{name}", "--screenshot=" + str(shot), "--window-size=1200,2600"
        )
        assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
        shots[name] = _painted_rows(shot)
    disagreeing = live.matrix["disagreements"]
    total = sum(len(g["requirements"]) for g in live.matrix["groups"])
    assert 0 < disagreeing < total
    # the filtered page paints far fewer rows: the agreeing requirements are hidden, without network or script
    assert shots["disagree"] < shots["all"] * 0.8, shots


@needs_browser
def test_browser_runs_no_script_from_a_hostile_implementation(live: Live, tmp_path: Path) -> None:
    out = tmp_path / "out"
    impls = [load_implementation(hostile_copy(live, tmp_path), out)]
    _, html_path, _ = write_matrix(impls, out)
    assert CHROMIUM is not None
    proc = _browse(html_path.resolve().as_uri(), tmp_path / "profile-dom", "--dump-dom")
    assert proc.returncode == 0 and "<html" in proc.stdout, proc.stderr[-2000:]
    title = re.search(r"<title>(.*?)</title>", proc.stdout, re.S)
    assert title and title.group(1).startswith("Implementation matrix")  # the payload would set PWNED
    dom = parse(proc.stdout)
    assert dom.tags["script"] == 0 and dom.tags["img"] == 0
    assert not [a for a in dom.attrs if a[1].startswith("on")]


def test_a_hostile_file_listed_first_cannot_relabel_anothers_rows(live: Live, tmp_path: Path) -> None:
    """It calls every requirement a SHOULD and its own failed MUST a pass: rows and verdicts ignore it."""
    evil = json.loads(live.results["unsigned"].read_text())
    for r in evil["requirements"]:
        r["level"], r["group"] = "SHOULD", "MISC"
        if r["verdict"] == "fail":
            r["verdict"] = "pass"
    evil["summary"].update(verdict="CONFORMANT", exit_code=0, must_failed=[], must_not_passed=[])
    first = tmp_path / "evil" / "results.json"
    first.parent.mkdir()
    first.write_text(json.dumps(evil))
    out = tmp_path / "out"
    proc = suite_runs.conformance_in_process(
        "matrix", str(first), str(live.results["unsigned"]), "--label", f"honest={live.results['unsigned']}",
        "--report-dir", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    matrix = json.loads((out / "matrix.json").read_text())
    evil_col, honest = matrix["implementations"]
    assert honest["name"] == "honest" and honest["totals"]["must_failed"] >= 1
    assert evil_col["verdict"] == "NOT CONFORMANT" and evil_col["claimed_verdict"] == "CONFORMANT"
    assert evil_col["disagrees_with_own_records"] and not honest["disagrees_with_own_records"]
    assert evil_col["totals"] == honest["totals"]
    row = _row(matrix, "AUTH-UNSIGNED-DENIED")
    assert (
        row["level"] == "MUST"
        and row["group"] == "AUTH"
        and [c["verdict"] for c in row["cells"]] == ["fail"] * 2
    )
    assert "DISAGREES WITH ITS OWN RECORDS" in proc.stdout.splitlines()[0]
    assert "it disagrees with its own records" in (out / "matrix.html").read_text()


def test_certificates_are_columns_verified_with_the_reviewers_keys(certified: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    trusted = conformance("matrix", str(certified.bundle), "--public-key", str(certified.public_key),
                          "--report-dir", str(out))  # fmt: skip
    assert trusted.returncode == 0, trusted.stderr
    col = json.loads((out / "matrix.json").read_text())["implementations"][0]
    assert col["name"] == certified.server.base_url  # a certificate's column is named after its target
    assert col["evidence"].startswith("verified certificate, signed by") and col["signer"]
    untrusted = conformance("matrix", str(certified.bundle), "--report-dir", str(out))
    col = json.loads((out / "matrix.json").read_text())["implementations"][0]
    assert untrusted.returncode == 0 and col["evidence"].startswith("certificate, origin unproven")
    assert col["signer"] is None
