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

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar, overload

from conformance.model.exchange import Exchange
from conformance.model.finding import ABSENT, Finding, NotApplicable, Severity

Outcome = list[Finding] | NotApplicable
F = TypeVar("F", bound=Callable[..., Outcome])


@dataclass(frozen=True)
class CheckInfo:
    """What the registry knows of one check: its name (the function's), title and doc line."""

    name: str
    title: str
    doc: str
    func: Callable[..., Outcome]


CHECKS: dict[str, CheckInfo] = {}


def check(title: str) -> Callable[[F], F]:
    """Register a check under its function name with a stable, human title (a defect's name)."""

    def register(func: F) -> F:
        name = func.__name__
        if name in CHECKS and CHECKS[name].func is not func:
            raise ValueError(f"check {name} is registered twice")
        doc = (func.__doc__ or "").strip().splitlines()
        CHECKS[name] = CheckInfo(name, title, doc[0] if doc else "", func)
        return func

    return register


def fail(
    check_name: str,
    message: str,
    exchange: Exchange | None,
    expected: str = "",
    observed: str = "",
    *,
    severity: Severity = "error",
    related: Exchange | None = None,
) -> Finding:
    """A finding of the registered check ``check_name``, its title filled in, requirement unbound."""
    info = CHECKS.get(check_name)
    title = info.title if info is not None else check_name
    return Finding("", check_name, message, expected, observed, exchange, severity, related, title)


def not_applicable(check_name: str, reason: str) -> NotApplicable:
    return NotApplicable(check_name, reason)


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
