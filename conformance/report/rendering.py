"""What every rendered report shares: the Jinja2 environment, its assets, and how values read.

The HTML report, the matrix and the selftest page all render through :func:`environment`
(autoescaped: the target's text is hostile until escaped); the console and JUnit show values the
way the HTML does (:func:`shown`, :func:`verdict_label`).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from typing import Any

import jinja2
from markupsafe import Markup

from conformance.model.finding import ABSENT
from conformance.results.verdicts import VERDICT_LABELS

_NONE_WORD = re.compile(r"(?<![\w'\"])None(?![\w'\"])")
_OBJECT_REPR = re.compile(r"<([\w.]+?)(?: object)? at 0x[0-9a-fA-F]+>")


@functools.cache
def environment(*, strict: bool = False) -> jinja2.Environment:
    """The templates' environment; ``strict`` makes an undefined name an error, not an empty cell.

    One per process: it keeps the compiled templates (a run renders several pages and assets).
    """
    return jinja2.Environment(
        loader=jinja2.PackageLoader("conformance.report", "templates"),
        autoescape=True,  # every template, whatever its extension
        undefined=jinja2.StrictUndefined if strict else jinja2.Undefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def asset(name: str) -> tuple[Markup, str]:
    """A static asset's text (trusted: shipped with the package) and its CSP hash source."""
    env = environment()
    assert env.loader is not None
    text = env.loader.get_source(env, name)[0]
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return Markup(text), f"'sha256-{digest}'"


def verdict_label(verdict: str, level: str = "MUST") -> str:
    """A requirement verdict as every report shows it: a failed SHOULD is a warning."""
    if verdict == "fail" and level == "SHOULD":
        return "WARN"
    return VERDICT_LABELS.get(verdict, verdict.upper())


def without_addresses(text: str) -> str:
    """``<pkg.Api object at 0x7f3a...>`` as ``<pkg.Api>``: an address says nothing to a reader."""
    return _OBJECT_REPR.sub(r"<\1>", text)


def shown(value: Any) -> str:
    """A value as a reader sees it: Python's ``None`` is "(absent)", object addresses are dropped."""
    return ABSENT if value is None else without_addresses(_NONE_WORD.sub(ABSENT, str(value)))
