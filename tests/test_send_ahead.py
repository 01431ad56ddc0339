"""Sending ahead (conformance/suite/planning.py, prefetch.py): the same requests and verdicts, sooner.

A run sends each test's first requests (of every Hypothesis example) ahead of the test. These tests
hold it to what it promises, against the real reference and a faulty variant of it: the same
verdicts as a run that sends each request when its test runs, from the same logical requests less
exactly those several tests judge from one answer; every answer sent ahead judged (and attributed
in the HAR); answers compared in order asked for one after another, as a chain that stops when
sending ahead stops; and a failing target gets few requests that nobody judges.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from conformance.config import load_config
from conformance.model.exchange import ApiRequest
from conformance.reference.server import ReferenceServer, ReferenceSettings
from conformance.report.html import render_html
from conformance.suite.budget import BUDGETS
from conformance.suite.prefetch import NOT_SENT, UNUSED_PER_SLOT, Chain, Prefetcher
from conformance.transport.client import TargetClient
from conformance.transport.errors import TransportError
from tests.suite_runs import conformance_in_process, run_suite, write_config

OPTIONS = ("--settings", "polite", "--max-examples", "4", "--seed", "11")
WINDOW = 16
CONCURRENCY = 2  # of the failing target's runs: a bound small enough to be reached


def _run(tmp: Path, name: str, *args: str, fault: str | None = None, concurrency: int = 8) -> dict[str, Any]:
    """One core run against a fresh reference (with ``fault``), its results and HAR entries."""
    faults = frozenset({fault}) if fault else frozenset()
    report = tmp / name
    with ReferenceServer(ReferenceSettings(faults=faults)) as server:
        cfg = write_config(tmp / f"{name}.toml", server, limits={"concurrency": concurrency})
        proc = run_suite(
            "--config", str(cfg), "--report-dir", str(report), "--har", str(report / "run.har"), *args
        )
    assert proc.returncode in (0, 1, 4), proc.stderr[-2000:]  # conformant, not, a partial run
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    har = json.loads((report / "run.har").read_text(encoding="utf-8"))["log"]["entries"]
    return {"results": results, "har": har, "code": proc.returncode}


def _logical(entry: dict[str, Any]) -> tuple[str, str, str, tuple[tuple[str, str], ...]]:
    """A HAR entry as the request the test meant: method, path and parameters, without the OAuth
    ones (a nonce and timestamp differ on every send)."""
    url = urlsplit(entry["request"]["url"])
    params = parse_qsl(url.query, keep_blank_values=True)
    post = entry["request"].get("postData") or {}
    params += [(p["name"], p.get("value", "")) for p in post.get("params", [])]
    kept = tuple(sorted((k, v) for k, v in params if not k.startswith("oauth_")))
    return entry["_conformance"]["test"], entry["request"]["method"], url.path, kept


def _test_verdicts(results: dict[str, Any]) -> dict[str, str]:
    return {t["nodeid"]: t["verdict"] for t in results["tests"]}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("send-ahead")
    return {
        "ahead": _run(tmp, "ahead", *OPTIONS),
        "when_run": _run(tmp, "when-run", *OPTIONS, "--send-ahead", "0"),
    }


def test_sending_ahead_sends_the_same_requests_and_reaches_the_same_verdicts(pair: dict[str, Any]) -> None:
    """The same verdicts from the same requests, less those several tests judge from one answer:
    each of those was sent once, for one of them, instead of once for each."""
    ahead, when_run = pair["ahead"], pair["when_run"]
    assert ahead["code"] == when_run["code"] == 0
    assert _test_verdicts(ahead["results"]) == _test_verdicts(when_run["results"])
    shared = ahead["results"]["run"]["sent_ahead"]["reused"]
    assert shared >= 10  # the plain token request alone is planned by nine tests
    assert ahead["results"]["run"]["requests_sent"] + shared == when_run["results"]["run"]["requests_sent"]
    sent_ahead = Counter(_logical(e)[1:] for e in ahead["har"])
    sent_when_run = Counter(_logical(e)[1:] for e in when_run["har"])
    assert sent_ahead <= sent_when_run  # nothing another way or more often
    not_sent_again = sent_when_run - sent_ahead
    assert sum(not_sent_again.values()) == shared and set(not_sent_again) <= set(sent_ahead)
    # Every test but those sharing an answer sent what it sent without sending ahead.
    assert Counter(map(_logical, ahead["har"])) <= Counter(map(_logical, when_run["har"]))


def test_every_answer_sent_ahead_is_judged_by_the_test_it_was_sent_for(pair: dict[str, Any]) -> None:
    facts = pair["ahead"]["results"]["run"]["sent_ahead"]
    assert facts["tests"] >= 40 and facts["sent"] >= 100, facts
    assert facts["taken"] == facts["sent"] and facts["unused"] == 0 and facts["stopped"] is None, facts
    assert pair["when_run"]["results"]["run"]["sent_ahead"] is None
    # Sent ahead means sent before the test ran: the HAR still names the test each one was for.
    started = {t["nodeid"] for t in pair["ahead"]["results"]["tests"]}
    tests_in_har = {e["_conformance"]["test"] for e in pair["ahead"]["har"]}
    assert tests_in_har - started <= {"preflight"}


def test_the_report_says_how_many_requests_went_ahead(pair: dict[str, Any]) -> None:
    results = pair["ahead"]["results"]
    sent, reused = results["run"]["sent_ahead"]["sent"], results["run"]["sent_ahead"]["reused"]
    assert results["run"]["concurrency"] == 8 and "8 in flight at most" in render_html(results)
    assert (
        f"{sent} sent ahead of their tests (0 of them unused); {reused} more that another test planned "
        "too were not sent again: both judged one answer" in render_html(results)
    )


def test_answers_compared_in_order_are_asked_for_one_after_another(tmp_path: Path) -> None:
    """TIME-MONOTONIC compares answers in the order it asked for them: its requests go ahead as one
    chain, each sent once the previous answer arrived, and its test judges every one of them."""
    run = _run(tmp_path, "chain", *OPTIONS, "-k", "never_goes_backwards or max_uploads_defaults_to_1")
    sample = BUDGETS["polite"].sequential_sample
    facts = run["results"]["run"]["sent_ahead"]
    assert facts["tests"] == 2 and facts["planned"] == sample + 2 and facts["sent"] >= sample, facts
    chain = [e for e in run["har"] if "never_goes_backwards" in e["_conformance"]["test"]]
    assert len(chain) == sample
    starts = [datetime.fromisoformat(e["startedDateTime"].replace("Z", "+00:00")).timestamp() for e in chain]
    ends = [start + e["time"] / 1000 for start, e in zip(starts, chain, strict=True)]
    # one after another: each request starts once the previous answer arrived (HAR times are in ms)
    assert all(start >= end - 0.002 for end, start in zip(ends, starts[1:], strict=False))
    assert _test_verdicts(run["results"]) == dict.fromkeys(_test_verdicts(run["results"]), "pass")


def test_a_failing_target_gets_few_answers_nobody_judges(tmp_path: Path) -> None:
    """Failing tests leave their later examples' answers unjudged; past a bound, nothing more is
    sent ahead, so the run sends at most that bound and one window more than one that sends
    nothing ahead, and finds the same failures."""
    fault = "return_url_refused"
    # Without the chain of TIME-MONOTONIC, which would hold half of this small window from the start
    # (its answers wait for their test, near the end): the window fills with later examples.
    options = (*OPTIONS, "-k", "not never_goes_backwards")
    ahead = _run(
        tmp_path, "ahead", *options, "--send-ahead", str(WINDOW), fault=fault, concurrency=CONCURRENCY
    )
    when_run = _run(tmp_path, "when-run", *options, "--send-ahead", "0", fault=fault, concurrency=CONCURRENCY)
    assert ahead["code"] == when_run["code"] == 1
    failed = {t["nodeid"] for t in when_run["results"]["tests"] if t["verdict"] == "fail"}
    assert failed == {t["nodeid"] for t in ahead["results"]["tests"] if t["verdict"] == "fail"}
    facts = ahead["results"]["run"]["sent_ahead"]
    bound = UNUSED_PER_SLOT * CONCURRENCY + WINDOW
    assert facts["stopped"] and facts["unused"] <= bound, facts
    extra = ahead["results"]["run"]["requests_sent"] - when_run["results"]["run"]["requests_sent"]
    assert extra <= bound, (extra, facts)


def test_send_ahead_must_not_be_negative(tmp_path: Path) -> None:
    proc = conformance_in_process("run", "--send-ahead", "-1", "--report-dir", str(tmp_path / "r"))
    assert proc.returncode == 2
    assert "--send-ahead must be 0 or more" in proc.stderr


def test_a_spent_budget_stops_sending_ahead(tmp_path: Path) -> None:
    """The client refuses a request past the budget: sending ahead stops there, the tests meet the
    refusal themselves and the run is INCOMPLETE, never a failure of the target."""
    run = _run(tmp_path, "budget", *OPTIONS, "--request-budget", "60")
    assert run["code"] == 4
    facts = run["results"]["run"]
    assert "request budget of 60 requests exhausted" in (facts["sent_ahead"]["stopped"] or ""), facts
    assert facts["requests_sent"] == 60 and facts["budget_exhausted"]
    assert not [t for t in run["results"]["tests"] if t["verdict"] == "fail"]


def test_a_chain_stops_with_sending_ahead_and_its_test_sends_the_rest(tmp_path: Path) -> None:
    """Once sending ahead stops (a failure elsewhere, the run's end), a chain sends no further
    request: the answers it did not send say so (no exchange), and a test that takes one sends
    that request itself, as for a request the client refused to send ahead."""
    with ReferenceServer(ReferenceSettings()) as server:
        client = TargetClient(load_config(write_config(tmp_path / "t.toml", server)))
        try:
            prefetcher = Prefetcher(client, window=128)
            minutes = range(15, 115)  # long enough that it cannot end before the close below
            chain = Chain(
                tuple(ApiRequest(params=(("photo_id", "1"), ("valid_minutes", str(m)))) for m in minutes)
            )
            prefetcher.add("t", [chain])
            deadline = time.monotonic() + 10
            while not prefetcher.stats.sent and time.monotonic() < deadline:  # the chain has left
                time.sleep(0.001)
            first = prefetcher.take("t", chain.requests[0])
            assert first is not None and first.future.result(timeout=10).response is not None
            prefetcher.close()
            answers = [prefetcher.take("t", req) for req in chain.requests[1:]]
            outcomes = [a.future.exception(timeout=10) if a is not None else "live" for a in answers]
        finally:
            client.close()
    sent = prefetcher.stats.sent
    assert client.stats.sent == sent >= 1  # what left, and only that, is counted as sent ahead
    # given back: taken as "send it yourself" (None), or, if still pending when taken, answered so
    given_back = [
        o for o in outcomes if o == "live" or (isinstance(o, TransportError) and o.kind == NOT_SENT)
    ]
    assert all(o.exchange is None for o in given_back if isinstance(o, TransportError))
    assert given_back and len(given_back) == len(minutes) - sent, outcomes
    assert all(o is None for o in outcomes if o not in given_back)  # the rest were answered
