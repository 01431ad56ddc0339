"""The fields of a form, read from an HTML page or from a recorded multipart/form-data body.

Two readers, one field type: a redeem answer's HTML form carries the callback parameters (see
:mod:`conformance.parse.redeem`), and a recorded redeem request's multipart body is what the
report turns back into a ``curl`` command (see :mod:`conformance.report.reproduce`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

_BUTTONS = ("submit", "button", "image", "reset", "file")  # inputs that carry no callback value


@dataclass(frozen=True)
class FormPart:
    """One named field; ``filename`` and ``content_type`` only for a multipart file part."""

    name: str
    value: str
    filename: str | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class HtmlForm:
    """The first ``<form>`` of a page: where it goes, how, and its named value inputs in order."""

    action: str
    method: str  # lower case; "get" when the form names none
    fields: list[FormPart] = field(default_factory=list)

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return [(f.name, f.value) for f in self.fields]


class _FormReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.form: dict[str, str] | None = None
        self.fields: list[FormPart] = []
        self._in_form = False
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): v or "" for k, v in attrs}
        if tag == "form" and not self._done and self.form is None:
            self.form, self._in_form = a, True
        elif (
            tag == "input"
            and self._in_form
            and a.get("name")
            and a.get("type", "text").lower() not in _BUTTONS
        ):
            self.fields.append(FormPart(a["name"], a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._in_form:
            self._in_form, self._done = False, True


def read_html_form(text: str) -> HtmlForm | None:
    """The page's first form (character references decoded), or None when it has none."""
    if "<form" not in text.lower():
        return None
    reader = _FormReader()
    try:
        reader.feed(text)
        reader.close()
    except Exception:  # html.parser on hostile input: treat as not a form
        return None
    if reader.form is None:
        return None
    return HtmlForm(reader.form.get("action", ""), reader.form.get("method", "get").lower(), reader.fields)


def multipart_parts(content_type: str, body: str) -> list[FormPart] | None:
    """The parts of a recorded multipart/form-data body (None when it is not one)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.lower().startswith("multipart/form-data") or not match:
        return None
    parts = []
    for chunk in body.split("--" + match.group(1))[1:]:
        if chunk.startswith("--"):
            break
        head, sep, value = chunk.removeprefix("\r\n").partition("\r\n\r\n")
        name = re.search(r'\bname="([^"]*)"', head)
        if not sep or not name:
            continue  # the recorded body was cut inside this part
        filename = re.search(r'\bfilename="([^"]*)"', head)
        ctype = re.search(r"(?im)^content-type:\s*(.+?)\s*$", head)
        parts.append(
            FormPart(
                name.group(1),
                value.removesuffix("\r\n"),
                filename and filename.group(1),
                ctype and ctype.group(1),
            )
        )
    return parts
