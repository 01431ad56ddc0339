"""Checks of the stored history a reference-style ``/_test/photo`` hook reports (optional evidence).

The documented answers decide whether a photo was replaced; a target that offers the hook adds
what it stored (the SHA-256 of each replacement), so a lost or extra replacement shows too. Without
the hook these checks do not apply.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from conformance.checks.registry import check, fail, not_applicable
from conformance.model.finding import Finding, NotApplicable
from conformance.parse.redeem import PhotoHistory, RedeemAnswer

_HOOK_NOTE = " (extra evidence from the target's /_test/photo test hook)"


@check("stored replacements differ from the uploads")
def check_history_replaced(
    before: PhotoHistory | None,
    after: PhotoHistory | None,
    uploads: Sequence[str],
    answer: RedeemAnswer | None = None,
) -> list[Finding] | NotApplicable:
    """The stored history grew by exactly these files (SHA-256), and the photo now has the callback's ids."""
    if before is None or after is None:
        return not_applicable("the target offers no /_test/photo history hook")
    ex = after.exchange
    added = list(after.sha256s[len(before.sha256s) :])
    if len(after.sha256s) < len(before.sha256s) or Counter(added) != Counter(uploads):
        message = f"stored replacements do not match the uploads{_HOOK_NOTE}"
        expected = f"{len(uploads)} new: {', '.join(u[:12] for u in uploads)}"
        return [fail(message, ex, expected, f"{len(added)} new: {', '.join(a[:12] for a in added)}")]
    if answer is None or answer.outcome != "success":
        return []
    ids = (answer.param("tree_id"), answer.param("token"))
    if ids[0] and ids != (after.tree_id, after.token):
        message = f"the callback's tree_id/token are not the photo's now{_HOOK_NOTE}"
        return [fail(message, ex, f"{after.tree_id}/{after.token}", f"{ids[0]}/{ids[1]}")]
    return []


@check("stored history changed")
def check_history_unchanged(
    before: PhotoHistory | None, after: PhotoHistory | None
) -> list[Finding] | NotApplicable:
    """Nothing was replaced (its findings are its own, not check_history_replaced's)."""
    outcome = check_history_replaced(before, after, [])
    if isinstance(outcome, NotApplicable):
        return not_applicable(outcome.reason)
    return [fail(f.message, f.exchange, f.expected, f.observed) for f in outcome]
