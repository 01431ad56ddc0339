"""How much each settings profile lets the suite send: Hypothesis' settings and every per-test number.

``--settings`` picks one :class:`Budget`: ``default`` for a quick CI run, ``polite`` for a shared
staging target (fewer requests everywhere), ``thorough`` for a nightly run (many examples, longer
stateful runs, every value of a range). Suite tests read their numbers from ``api.budget`` and
never hard-code one, so a profile means the same for every test.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from hypothesis import HealthCheck, Phase, settings

STATEFUL_EXAMPLES_CAP = 50  # --max-examples for the stateful test: each example is a whole run
EXAMPLE_BATCH = 4
"""Requests one property-test example sends at once, in every profile (a batch is one draw;
the strategies' list sizes read it at import time, before any profile is chosen)."""


@dataclass(frozen=True)
class Budget:
    """Every per-test number one settings profile allows."""

    max_examples: int  # Hypothesis examples per property test
    stateful_examples: int  # runs of the token-store state machine
    stateful_steps: int  # steps per state-machine run; each is a request or two
    sweep_sample: int | None  # seeded in-range values per parameter sweep beside its edges; None: all
    token_sample: int  # tokens fetched to judge uniqueness and unpredictability
    race_factor: int  # multiplies the redemptions fired at once at one token
    shrink: bool = True  # shrink a failing example (every shrink step is more requests)
    sequential_sample: int = 8  # answers fetched one after another to compare (TIME-MONOTONIC)
    burst: int = 32  # requests sent at once to one endpoint (concurrent tokens stay unique)
    token_confirm_sample: int = 64  # a smaller token sample that looks predictable is topped up to
    # this before it fails: 16 tokens underestimate an exactly-64-bit token about once in 2,000 runs

    def with_max_examples(self, max_examples: int | None) -> Budget:
        """This budget with ``--max-examples`` applied to property tests and the state machine."""
        if max_examples is None:
            return self
        stateful = max(1, min(max_examples, STATEFUL_EXAMPLES_CAP))
        return replace(self, max_examples=max_examples, stateful_examples=stateful)


# One row per settings profile, in Budget's field order: max_examples, stateful_examples,
# stateful_steps, sweep_sample, token_sample, race_factor, shrink, sequential_sample, burst.
# Detection never rests on these numbers: every input class a known defect needs is pinned and sent
# whatever the profile or seed (docs/internals.md), so default and polite draw only a few random
# inputs beside them and thorough explores. Polite keeps default's examples and sends fewer requests.
BUDGETS: dict[str, Budget] = {
    "default": Budget(4, 4, 12, 8, 24, 1, True, 8, 8),
    "polite": Budget(4, 2, 8, 4, 16, 1, False, 8, 8),
    "thorough": Budget(300, 20, 30, None, 64, 2, True, 8, 32),
}

# What no profile changes. deadline=None: a slow target is judged by the request timeouts and
# the run deadline, never by Hypothesis' wall clock per example (that would turn a slow network
# into a Flaky error). Health checks: only those a conformance run must not trip over.
_COMMON: dict[str, Any] = dict(
    deadline=None,
    database=None,  # nothing the suite saw is ever written to an example database
    report_multiple_bugs=False,
    suppress_health_check=[
        # The ``api`` handle is per test on purpose: every example records its evidence into it.
        HealthCheck.function_scoped_fixture,
        # Generation time depends on the load of the machine running the suite; a verdict on the
        # target must not.
        HealthCheck.too_slow,
    ],
    print_blob=False,
)


def register_profiles() -> None:
    """Register ``conformance-<name>`` for every budget (idempotent)."""
    for name, budget in BUDGETS.items():
        phases = (Phase.explicit, Phase.generate, *((Phase.shrink,) if budget.shrink else ()))
        settings.register_profile(
            f"conformance-{name}", max_examples=budget.max_examples, phases=phases, **_COMMON
        )


def load_profile(name: str, max_examples: int | None) -> None:
    """Make the profile (with ``--max-examples`` applied) the current Hypothesis settings."""
    profile = f"conformance-{name}"
    if max_examples is not None:
        settings.register_profile("conformance-run", settings.get_profile(profile), max_examples=max_examples)
        profile = "conformance-run"
    settings.load_profile(profile)


def budget_for(name: str, max_examples: int | None) -> Budget:
    """The budget of settings profile ``name`` with ``--max-examples`` applied."""
    return BUDGETS[name].with_max_examples(max_examples)


register_profiles()
