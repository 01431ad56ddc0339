"""What a suite test holds: the ``api`` handle, the ``requirement`` marker and the failure it raises.

Suite test modules import from here only; the pytest hooks that build the handle live in
:mod:`conformance.suite.plugin`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import pytest
from hypothesis import currently_in_test_context, note

from conformance.checks import Observation, observe
from conformance.checks.envelope import BASELINE_REQUIREMENTS
from conformance.checks.registry import SERVER_ERROR, Baseline, bound, findings_of, pseudo_finding
from conformance.model.exchange import ApiRequest, Exchange
from conformance.model.finding import Finding, NotApplicable
from conformance.suite.budget import Budget
from conformance.suite.state import RunState
from conformance.transport.client import TargetClient
from conformance.transport.errors import TransportError

if TYPE_CHECKING:
    from conformance.suite.prefetch import SentAheadAnswer

SentAhead = Callable[[ApiRequest], "SentAheadAnswer | None"]
"""Where a test takes the answer sent ahead for one of its requests (None: send it now)."""


class ConformanceFailure(AssertionError):
    """A test saw the target break a requirement; carries the findings as evidence."""

    def __init__(self, findings: Sequence[Finding], *, server_error: bool = False) -> None:
        self.findings = list(findings)
        self.server_error = server_error  # the target answered 5xx: the test stopped sending
        lines = [f"[{f.requirement}] {f.message}" for f in self.findings]
        super().__init__("\n".join(lines))


def requirement(*ids: str, since: str = "0.1") -> pytest.MarkDecorator:
    """Declare the requirement IDs a suite test verifies (Kubernetes' ConformanceIt, pytest style)."""
    return pytest.mark.requirement(*ids, since=since)


class Api:
    """The per-test handle suite tests use: send, observe, record, and judge with checks."""

    def __init__(self, state: RunState, client: TargetClient, ahead: SentAhead | None = None) -> None:
        self.state = state
        self.client = client
        self.ahead = ahead  # the answers sent ahead of this test (:mod:`.prefetch`), if any
        self.config = state.config
        self.exchanges: list[Exchange] = []
        self.warnings: list[Finding] = []
        self.transport_failure: TransportError | None = None
        self.requirements: list[str] = []  # the marker's IDs in this profile; the first is under test
        self.declared: list[str] = []  # every ID of the marker, whatever the profile
        self.server_error: Finding | None = None  # the first 5xx answer this test got
        self.stopped: ConformanceFailure | None = None  # raised again by every later call
        self.judged: set[str] = set()  # requirements some check of this test judged an answer for
        self.unjudged: dict[str, list[str]] = {}  # requirement -> why its checks did not apply
        self._shared: set[int] = set()  # exchanges another test judges after this one (bodies kept)

    def __repr__(self) -> str:  # shown in Hypothesis' falsifying examples
        return "api"

    @property
    def budget(self) -> Budget:
        """How many examples, steps and samples this run's settings profile allows a test."""
        return self.state.budget

    # requests
    def request(self, *, photo_id: str | None = None, **params: str) -> ApiRequest:
        """A signed write-level GET for the configured photo with the given extra parameters."""
        pairs = [("photo_id", photo_id or self.config.photo_id), *params.items()]
        return ApiRequest(params=tuple(pairs))

    def call(self, req: ApiRequest, fmt: str | None = None) -> Observation:
        self._raise_if_stopped()
        [ex] = self._transport(self._exchanges, [req])
        return self._observed(ex, fmt or _expected_format(req))

    def call_many(self, reqs: Sequence[ApiRequest]) -> list[Observation]:
        self._raise_if_stopped()
        exchanges = self._transport(self._exchanges, reqs)
        return [self._observed(ex, _expected_format(r)) for ex, r in zip(exchanges, reqs, strict=True)]

    def call_in_order(self, reqs: Sequence[ApiRequest]) -> list[Observation]:
        """Each request sent once the previous one's answer arrived: answers compared in the order
        they were asked for (sent ahead as one chain, :mod:`.prefetch`, or now, one by one)."""
        self._raise_if_stopped()
        exchanges = self._transport(self._exchanges_in_order, reqs)
        return [self._observed(ex, _expected_format(r)) for ex, r in zip(exchanges, reqs, strict=True)]

    def _exchanges_in_order(self, reqs: Sequence[ApiRequest]) -> list[Exchange]:
        exchanges = []
        for req in reqs:
            ahead = self._sent_ahead(req)
            exchanges.append(self.client.send(req) if ahead is None else self._answer(ahead, req))
        return exchanges

    def _exchanges(self, reqs: Sequence[ApiRequest]) -> list[Exchange]:
        """Each request's exchange: the answer sent ahead for it if there is one, else sent now
        (the rest concurrently). Either way it is the target's answer to exactly that request."""
        ahead = [self._sent_ahead(r) for r in reqs]
        sent = iter(self.client.send_many([r for r, a in zip(reqs, ahead, strict=True) if a is None]))
        return [next(sent) if a is None else self._answer(a, r) for a, r in zip(ahead, reqs, strict=True)]

    def _sent_ahead(self, req: ApiRequest) -> SentAheadAnswer | None:
        return self.ahead(req) if self.ahead is not None else None

    def _answer(self, ahead: SentAheadAnswer, req: ApiRequest) -> Exchange:
        """The answer sent ahead; a request the client refused to send then (budget, run deadline,
        circuit breaker) is sent now, as it would have been, and refused or answered now."""
        try:
            ex = ahead.future.result()
        except TransportError as exc:
            if exc.exchange is None:
                return self.client.send(req)
            raise
        if ahead.shared_further:
            self._shared.add(id(ex))
        return ex

    def call_both_formats(self, req: ApiRequest) -> list[tuple[str, Observation]]:
        """The request as XML and as JSON (format=json), sent concurrently."""
        pair = self.call_many([req.with_params(format=None), req.with_params(format="json")])
        return list(zip(("xml", "json"), pair, strict=True))

    def replay(self, req: ApiRequest, times: int = 2) -> list[Observation]:
        self._raise_if_stopped()
        return [
            self._observed(ex, _expected_format(req))
            for ex in self._transport(self.client.replay, req, times)
        ]

    def _transport(self, send: Any, *args: Any) -> Any:
        """Send; after one transport failure in this test, fail at once without sending again.

        Hypothesis re-runs a failing test body many times while shrinking; against a target that
        times out or resets, every re-run would cost another request and another timeout.
        """
        if self.transport_failure is None:
            try:
                return send(*args)
            except TransportError as exc:
                self.transport_failure = exc
        first = self.transport_failure
        # One raise site for the first failure and its repeats: Hypothesis sees one consistent error.
        raise type(first)(str(first), first.kind, first.exchange)

    def _raise_if_stopped(self) -> None:
        """After a 5xx, every later call of this test fails the same way without sending.

        An intermittent server error does not recur when Hypothesis replays the example; without
        this the test would end as a "Flaky" error with no findings instead of a failure with the
        exchange that shows the 5xx.
        """
        if self.stopped is not None:
            self._raise_stopped()

    def _raise_stopped(self) -> NoReturn:
        """The one raise site of a 5xx failure: Hypothesis sees the same error on every replay."""
        assert self.stopped is not None
        raise ConformanceFailure(self.stopped.findings, server_error=True)

    def _observed(self, ex: Exchange, fmt: str | None) -> Observation:
        self.exchanges.append(ex)
        status = ex.response.status if ex.response is not None else None
        if status is not None and status >= 500 and self.server_error is None:
            under_test = self.requirements[0] if self.requirements else "HTTP-STATUS-200"
            self.server_error = pseudo_finding(
                SERVER_ERROR,
                under_test,
                f"the target answered HTTP {status} (a server error) to this request, so {under_test} "
                "does not hold for it; every API answer is HTTP 200 (index.md, Responses)",
                "an HTTP 200 API answer",
                f"HTTP {status} {ex.response.reason if ex.response else ''}".strip(),
                ex,
            )
        if len(self.state.skew_samples) < 200:
            self.state.skew_samples.append(ex.without_body())
        obs = observe(ex, fmt)  # type: ignore[arg-type]
        if ex.response is not None and ex.response.truncated and id(ex) not in self._shared:
            ex.response.release()  # judged already: keep the evidence, not megabytes per exchange
        return obs

    # judgement
    def expect(self, *outcomes: Iterable[Finding] | NotApplicable, requirement: str | None = None) -> None:
        """Record warnings; raise ConformanceFailure when any finding is an error.

        A finding without a requirement is bound to ``requirement`` or else to the one under test
        (the first of the marker's IDs), so a test names its requirement once; ``requirement`` must
        be one its marker declares. A check that did not apply (NotApplicable) adds no finding, but
        is recorded: a test that passes without any of its own checks judging an answer for a
        requirement did not verify it (:meth:`not_judged`; the baseline, ``check_api_response``,
        is never a judgement of the test's own requirement).
        """
        bind_to = self._bound_requirement(requirement)
        kept = [o if isinstance(o, list | NotApplicable) else list(o) for o in outcomes]
        self._note_judgements(kept, bind_to)
        findings = [f for outcome in kept for f in findings_of(bound(outcome, bind_to))]
        self._refuse_undeclared(findings)
        self.warnings.extend(f for f in findings if f.severity == "warning")
        errors = [f for f in findings if f.severity == "error"]
        if self.server_error is not None:  # a 5xx is a finding even where no check looked at it
            first = self.server_error
            if not any(f.requirement == first.requirement and f.exchange is first.exchange for f in errors):
                errors.insert(0, first)
            self.stopped = ConformanceFailure(errors, server_error=True)
            self._raise_stopped()
        if errors:
            _note_requests(errors)
            raise ConformanceFailure(errors)

    def _note_judgements(self, outcomes: Sequence[list[Finding] | NotApplicable], bind_to: str) -> None:
        """Which requirement each outcome judged (a list, even empty) or could not (NotApplicable)."""
        for outcome in outcomes:
            if isinstance(outcome, Baseline):  # judges only the baseline's own requirements
                if bind_to in BASELINE_REQUIREMENTS:
                    self.judged.add(bind_to)
                continue
            if isinstance(outcome, NotApplicable):
                reasons = self.unjudged.setdefault(outcome.requirement or bind_to, [])
                reason = f"{outcome.check}: {outcome.reason}"
                if reason not in reasons and len(reasons) < 3:
                    reasons.append(reason)
            else:
                self.judged.add(getattr(outcome, "requirement", "") or bind_to)

    def not_judged(self) -> dict[str, str]:
        """Requirements of this test (in this profile) whose checks applied to none of its answers,
        each with the checks' reasons: the test did not verify them, whatever else it saw."""
        return {
            rid: "; ".join(reasons)
            for rid, reasons in self.unjudged.items()
            if rid and rid not in self.judged and rid in self.requirements
        }

    def _bound_requirement(self, requirement: str | None) -> str:
        """The ID unbound findings take; a ``requirement`` the marker does not declare is a suite bug."""
        if requirement is None:
            return self.requirements[0] if self.requirements else ""
        if requirement not in self.marked:
            raise ValueError(
                f"expect(requirement={requirement!r}): the test's @requirement declares only "
                f"{', '.join(self.marked) or 'nothing'}"
            )
        return requirement

    @property
    def marked(self) -> list[str]:
        """Every ID the test's marker declares (its IDs in this profile when none were recorded)."""
        return self.declared or self.requirements

    def _refuse_undeclared(self, findings: Sequence[Finding]) -> None:
        """A finding bound (by ``checks.bound``) to an ID the marker does not declare is a suite bug:
        the marker and the findings would drift apart. The baseline's own IDs are cross-cutting."""
        stray = sorted({f.requirement for f in findings} - set(self.marked) - BASELINE_REQUIREMENTS)
        if stray:
            raise ValueError(
                f"findings bound to {', '.join(stray)}, which the test's @requirement does not declare "
                f"({', '.join(self.marked) or 'nothing'})"
            )

    def require_credentials(self, level: str) -> None:
        if level not in self.config.credentials:
            pytest.skip(f"no {level}-level credentials configured ([credentials.{level}])")


def _note_requests(errors: Sequence[Finding], limit: int = 3) -> None:
    """Name the requests behind the findings in Hypothesis' falsifying example (shrunk ones too)."""
    if not currently_in_test_context():
        return
    seen: set[int] = set()
    for f in errors:
        ex = f.exchange
        if ex is None or ex.id in seen or len(seen) >= limit:
            continue
        seen.add(ex.id)
        status = ex.response.status if ex.response is not None else ex.error_kind
        sent = ex.request.describe() if ex.request is not None else f"{ex.method} {ex.url}"
        note(f"[{f.requirement}] request #{ex.id}: {sent} -> {status}")


def _expected_format(req: ApiRequest) -> str:
    return "json" if req.param("format") == "json" else "xml"
