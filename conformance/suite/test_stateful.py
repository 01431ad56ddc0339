"""STATEFUL: a Hypothesis state machine models the target's token store and checks every step.

Steps: issue tokens with random limits and lifetimes, redeem known (valid or used-up) and unknown
tokens, and move the target's clock when it offers clock_control_url. After each redemption the
answer must match the model; with a reference-style history hook, the stored history must too.
Near valid_until (within 30 s either way) either answer is accepted and the model follows the target.
"""

import time
from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from conformance.checks import callback as cb
from conformance.checks import history as hi
from conformance.checks import redeem as rc
from conformance.checks.registry import Outcome, findings_of
from conformance.suite.api import Api, requirement
from conformance.suite.lifecycle import IssuedToken, Lifecycle, return_url_with_state
from conformance.transport.uploads import make_upload

RETURN_URL = return_url_with_state("https://app.example.com/upload/callback", theme="stateful")
UNSURE_SECONDS = 30
limits = st.integers(1, 3)
lifetimes = st.sampled_from([15, 30])


@dataclass
class ModelToken:
    issued: IssuedToken
    uses: int = 0
    advanced: int = 0  # seconds the target's clock was moved since issue

    def expected(self) -> str:
        """'success', 'error' or 'either' (too close to valid_until to call)."""
        if self.uses >= self.issued.max_uploads:
            return "error"
        left = (
            self.issued.valid_minutes * 60 - self.advanced - (time.monotonic() - self.issued.issued_monotonic)
        )
        if left > UNSURE_SECONDS:
            return "success"
        return "error" if left < -UNSURE_SECONDS else "either"


def token_store_machine(api: Api, life: Lifecycle) -> type[RuleBasedStateMachine]:
    """The machine class, closed over this test's api handle."""

    class TokenStore(RuleBasedStateMachine):
        tokens = Bundle("tokens")

        def __init__(self) -> None:
            super().__init__()
            self.model: dict[str, ModelToken] = {}
            self.failed = False
            self.history_base = life.history()
            self.stored: list[str] = []

        def expect(self, *outcomes: Outcome) -> None:
            self.failed = self.failed or any(f.severity == "error" for f in findings_of(*outcomes))
            api.expect(*outcomes)

        @initialize(target=tokens, max_uploads=limits, valid_minutes=lifetimes)
        def first_token(self, max_uploads: int, valid_minutes: int) -> str:
            return self.issue(max_uploads, valid_minutes)

        @rule(target=tokens, max_uploads=limits, valid_minutes=lifetimes)
        def issue(self, max_uploads: int, valid_minutes: int) -> str:
            issued = life.issue(return_url=RETURN_URL, max_uploads=max_uploads, valid_minutes=valid_minutes)
            self.model[issued.token] = ModelToken(issued)
            return issued.token

        @rule(token=tokens)
        def redeem(self, token: str) -> None:
            m = self.model[token]
            expected = m.expected()
            upload = make_upload()
            answer = life.redeem(token, upload)
            self.expect(rc.check_redeem_answered(answer))
            if expected == "success":
                self.expect(cb.check_success_callback(answer, token, m.issued.photo_id))
            elif expected == "error":
                self.expect(rc.check_plain_error(answer))
            if answer.outcome == "success":
                m.uses += 1
                self.stored.append(upload.sha256)

        @rule(token=tokens)
        def use_up(self, token: str) -> None:
            """Redeem until the model says the token is used up (or expired), and once more."""
            m = self.model[token]
            left = m.issued.max_uploads - m.uses if m.expected() == "success" else 0
            for _ in range(left + 1):
                self.redeem(token)

        @rule(token=st.binary(min_size=20, max_size=20).map(bytes.hex))
        def redeem_unknown(self, token: str) -> None:
            answer = life.redeem(token, make_upload())
            self.expect(rc.check_redeem_answered(answer), rc.check_plain_error(answer))

        @precondition(lambda self: life.clock_control)
        @rule(seconds=st.sampled_from([120, 450, 900]))
        def advance_clock(self, seconds: int) -> None:
            life.advance_clock(seconds)
            for m in self.model.values():
                m.advanced += seconds

        @invariant()
        def history_agrees(self) -> None:
            if self.history_base is not None:
                self.expect(hi.check_history_replaced(self.history_base, life.history(), self.stored))

        def teardown(self) -> None:
            """Every sequence ends with a fixed epilogue: redeem each held token once, issue another
            token, then use the held tokens up. Each limit (or expiry) is thereby checked after
            interleaved steps in every sequence, whatever rules the random part chose.
            """
            if self.failed or not self.model:
                return
            held = list(self.model)
            held = list(dict.fromkeys([held[0], *held[-3:], self.issue(1, 15)]))
            for token in held:
                if self.clear(token):
                    self.redeem(token)
            self.issue(1, 15)
            for token in held:
                if self.clear(token):
                    self.use_up(token)

        def clear(self, token: str) -> bool:
            """Whether the model can call this token's next answer (and nothing has failed yet)."""
            return not self.failed and self.model[token].expected() != "either"

    return TokenStore


@requirement("STATEFUL-TOKEN-STORE")
def test_target_agrees_with_a_token_store_model(api: Api) -> None:
    """Random sequences of issue / redeem / unknown token / clock steps; the target never disagrees."""
    life = Lifecycle(api)
    machine = token_store_machine(api, life)
    run_state_machine_as_test(
        machine,
        settings=settings(
            settings(),
            max_examples=api.budget.stateful_examples,
            stateful_step_count=api.budget.stateful_steps,
        ),
    )
