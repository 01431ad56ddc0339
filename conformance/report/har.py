"""Every exchange of a run as HAR 1.2 (``conformance run --har FILE``), the format browser developer
tools, Charles, Fiddler and Schemathesis users open.

One entry per request the run sent: method, URL, headers, body, the response (or the transport
error), timings, and a comment naming the test and the requirements it verifies. Entries are spooled
to a JSON-lines file while the run goes (a 20,000-request run does not sit in memory) and assembled
at the end, redacted exactly as results.json is: value by value with the run's redactor (which by
then knows every signature sent), then a last pass over the text. Bodies longer than the report cap
(:data:`BODY_LIMIT`, the same as results.json's) are cut with a note in the entry's comment.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, urlsplit

from conformance import __version__
from conformance.model.exchange import Exchange
from conformance.transport.redaction import REDACTED, Redactor

BODY_LIMIT = 16384  # characters of a body kept, as in results.json (Exchange.to_dict's default)
CERTIFY_NAME = "exchanges.har"  # the HAR written into the report dir for a certificate bundle


def _iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp or 0, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _pairs(items: Sequence[Sequence[str]]) -> list[dict[str, str]]:
    return [{"name": str(k), "value": str(v)} for k, v in items]


def _header(headers: Sequence[Sequence[str]], name: str) -> str:
    return next((str(v) for k, v in headers if str(k).lower() == name), "")


def har_entry(data: Mapping[str, Any], test: str, requirements: Sequence[str]) -> dict[str, Any]:
    """One HAR entry from an exchange in its results.json form (:meth:`Exchange.to_dict`)."""
    headers = data.get("request_headers") or []
    body = str(data.get("request_body") or "")
    url = str(data.get("url", ""))
    request: dict[str, Any] = {
        "method": data.get("method", ""),
        "url": url,
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": _pairs(headers),
        "queryString": _pairs(parse_qsl(urlsplit(url).query, keep_blank_values=True)),
        "headersSize": -1,
        "bodySize": len(body.encode("utf-8")),
    }
    if body or data.get("method") == "POST":
        request["postData"] = {"mimeType": _header(headers, "content-type"), "text": body}
    if test == "preflight":
        notes = ["preflight: the signed request that checks the config before the suite"]
    else:
        notes = [f"test {test}" + (f" verifying {', '.join(requirements)}" if requirements else "")]
    resp = data.get("response")
    if resp is not None:
        rheaders = resp.get("headers") or []
        content: dict[str, Any] = {
            "size": int(resp.get("body_bytes") or 0),
            "mimeType": _header(rheaders, "content-type"),
            "text": resp.get("body", ""),
        }
        if resp.get("body_truncated_in_report") or resp.get("body_truncated_by_cap"):
            note = f"body cut: the first {len(content['text'])} characters of {content['size']} bytes"
            if resp.get("body_truncated_by_cap"):
                note += " (the target sent more than [limits] max_body_bytes; the rest was never read)"
            content["comment"] = note
            notes.append(note)
        response: dict[str, Any] = {
            "status": int(resp.get("status") or 0),
            "statusText": resp.get("reason", ""),
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": _pairs(rheaders),
            "content": content,
            "redirectURL": _header(rheaders, "location"),
            "headersSize": -1,
            "bodySize": content["size"],
        }
        wait = float(resp.get("elapsed_ms") or 0.0)
    else:  # no answer: HAR's convention for a failed request is status 0 and the error alongside
        error = str(data.get("error") or "no response")
        notes.append(f"no response: {error}")
        response = {
            "status": 0,
            "statusText": "",
            "httpVersion": "",
            "cookies": [],
            "headers": [],
            "content": {"size": 0, "mimeType": "", "text": ""},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
            "_error": error,
            "_errorKind": data.get("error_kind") or "",
        }
        wait = max(0.0, (float(data.get("finished_at") or 0) - float(data.get("started_at") or 0)) * 1000)
    if data.get("retried"):
        notes.append("a retry of a request that failed to connect")
    return {
        "startedDateTime": _iso(float(data.get("started_at") or 0)),
        "time": round(wait, 1),
        "request": request,
        "response": response,
        "cache": {},
        # the client measures the whole exchange only: all of it is "wait", the phases are unknown (-1)
        "timings": {
            "blocked": -1,
            "dns": -1,
            "connect": -1,
            "ssl": -1,
            "send": 0,
            "wait": round(wait, 1),
            "receive": 0,
        },
        "comment": "; ".join(notes),
        "_conformance": {"exchange": data.get("id"), "test": test, "requirements": list(requirements)},
    }


class HarRecorder:
    """Collects the run's exchanges (a :class:`TargetClient` observer) into a spool file.

    ``current`` names what is sending (the test's node ID and requirements, or the preflight); it
    is set by the suite's pytest hook; a request sent ahead of its test names that test
    (:meth:`sending_for`). Thread-safe: ``send_many`` reports from worker threads.
    ``session_headers`` are sent on every request but never recorded in an exchange (``--header``
    values): each entry lists them by name, the value redacted.
    """

    def __init__(self, spool: Path, session_headers: Sequence[str] = ()) -> None:
        self.spool = spool
        self.session_headers = [[name, REDACTED] for name in session_headers]
        self.current: tuple[str, tuple[str, ...]] = ("preflight", ())
        self._sender = threading.local()  # a background sender's own test (requests sent ahead)
        self.count = 0
        self._lock = threading.Lock()
        spool.parent.mkdir(parents=True, exist_ok=True)
        self._stream: IO[str] | None = spool.open("w", encoding="utf-8")

    @contextmanager
    def sending_for(self, test: str, requirements: Sequence[str]) -> Iterator[None]:
        """Exchanges this thread sends meanwhile belong to ``test``, whichever test is running."""
        self._sender.current = (test, tuple(requirements))
        try:
            yield
        finally:
            del self._sender.current

    def __call__(self, exchange: Exchange) -> None:
        test, requirements = getattr(self._sender, "current", None) or self.current
        data = exchange.to_dict(BODY_LIMIT)
        data["request_headers"] = [*data["request_headers"], *self.session_headers]
        line = json.dumps(har_entry(data, test, requirements), ensure_ascii=False)
        with self._lock:
            if self._stream is not None:
                self._stream.write(line + "\n")
                self.count += 1

    def entries(self) -> Iterator[dict[str, Any]]:
        with self._lock:
            if self._stream is not None:
                self._stream.close()
                self._stream = None
        with self.spool.open(encoding="utf-8") as stream:
            for line in stream:
                if line.strip():
                    yield json.loads(line)

    def write(self, paths: Sequence[Path], redactor: Redactor | None) -> None:
        """Write the HAR to each path (redacted as results.json is) and remove the spool."""
        text = har_text(self.entries(), redactor)
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        self.spool.unlink(missing_ok=True)


def har_text(entries: Iterator[dict[str, Any]], redactor: Redactor | None) -> str:
    """The HAR 1.2 document of ``entries``: each entry scrubbed value by value, then the whole text."""
    clean = [redactor.scrub_value(e) if redactor is not None else e for e in entries]
    document = {
        "log": {
            "version": "1.2",
            "creator": {"name": "conformance", "version": __version__},
            "pages": [],
            "entries": clean,
            "comment": "every request the conformance run sent, secrets and signatures redacted",
        }
    }
    text = json.dumps(document, indent=1, ensure_ascii=False)
    if redactor is not None:
        last = redactor.scrub_document(text, REDACTED)
        if last != text:
            try:
                json.loads(last)
                text = last
            except ValueError:
                pass
    return text
