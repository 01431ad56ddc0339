"""An exchange with its body parsed once: what every check reads.

The suite observes each answer as it arrives; checks never parse bytes themselves, so one
answer judged by ten checks is parsed once, and a body that cannot be parsed keeps the reason
as text for the checks that judge well-formedness.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Literal

from conformance.model.exchange import Exchange
from conformance.parse.responses import ParsedResponse, ResponseParseError, parse_response

_DIGITS = re.compile(r"[0-9]{1,30}")


@dataclass
class Observation:
    """An exchange with its body parsed once (or the reason it could not be)."""

    exchange: Exchange
    parsed: ParsedResponse | None
    parse_error: str | None

    @property
    def ok(self) -> bool:
        return self.parsed is not None and self.parsed.status == "ok"

    def field(self, name: str) -> str | None:
        return self.parsed.fields.get(name) if self.parsed else None

    def attr(self, name: str) -> str | None:
        return self.parsed.attributes.get(name) if self.parsed else None

    def int_field(self, name: str) -> int | None:
        """A field that is plain decimal digits as an int; None when absent or anything else."""
        value = self.field(name)
        return int(value) if value is not None and _DIGITS.fullmatch(value) else None


def observe(exchange: Exchange, expected: Literal["xml", "json"] | None = None) -> Observation:
    """Parse the response body once; a parse failure is kept as text for the checks to judge."""
    resp = exchange.response
    if resp is None:
        return Observation(exchange, None, exchange.error or "no response")
    if resp.headers_truncated:
        return Observation(
            exchange,
            None,
            "response headers exceed the size cap (more than [limits] max_header_bytes of status "
            "line and headers; the body was not read)",
        )
    if resp.truncated:
        return Observation(
            exchange,
            None,
            f"response body exceeds the size cap ({len(resp.body)} bytes read; "
            "the cap is [limits] max_body_bytes)",
        )
    try:
        return Observation(exchange, parse_response(resp.body, expected), None)
    except ResponseParseError as exc:
        return Observation(exchange, None, str(exc))


def server_time(ex: Exchange) -> int | None:
    """The server's clock from its Date header (None when absent or unparsable)."""
    date = ex.response.header("Date") if ex.response else None
    if not date:
        return None
    try:
        return int(parsedate_to_datetime(date).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
