"""Checks: small pure functions from observations to findings, registered by name.

A check never sends a request and never raises on bad target behaviour. It takes what it
judges first (an :class:`Observation` or a sequence of them) and its expectations after, and
returns its findings (empty: the expectation holds) or :class:`NotApplicable` when its
precondition does not hold. Findings say what was expected and what was seen and carry the
exchange, but no requirement: the suite test binds them to the one its marker names.

One module per group; this package is their public face (``checks.check_echo(...)``; the redeem
groups are used as modules: ``checks.redeem``, ``checks.callback``, ``checks.background``,
``checks.history``), and :data:`CHECKS` lists every registered check, of every group, with its
stable title.
"""

from __future__ import annotations

from conformance.checks import background, callback, history, redeem
from conformance.checks.entropy import estimate_entropy_bits, token_alphabet_size
from conformance.checks.envelope import (
    check_api_response,
    check_content_type,
    check_error,
    check_error_code_documented,
    check_error_envelope,
    check_http_status_200,
    check_no_server_error,
    check_no_token,
    check_permission_level,
    check_refused_as,
    check_status_ok,
    check_well_formed,
)
from conformance.checks.formats import check_formats_agree, check_json_wrapper, check_utf8_label
from conformance.checks.injection import check_name_not_reflected, is_js_name
from conformance.checks.params import check_bounds_policy, check_numeric_field, check_within_bounds
from conformance.checks.registry import CHECKS, Outcome, bound, findings_of
from conformance.checks.response import (
    check_cached_zero,
    check_echo,
    check_echo_or_refused,
    check_json_envelope,
    check_token_fields,
)
from conformance.checks.time import check_non_decreasing, check_valid_until, measure_skew
from conformance.checks.tokens import (
    check_token_issued,
    check_tokens_entropy_recommended,
    check_tokens_unique,
    check_tokens_unpredictable,
)
from conformance.model.finding import Finding, NotApplicable
from conformance.parse.observation import Observation, observe, server_time

__all__ = [
    "CHECKS",
    "Finding",
    "NotApplicable",
    "Observation",
    "Outcome",
    "background",
    "bound",
    "callback",
    "check_api_response",
    "check_bounds_policy",
    "check_cached_zero",
    "check_content_type",
    "check_echo",
    "check_echo_or_refused",
    "check_error",
    "check_error_code_documented",
    "check_error_envelope",
    "check_formats_agree",
    "check_http_status_200",
    "check_json_envelope",
    "check_json_wrapper",
    "check_name_not_reflected",
    "check_no_server_error",
    "check_no_token",
    "check_non_decreasing",
    "check_numeric_field",
    "check_permission_level",
    "check_refused_as",
    "check_status_ok",
    "check_token_fields",
    "check_token_issued",
    "check_tokens_entropy_recommended",
    "check_tokens_unique",
    "check_tokens_unpredictable",
    "check_utf8_label",
    "check_valid_until",
    "check_well_formed",
    "check_within_bounds",
    "estimate_entropy_bits",
    "findings_of",
    "history",
    "is_js_name",
    "measure_skew",
    "observe",
    "redeem",
    "server_time",
    "token_alphabet_size",
]
