"""The lifecycle driver the ``full`` profile's suite tests use: issue, redeem, move the clock, inspect.

Everything goes through the run's :class:`~conformance.transport.client.TargetClient` (budget, rate cap,
timeouts, redaction) and every exchange is recorded on the test's ``api`` handle as evidence.
Redemptions are anonymous browser-style multipart POSTs whose redirects are never followed: the
suite reads ``Location`` instead. The optional history hook is only consulted when the target
declares reference-style test hooks (``clock_control_url`` is ``<base_url>/_test/clock``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urljoin

import pytest

from conformance.checks.envelope import check_api_response, check_status_ok
from conformance.checks.history import check_history_unchanged
from conformance.checks.redeem import check_plain_error, check_redeem_answered
from conformance.checks.response import check_token_fields
from conformance.model.exchange import Exchange
from conformance.parse.observation import Observation
from conformance.parse.redeem import PhotoHistory, RedeemAnswer, read_redeem_answer
from conformance.spec import REDEEM_REPLACE_TOKEN, VALID_MINUTES
from conformance.suite.api import Api
from conformance.transport.uploads import Upload, make_upload, multipart_form

# Where the reference serves its test hooks (clock, photo history), relative to base_url.
REFERENCE_HOOKS = "_test/"
# Callback values must reach return_url exactly as sent, so the lifecycle sends values holding every
# character URL-encoding exists for ('&', '=', '+', '%' and an escape-like '%41', '#', space, non-ASCII).
TRICKY_VALUE = "a&b=c+d %41 50%#top ü"
TRICKY_EXTRA: tuple[tuple[str, str], ...] = (("note", TRICKY_VALUE), ("empty", ""), ("plus", "+ +"))


def return_url_with_state(base: str, **query: str) -> str:
    """``base`` (an absolute http(s) URL) with ``query``, then TRICKY_VALUE twice, validly encoded:
    as ``state`` with %20 for spaces and as ``form`` with form-style '+' (receivers decode both).
    """
    parts = [urlencode(list(query.items()))] if query else []
    parts += ["state=" + quote(TRICKY_VALUE, safe=""), urlencode({"form": TRICKY_VALUE})]
    return base + "?" + "&".join(parts)


RETURN_URL = return_url_with_state("https://app.example.com/upload/callback", theme="green")
_history_hook_available: dict[str, bool] = {}


class ClockControlError(RuntimeError):
    """The configured clock_control_url did not move the target's clock (a setup problem, not a finding)."""


@dataclass(frozen=True)
class IssuedToken:
    """A replace token the suite obtained, with the terms the target stated."""

    token: str
    photo_id: str
    max_uploads: int
    valid_minutes: int
    valid_until: int | None
    return_url: str
    background: bool
    issued_monotonic: float
    observation: Observation

    @property
    def issued_at(self) -> int | None:
        """The issue time on the target's own API clock: valid_until - valid_minutes*60."""
        return None if self.valid_until is None else self.valid_until - self.valid_minutes * 60


class Lifecycle:
    """Issue tokens, redeem them, and (where the target allows) move its clock or read its history."""

    def __init__(self, api: Api) -> None:
        if not api.config.destructive:
            pytest.skip("redeem tests replace photo_id's file; the config needs destructive = true")
        self.api = api
        self.client = api.client
        self.config = api.config

    # -- tokens ---------------------------------------------------------------------------------
    def issue(
        self,
        *,
        return_url: str | None = None,
        max_uploads: int = 1,
        valid_minutes: int | None = None,
        background: bool = False,
    ) -> IssuedToken:
        """Get a token for the configured photo; a refusal fails the test (nothing can be redeemed).

        ``return_url=None`` leaves the parameter out; ``""`` sends it empty.
        """
        params: dict[str, str] = {"max_uploads": str(max_uploads)}
        if return_url is not None:
            params["return_url"] = return_url
        if valid_minutes is not None:
            params["valid_minutes"] = str(valid_minutes)
        if background:
            params["background_return_p"] = "1"
        obs = self.api.call(self.api.request(**params))
        self.api.expect(check_api_response(obs, "xml"), check_status_ok(obs))
        token = obs.field("replace_token") or ""
        if not token:
            self.api.expect(check_token_fields(obs, self.api.request(**params)))
        until = obs.field("valid_until") or ""
        return IssuedToken(
            token=token,
            photo_id=self.config.photo_id,
            max_uploads=max_uploads,
            valid_minutes=valid_minutes or VALID_MINUTES.default,
            valid_until=int(until) if until.isdigit() else None,
            return_url=return_url or "",
            background=background,
            issued_monotonic=time.monotonic(),
            observation=obs,
        )

    # -- redeeming ------------------------------------------------------------------------------
    def _build(
        self,
        token: str,
        upload: Upload | None,
        extra: Sequence[tuple[str, str]],
        empty_file_part: bool = True,
    ) -> tuple[str, dict[str, str], bytes]:
        body, ctype = multipart_form(
            [("replace_token", token), *extra], upload, empty_file_part=empty_file_part
        )
        return self.config.api_url(REDEEM_REPLACE_TOKEN), {"Content-Type": ctype}, body

    def _record(self, ex: Exchange) -> None:
        self.api.exchanges.append(ex)

    def redeem(
        self,
        token: str,
        upload: Upload | None,
        extra: Sequence[tuple[str, str]] = (),
        *,
        empty_file_part: bool = True,
    ) -> RedeemAnswer:
        """One anonymous multipart redemption.

        ``upload=None`` sends no file: an empty file part (a browser form whose file input was left
        empty) or, with ``empty_file_part=False``, no file part at all.
        """
        url, headers, body = self._build(token, upload, extra, empty_file_part)
        ex = self.client.send_built(None, "POST", url, headers, body, allow_redirects=False)
        self._record(ex)
        return read_redeem_answer(ex)

    def redeem_concurrently(self, token: str, uploads: Sequence[Upload]) -> list[RedeemAnswer]:
        """Fire one redemption per upload at the same moment (a barrier releases them together)."""
        built = [self._build(token, u, ()) for u in uploads]
        barrier = threading.Barrier(len(built))

        def fire(item: tuple[str, dict[str, str], bytes]) -> Exchange:
            barrier.wait(timeout=30)
            return self.client.send_built(None, "POST", *item, allow_redirects=False)

        with ThreadPoolExecutor(max_workers=len(built)) as pool:
            exchanges = list(pool.map(fire, built))
        for ex in exchanges:
            self._record(ex)
        return [read_redeem_answer(ex) for ex in exchanges]

    def expect_refused(self, token: str) -> RedeemAnswer:
        """Redeem ``token`` with a fresh file: a plain error, and (where the hook tells) nothing replaced."""
        before = self.history()
        answer = self.redeem(token, make_upload())
        self.api.expect(
            check_redeem_answered(answer),
            check_plain_error(answer),
            check_history_unchanged(before, self.history()),
        )
        return answer

    # -- the target's clock -----------------------------------------------------------------------
    @property
    def clock_control(self) -> bool:
        return bool(self.config.clock_control_url)

    def advance_clock(self, seconds: int) -> None:
        """POST advance_seconds=N to clock_control_url; anything but a 2xx is a setup error."""
        url = self.config.clock_control_url
        if not url:
            raise ClockControlError("no clock_control_url configured")
        body = urlencode({"advance_seconds": str(max(0, int(seconds)))})
        ex = self.client.send_built(
            None, "POST", url, {"Content-Type": "application/x-www-form-urlencoded"}, body
        )
        self._record(ex)
        status = ex.response.status if ex.response else None
        if status is None or not 200 <= status < 300:
            raise ClockControlError(f"clock_control_url answered HTTP {status} to advance_seconds={seconds}")

    def seconds_until_expiry(self, issued: IssuedToken) -> float:
        """Seconds left on the target's clock, from its own valid_until and the time since issue."""
        lifetime = issued.valid_minutes * 60
        return lifetime - (time.monotonic() - issued.issued_monotonic)

    # -- optional evidence ----------------------------------------------------------------------
    def _history_url(self) -> str | None:
        """The reference's photo-history hook, when the target's clock hook says it has those hooks."""
        hooks = urljoin(self.config.base_url.rstrip("/") + "/", REFERENCE_HOOKS)
        if (self.config.clock_control_url or "").rstrip("/") != urljoin(hooks, "clock"):
            return None
        return urljoin(hooks, "photo/" + quote(self.config.photo_id, safe=""))

    def history(self) -> PhotoHistory | None:
        """The photo's replacement history from a reference-style test hook; None when there is none."""
        url = self._history_url()
        if url is None or _history_hook_available.get(url) is False:
            return None
        ex = self.client.send_built(None, "GET", url, {}, None)
        self._record(ex)
        history = _parse_history(ex)
        _history_hook_available[url] = history is not None
        return history


def _parse_history(ex: Exchange) -> PhotoHistory | None:
    if ex.response is None or ex.response.status != 200:
        return None
    try:
        data = json.loads(ex.response.body)
        items = data["replacements"]
        sha = tuple(str(item["sha256"]) for item in items)
        return PhotoHistory(str(data["tree_id"]), str(data["token"]), sha, ex)
    except (ValueError, KeyError, TypeError):
        return None
