"""A finding: what one check concluded about one answer, with the evidence to show for it.

Plain data: checks produce findings, the suite binds each to the requirement its test is marked
with, results.json stores ``to_dict()``. A check that does not apply to an answer says so with
:class:`NotApplicable` instead of an empty list, so "passed" and "did not look" stay apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from conformance.model.exchange import Exchange

ABSENT = "(absent)"
"""How evidence shows a value the answer did not have (never ``None``)."""

Severity = Literal["error", "warning"]


def shown(value: object) -> str:
    """A value as evidence shows it: the text, or ``(absent)`` for a missing one."""
    return ABSENT if value is None else str(value)


@dataclass
class Finding:
    """One failed expectation. ``requirement`` is empty until the suite binds it (see ``bound``)."""

    requirement: str
    check: str
    message: str
    expected: str = ""
    observed: str = ""
    exchange: Exchange | None = None
    severity: Severity = "error"
    related: Exchange | None = None  # the other answer a comparison judged (the XML of an XML/JSON pair)
    title: str = ""  # the check's stable title: the same defect reads the same in every run

    @property
    def key(self) -> tuple[object, ...]:
        """What makes two findings the same defect seen once: de-duplication never reads the message."""
        exchange = self.exchange.id if self.exchange else None
        return (self.requirement, self.check, self.severity, self.expected, self.observed, exchange)

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "requirement": self.requirement,
            "check": self.check,
            "title": self.title,
            "message": self.message,
            "expected": self.expected,
            "observed": self.observed,
            "severity": self.severity,
            "exchange": self.exchange.to_dict() if self.exchange else None,
        }
        if self.related is not None:
            data["related_exchange"] = self.related.to_dict()
        return data


@dataclass(frozen=True)
class NotApplicable:
    """A check's answer when its precondition does not hold for this answer (with the reason).

    ``requirement`` is empty until bound, like a finding's: the suite records under it that the
    check did not judge, so a test none of whose checks judged anything verifies nothing.
    """

    check: str
    reason: str
    requirement: str = ""
