"""The preflight of ``conformance run``: one signed request that tells a user mistake from a target.

Kept apart from the run itself because its rules (what is a config mistake, what is the target's
to be judged on) are a policy of their own, documented on :func:`preflight`.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from conformance.checks import Observation, measure_skew, observe
from conformance.commands.common import err
from conformance.config import TargetConfig
from conformance.model.exchange import ApiRequest
from conformance.spec import GET_REPLACE_TOKEN, ErrorCode
from conformance.suite.state import RunState
from conformance.transport.client import TargetClient
from conformance.transport.errors import TransportError

CLOCK_SKEW_SUSPECT = 120  # seconds: beyond this a refused signature may be the local clock's fault


class PreflightError(Exception):
    """A mistake in what the user gave the run, found by the preflight: exit 2 with this one line."""


def preflight(client: TargetClient, state: RunState | None = None) -> str | None:
    """One signed request (two when its signature is refused) before the suite: can the run work?

    Returns None when the suite can run and the transport error when the target cannot be reached
    (the run then ends UNREACHABLE, exit 3). Raises PreflightError for a mistake only the user can
    fix, before the suite sends anything else:

    - HTTP 404, an HTML page with a 2xx status, or a redirect of the API path itself to another
      scheme or host (http -> https), where an API answer belongs: base_url is not the site root
      the API answers on. An answer that parses as an API response (whatever its status) is the
      target's to be judged on, never a usage error.
    - ``invalid_signature`` to the write credentials, signed in the Authorization header and again
      in the query: the secrets (or the local clock) are wrong. A target whose verifier fails for
      every placement could not be certified either, so stopping loses no verdict; when one
      placement works the credentials are right and the suite goes on to judge the other.
    - ``no_such_photo`` for photo_id: the configured photo is not on the target, so nothing about
      replacing it can be judged.

    Deliberately not a usage error: ``permission_denied`` to the write credentials. The target
    verified the signature (so the secrets are right) and then decided the caller's level, and
    that decision is exactly what AUTH-WRITE-GRANTED judges. The suite cannot tell credentials
    mislabelled as write from a target that grants wrongly; stopping would hide the second, a
    target defect, behind a usage error. So the run goes on with the answer as evidence, and the
    console names the possible mix-up. Every other answer, however wrong, is the suite's to judge.
    """
    request = ApiRequest(params=(("photo_id", client.config.photo_id),))
    try:
        obs = _preflight_call(client, state, request)
        if _signature_refused(obs):
            obs = _preflight_call(client, state, request.but(placement="query"))
            if _signature_refused(obs):
                raise PreflightError(_credentials_message(obs, state))
        _judge_preflight(obs, client.config)
    except TransportError as exc:
        if exc.kind in ("budget", "deadline", "throttled"):
            return None  # a limit, not the target: the run reports it as such
        return str(exc)
    except PreflightError:
        client.close()
        raise
    finally:
        client.reset_circuit()
    return None


def _preflight_call(client: TargetClient, state: RunState | None, request: ApiRequest) -> Observation:
    """Send one preflight request; it counts against the budget and feeds the clock-skew estimate."""
    exchange = client.send(request)
    if state is not None:
        state.skew_samples.append(exchange.without_body())
    return observe(exchange, "xml")


def _signature_refused(obs: Observation) -> bool:
    return obs.parsed is not None and obs.attr("code") == ErrorCode.INVALID_SIGNATURE


def _credentials_message(obs: Observation, state: RunState | None) -> str:
    # A target answers invalid_signature alike for an unknown key or token and for a wrong secret.
    message = (
        "write credentials rejected (invalid_signature): check all four of [credentials.write]: "
        "consumer_key, consumer_secret, access_token, access_token_secret"
    )
    skew = measure_skew(state.skew_samples if state is not None else [obs.exchange])
    if skew is not None and abs(skew) > CLOCK_SKEW_SUSPECT:
        message += (
            f" (or the local clock: it is {abs(skew):.0f}s {'behind' if skew > 0 else 'ahead of'} the "
            "target's Date header, and OAuth timestamps that far off are refused)"
        )
    return message


def _redirected_base(status: int, location: str | None) -> str | None:
    """The site root a redirect of the API path itself points at (http -> https, another host)."""
    if status not in (301, 302, 303, 307, 308) or not location or not location.isascii():
        return None
    parts = urlsplit(location)
    suffix = GET_REPLACE_TOKEN
    if parts.scheme not in ("http", "https") or not parts.netloc or not parts.path.endswith(suffix):
        return None
    if not all(ch.isprintable() and not ch.isspace() for ch in parts.netloc + parts.path):
        return None
    return f"{parts.scheme}://{parts.netloc}{parts.path.removesuffix(suffix)}"


def _judge_preflight(obs: Observation, config: TargetConfig) -> None:
    """Raise PreflightError when the answer shows a mistake in the config (see :func:`preflight`)."""
    response = obs.exchange.response
    assert response is not None  # a transport failure raised before this
    path = urlsplit(obs.exchange.url).path
    if obs.parsed is None:
        moved_to = _redirected_base(response.status, response.header("Location"))
        if moved_to and moved_to != config.base_url.rstrip("/"):
            raise PreflightError(
                f"base_url must be the site root the API answers on (got {response.status} to "
                f'{moved_to}{GET_REPLACE_TOKEN}): set base_url = "{moved_to}"'
            )
        if response.status == 404:
            raise PreflightError(f"base_url must be the site root (got 404 for {path})")
        if 200 <= response.status < 300 and "HTML page" in (obs.parse_error or ""):
            raise PreflightError(f"base_url must be the site root (got an HTML page for {path})")
        return
    code = obs.attr("code")
    if code == ErrorCode.NO_SUCH_PHOTO:
        raise PreflightError(f"photo_id {config.photo_id} does not exist on the target")
    if code == ErrorCode.PERMISSION_DENIED:
        level = obs.attr("permission_level") or ""
        level = level if re.fullmatch(r"[A-Za-z0-9_-]{1,32}", level) else "?"  # target text: no escapes
        err(
            f"note: the target answered permission_denied (permission_level {level}) to [credentials.write]; "
            "if those are not write-level credentials, fix the config. The run goes on and judges "
            "AUTH-WRITE-GRANTED on it"
        )
