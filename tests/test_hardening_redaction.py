"""The redactor's contract, value by value (the end-to-end runs are in test_robustness_secrets.py).

Redaction never touches the structure of what it is given, leaves a short secret's look-alikes
inside words alone, and never changes the evidence checks judge for a short secret.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

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


def test_the_authorization_header_echoed_base64_or_hex_encoded_reveals_nothing() -> None:
    """Inside the header the signature is percent-encoded (and PLAINTEXT's secrets twice): a target
    echoing the whole header base64- or hex-encoded shows the bytes of *that* text."""
    r = Redactor([LONG])
    r.add_signature(SIG)
    plaintext = f"{LONG}&{LONG[::-1]}"  # a PLAINTEXT signature: the secrets themselves
    r.add_signature(plaintext)
    header = (
        'OAuth oauth_consumer_key="ck", oauth_nonce="12345", '
        f'oauth_signature="{quote(SIG, safe="~")}", oauth_signature_method="HMAC-SHA1", '
        f'oauth_other="{quote(quote(plaintext, safe="~"), safe="~")}"'
    ).encode()
    percent_forms = {quote(v, safe="~") for v in (SIG, plaintext)} | {
        quote(quote(plaintext, safe="~"), safe="~")
    }
    for prefix in (b"", b"a", b"ab"):  # every byte alignment inside a longer encoded text
        for encoded in (
            base64.b64encode(prefix + header).decode(),
            base64.urlsafe_b64encode(prefix + header).decode(),
            (prefix + header).hex(),
            (prefix + header).hex().upper(),
        ):
            out = r.scrub(f"echo: {encoded} end", BODY_REDACTED)
            assert out.startswith("echo: ") and out.endswith(" end") and BODY_REDACTED in out, out
            for form in percent_forms:
                raw = form.encode()
                assert raw.hex() not in out.lower(), (form, out)
                for align in range(3):
                    core = base64.b64encode(b"\0" * align + raw).decode()
                    core = core[-(-8 * align // 6) : (8 * (align + len(raw))) // 6]
                    assert core not in out and core.replace("+", "-").replace("/", "_") not in out
