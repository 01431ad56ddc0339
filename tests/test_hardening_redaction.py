"""The redactor's contract, value by value (the end-to-end runs are in test_robustness_secrets.py).

Redaction never touches the structure of what it is given, leaves a short secret's look-alikes
inside words alone, and never changes the evidence checks judge for a short secret.
"""

from __future__ import annotations

import base64
import json

from conformance.transport.redaction import BODY_REDACTED, REDACTED, Redactor

SIG = "tR3+xK9/abcdefghijklmnopqrs="
LONG = "CSECRETWRITEzq1234abcdXy"


def test_structure_survives_a_one_character_secret() -> None:
    r = Redactor(["s", LONG])
    results = {"partial": False, "ok": True, "tests": [{"message": "status s was false", "n": 3}]}
    clean = r.scrub_value(results)
    text = json.dumps(clean)
    assert json.loads(text)["partial"] is False and "false" in text
    assert clean["tests"][0]["message"] == f"status {REDACTED} was false"
    # Evidence the checks judge keeps a short secret's look-alikes: a correct answer stays correct.
    body = b'<response status="ok"><s>s</s></response>'
    assert r.scrub_bytes(body) == body


def test_every_encoding_of_a_signature_or_secret_is_removed_and_nothing_else() -> None:
    r = Redactor([LONG])
    r.add_signature(SIG)
    for value in (SIG, LONG):
        raw = value.encode()
        half = len(value) // 2
        for form in (
            base64.b64encode(raw).decode(),
            base64.urlsafe_b64encode(b"ab" + raw).decode(),
            raw.hex(),
            raw.hex().upper(),
            value[::-1],
            value[:half],
            value[half:],
            json.dumps(base64.b64encode(raw).decode()),
            "".join(f"&#{ord(c)};" for c in value[::-1]),
        ):
            out = r.scrub(f"before {form} after", BODY_REDACTED)
            assert out.startswith("before ") and out.endswith(" after"), out
            assert BODY_REDACTED in out and r._known_in(out) == set(), (form, out)
            assert value[:half] not in out and value[half:] not in out
    assert r.scrub("nothing secret here: abcdefgh 12345678") == "nothing secret here: abcdefgh 12345678"
