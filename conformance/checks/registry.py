"""The check registry: every check is a registered function with a stable name and title.

Like Schemathesis' ``@check`` functions: a check takes what it judges first (an observation, a
redeem answer, a list of them) and its expectations after; it returns the findings it made
(empty: the expectation holds) or :class:`NotApplicable` when its precondition does not hold, so
"passed" and "did not look" never read the same. A check never knows the requirement: the suite
test that calls it binds its findings to the requirement its marker names. (The one exception is
the baseline, ``check_api_response``: its parts that verify requirements of their own, such as
HTTP-STATUS-200, come back bound to them, and binding keeps them.)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar, cast, overload

from conformance.model.exchange import Exchange
from conformance.model.finding import ABSENT, Finding, NotApplicable, Severity

Outcome = list[Finding] | NotApplicable
F = TypeVar("F", bound=Callable[..., Outcome])


@dataclass(frozen=True)
class CheckInfo:
    """What the registry knows of one check: its name (the function's), title and doc line.

    ``func`` is None for the two pseudo-checks the suite reports under without a check function:
    a server error (HTTP 5xx) and a transport failure."""

    name: str
    title: str
    doc: str
    func: Callable[..., Outcome] | None


CHECKS: dict[str, CheckInfo] = {}


def _stamped(outcome: Outcome, info: CheckInfo) -> Outcome:
    """Name and title every finding (and a NotApplicable) the check made itself; findings of the
    checks it called keep theirs."""
    if isinstance(outcome, NotApplicable):
        return outcome if outcome.check else replace(outcome, check=info.name)
    stamped = [f if f.check else replace(f, check=info.name, title=info.title) for f in outcome]
    if type(outcome) is list:
        return stamped
    outcome[:] = stamped  # a Baseline or Judgement keeps its type
    return outcome


def check(title: str) -> Callable[[F], F]:
    """Register a check under its function name with a stable, human title (a defect's name).

    The decorator stamps the check's name and title on every finding it returns, so a finding
    cannot name another check than the one that made it (``fail()`` takes no name).
    """

    def register(func: F) -> F:
        name = func.__name__
        if name in CHECKS and getattr(CHECKS[name].func, "__wrapped__", None) is not func:
            raise ValueError(f"check {name} is registered twice")
        doc = (func.__doc__ or "").strip().splitlines()

        @functools.wraps(func)
        def stamping(*args: Any, **kwargs: Any) -> Outcome:
            return _stamped(func(*args, **kwargs), info)

        info = CheckInfo(name, title, doc[0] if doc else "", stamping)
        CHECKS[name] = info
        return cast(F, stamping)

    return register


def pseudo_check(name: str, title: str, doc: str) -> CheckInfo:
    """Register a kind of finding the suite makes without a check function (5xx, transport)."""
    info = CHECKS.setdefault(name, CheckInfo(name, title, doc, None))
    return info


SERVER_ERROR = pseudo_check(
    "server_error",
    "server error (HTTP 5xx) instead of an API answer",
    "The target answered HTTP 5xx: every API answer is HTTP 200 (index.md, Responses).",
)
TRANSPORT = pseudo_check(
    "transport",
    "no usable HTTP answer",
    "The request got no usable HTTP answer: a timeout, reset, refused connection or broken response.",
)


def pseudo_finding(
    info: CheckInfo, requirement: str, message: str, expected: str, observed: str, exchange: Exchange | None
) -> Finding:
    """A finding of a pseudo-check, named and titled like any other."""
    return Finding(requirement, info.name, message, expected, observed, exchange, title=info.title)


def fail(
    message: str,
    exchange: Exchange | None,
    expected: str = "",
    observed: str = "",
    *,
    severity: Severity = "error",
    related: Exchange | None = None,
) -> Finding:
    """A finding, requirement unbound; the registered check that returns it stamps its name and title."""
    return Finding("", "", message, expected, observed, exchange, severity, related)


def not_applicable(reason: str) -> NotApplicable:
    """The check does not apply to this answer (the check's name is stamped on return)."""
    return NotApplicable("", reason)


def quoted(value: object) -> str:
    """A value as evidence quotes it (``repr``), or ``(absent)`` for a missing one."""
    return ABSENT if value is None else repr(value)


def findings_of(*outcomes: Outcome) -> list[Finding]:
    """The findings of several outcomes; NotApplicable ones contribute none."""
    return [f for outcome in outcomes if not isinstance(outcome, NotApplicable) for f in outcome]


class Baseline(list[Finding]):
    """The findings of the baseline every answer meets (``check_api_response``).

    Judging an answer against the baseline is not judging the test's own requirement: a test whose
    only judgements were baseline ones verified nothing of its own (see ``Api.expect``).
    """


class Judgement(list[Finding]):
    """Findings that judged ``requirement`` (what ``bound`` returns): empty, it still says that
    requirement was judged and held, so a test that judges several requirements in one ``expect``
    records each one's judgement."""

    def __init__(self, findings: list[Finding], requirement: str) -> None:
        super().__init__(findings)
        self.requirement = requirement


@overload
def bound(outcome: NotApplicable, requirement: str) -> NotApplicable: ...
@overload
def bound(outcome: list[Finding], requirement: str) -> Judgement: ...
def bound(outcome: Outcome, requirement: str) -> Judgement | NotApplicable:
    """Bind unbound findings to ``requirement`` (findings already bound keep theirs).

    A NotApplicable outcome stays one, bound to ``requirement`` (the check did not judge it). For
    code outside a suite test (replay, recheck) and for a test that judges several requirements in
    one ``expect``, so each finding names its own.
    """
    if isinstance(outcome, NotApplicable):
        return outcome if outcome.requirement else replace(outcome, requirement=requirement)
    findings = [f if f.requirement else replace(f, requirement=requirement) for f in outcome]
    return Judgement(findings, requirement)
