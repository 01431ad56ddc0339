"""A shields-style SVG badge for a certificate: ``conformance | CONFORMANT core+full | catalog 1a2b3c4d``.

The badge is a plain SVG file a vendor can put in a README. Every text goes through XML escaping
(a verdict or profile string is data, never markup), and the SVG holds no script, link or external
reference, so it is inert wherever it is embedded.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from conformance.model.verdict import RunVerdict

GREEN, RED, GREY, DARK = "#2e7d32", "#c62828", "#757575", "#555555"
_CHAR_WIDTH = 6.6  # average advance of 11px Verdana/DejaVu Sans, enough for a badge's layout
_PAD = 10


def badge_color(verdict: str) -> str:
    """Green for CONFORMANT, red for NOT CONFORMANT, grey for every state that certifies nothing."""
    if verdict == RunVerdict.CONFORMANT:
        return GREEN
    if verdict.startswith(RunVerdict.NOT_CONFORMANT):
        return RED
    return GREY


def profile_label(profile: str) -> str:
    """The profiles a run covered: ``full`` includes every ``core`` requirement."""
    return "core+full" if profile == "full" else profile


def render_badge(verdict: str, profile: str, catalog_sha256: str) -> str:
    """The SVG text of the badge for a verdict, the run's profile and the catalog it was judged by."""
    parts = [
        ("conformance", DARK),
        (f"{verdict} {profile_label(profile)}", badge_color(verdict)),
        (f"catalog {catalog_sha256[:8]}", DARK),
    ]
    widths = [round(len(text) * _CHAR_WIDTH) + 2 * _PAD for text, _ in parts]
    total = sum(widths)
    label = " | ".join(text for text, _ in parts)
    rects, texts, x = [], [], 0
    for (text, color), width in zip(parts, widths, strict=True):
        rects.append(f'<rect x="{x}" width="{width}" height="20" fill="{color}"/>')
        mid = x + width / 2
        texts.append(f'<text x="{mid:g}" y="15" fill="#010101" fill-opacity=".3">{escape(text)}</text>')
        texts.append(f'<text x="{mid:g}" y="14">{escape(text)}</text>')
        x += width
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" '
        f"aria-label={quoteattr(label)}>"
        f"<title>{escape(label)}</title>"
        f'<clipPath id="r"><rect width="{total}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)">{"".join(rects)}</g>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">'
        f"{''.join(texts)}</g></svg>\n"
    )
