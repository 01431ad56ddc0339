"""The embedded reference server (werkzeug WSGI + SQLite) implementing the suite's positions.

It depends on nothing of the suite but ``conformance.spec`` (the documented facts) and
``conformance.model`` (credentials). Modules, one concern each, bottom to top: ``behaviour`` (the
knobs, a leaf), ``faults``/``variants`` (the tables in ``faults.toml``/``variants.toml``),
``selection`` (names -> Behaviour), ``oauth`` (signature verification), ``params`` (parameters and
bounds), ``render`` (XML/JSON/wrappers), ``callbacks`` (callback URL, form page, background GET),
``database``/``clock``/``store`` (SQLite connections, the API clock, the tables' operations),
``context`` (what every handler shares), ``get_token``/``redeem``/``hooks`` (the endpoints),
``app`` (routing and the catch-all), ``server`` (settings, lifecycle, target config) and ``cli``
(``conformance serve``). No module imports this package's ``__init__``, which only re-exports.

Positions beyond docs/ARCHITECTURE.md:

- Repeated parameter keys: the first occurrence wins. Empty value = omitted.
- OAuth: parameters in exactly one place (header, GET query, or form-encoded POST body); OAuth
  parameters in the query of a POST, in two places, a consumer key without its access token,
  any signature method but HMAC-SHA1, a timestamp more than 300 s from the real wall clock or a
  replayed (consumer key, token, timestamp, nonce) -> ``invalid_signature``. The signature is
  checked against the public origin (``public_url``, else the forwarded or received Host) and,
  with ``public_url`` set, also the origin as received; for a default port the base-string URI is
  accepted both without (RFC 5849) and with the explicit port (``https://host:443/...``).
- ``background_return_p`` is on only for ``1``. ``return_url`` is echoed verbatim (max 8192
  characters; characters XML 1.0 cannot carry -> ``invalid_input`` in every format).
- ``site.domain`` and the callback ``domain`` are the public host, with the port when not default.
- Redeem: callback parameters are ``domain, replace_token`` + (``photo_id, tree_id, token`` |
  ``error_message``), then extra form fields (names colliding with those are dropped). A file part
  that is absent or empty is "no file": error callback (or plain text without ``return_url``), no
  use consumed. Only http(s) (or relative, for browser redirects) return URLs are followed;
  ``javascript:``/``data:`` etc. behave like no ``return_url``. Errors on a token issued with
  ``background_return_p=1`` read ``error <message>``. A background callback longer than 1500
  characters is refused before anything is replaced; the background answer is ``ok ...`` whenever
  the replacement happened, whatever the callback's outcome (recorded in the history).
- Test hooks (only with ``clock_control``): ``POST /_test/clock`` (form ``advance_seconds=N``,
  N >= 0) -> JSON ``{"now": <api time>, "offset": <total seconds>}``; ``GET /_test/photo/<id>`` ->
  JSON photo state with its replacement history; ``GET /_test/token/<token>`` -> JSON token row.
  All 404 when disabled.
"""

from .server import Credentials, ReferenceServer, ReferenceSettings, write_target_config

__all__ = ["Credentials", "ReferenceServer", "ReferenceSettings", "write_target_config"]
