"""Reference server: redeeming replace tokens, callbacks, concurrency and persistence."""

from __future__ import annotations

import hashlib
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from conformance.reference import ReferenceServer, ReferenceSettings
from conformance.spec import VALID_MINUTES
from tests.reference_helpers import (
    PHOTO_ID,
    CallbackReceiver,
    issue,
    photo_state,
    query_of,
    redeem,
    server_fixture,
)

ref = server_fixture(clock_control=True)


def test_success_redirects_with_callback_parameters(ref: ReferenceServer) -> None:
    before = photo_state(ref)
    token = issue(ref, return_url="http://www.example.com/upload/callback?theme=green")["replace_token"]
    content = b"\x00binary video \xff" * 50
    resp = redeem(ref, token, content)
    assert resp.status_code == 301
    location = resp.headers["Location"]
    assert location.startswith("http://www.example.com/upload/callback?theme=green&domain=")
    params = query_of(location)
    names = [k for k, _ in params]
    assert names == ["theme", "domain", "replace_token", "photo_id", "tree_id", "token"]
    got = dict(params)
    assert got["domain"] == ref.base_url.removeprefix("http://")
    assert (got["replace_token"], got["photo_id"]) == (token, PHOTO_ID)

    after = photo_state(ref)
    assert str(after["tree_id"]) == got["tree_id"] != str(before["tree_id"])
    assert after["token"] == got["token"] != before["token"]
    last = after["replacements"][-1]
    assert (last["sha256"], last["size"]) == (hashlib.sha256(content).hexdigest(), len(content))
    assert last["replace_token"] == token
    assert len(resp.headers.get("Location", "")) <= 1500


def test_return_url_without_query_gets_question_mark(ref: ReferenceServer) -> None:
    token = issue(ref, return_url="https://app.example.com/cb")["replace_token"]
    location = redeem(ref, token).headers["Location"]
    assert location.startswith("https://app.example.com/cb?domain=")


def test_non_ascii_return_url_gives_an_ascii_location(ref: ReferenceServer) -> None:
    token = issue(ref, return_url="https://exämple.com/über?q=日本 語#frag")["replace_token"]
    location = redeem(ref, token).headers["Location"]
    assert location.isascii()
    assert location.startswith(
        "https://xn--exmple-cua.com/%C3%BCber?q=%E6%97%A5%E6%9C%AC%20%E8%AA%9E&domain="
    )
    assert location.endswith("#frag")


def test_extra_fields_are_repeated_in_the_callback(ref: ReferenceServer) -> None:
    token = issue(ref, return_url="https://app.example.com/cb?theme=green")["replace_token"]
    extra = [("title", "Mÿ clip & more"), ("tag", "a"), ("tag", "b"), ("token", "spoof")]
    params = query_of(redeem(ref, token, extra=extra).headers["Location"])
    assert params[-3:] == [("title", "Mÿ clip & more"), ("tag", "a"), ("tag", "b")]
    assert [v for k, v in params if k == "token"] != ["spoof"]
    assert sum(1 for k, _ in params if k == "token") == 1


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.form: dict[str, str] = {}
        self.inputs: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.form = a
        elif tag == "input" and a.get("type") == "hidden":
            self.inputs.append((a["name"], a["value"]))


def test_long_callback_becomes_a_form_post(ref: ReferenceServer) -> None:
    return_url = "https://app.example.com/cb?pad=" + "p" * 1600
    token = issue(ref, return_url=return_url)["replace_token"]
    resp = redeem(ref, token, extra=[("note", '"quoted" <b>&\'')])
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/html")
    page = _FormParser()
    page.feed(resp.text)
    assert page.form["method"] == "post"
    assert page.form["action"] == return_url
    names = [k for k, _ in page.inputs]
    assert names == ["domain", "replace_token", "photo_id", "tree_id", "token", "note"]
    assert dict(page.inputs)["note"] == '"quoted" <b>&\''
    assert "<b>" not in resp.text


def test_no_return_url_answers_plain_ok(ref: ReferenceServer) -> None:
    resp = redeem(ref, issue(ref)["replace_token"])
    assert (resp.status_code, resp.text) == (200, "OK")


@pytest.mark.parametrize("url", ["javascript:alert(1)//", "data:text/html,<b>x</b>"])
def test_script_schemes_are_never_followed(ref: ReferenceServer, url: str) -> None:
    resp = redeem(ref, issue(ref, return_url=url)["replace_token"])
    assert (resp.status_code, resp.text) == (200, "OK")
    assert "Location" not in resp.headers


def test_unknown_consumed_tokens_are_plain_errors(ref: ReferenceServer) -> None:
    token = issue(ref, return_url="https://app.example.com/cb")["replace_token"]
    assert redeem(ref, token).status_code == 301
    tree = photo_state(ref)["tree_id"]
    for t in (token, "0" * 40, "nonsense"):
        resp = redeem(ref, t)
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        assert "Location" not in resp.headers and resp.text and "<" not in resp.text
    assert photo_state(ref)["tree_id"] == tree


def test_expired_token_is_refused(ref: ReferenceServer) -> None:
    fields = issue(ref, valid_minutes=str(VALID_MINUTES.low), max_uploads="5")
    resp = requests.post(ref.base_url + "/_test/clock", data={"advance_seconds": str(15 * 60 - 5)}, timeout=5)
    assert resp.status_code == 200 and resp.json()["offset"] >= 15 * 60 - 5
    assert redeem(ref, fields["replace_token"]).text == "OK"
    requests.post(ref.base_url + "/_test/clock", data={"advance_seconds": "10"}, timeout=5)
    tree = photo_state(ref)["tree_id"]
    resp = redeem(ref, fields["replace_token"])
    assert resp.status_code == 200 and "expired" in resp.text
    assert photo_state(ref)["tree_id"] == tree


def test_missing_file_is_an_error_callback_and_keeps_the_use(ref: ReferenceServer) -> None:
    token = issue(ref, return_url="https://app.example.com/cb?theme=green")["replace_token"]
    resp = redeem(ref, token, content=None, extra=[("x", "1")])
    assert resp.status_code == 301
    params = query_of(resp.headers["Location"])
    assert [k for k, _ in params] == ["theme", "domain", "replace_token", "error_message", "x"]
    assert redeem(ref, token).status_code == 301  # the failed upload consumed nothing

    bare = issue(ref)["replace_token"]
    resp = redeem(ref, bare, content=None)
    assert resp.status_code == 200 and resp.text != "OK"
    assert redeem(ref, bare).text == "OK"


def test_background_callback_success_and_error(ref: ReferenceServer) -> None:
    with CallbackReceiver() as receiver:
        return_url = receiver.url + "/cb?theme=green"
        token = issue(ref, return_url=return_url, background_return_p="1", max_uploads="2")["replace_token"]

        resp = redeem(ref, token, content=None)
        assert resp.status_code == 200 and resp.text.startswith("error ")
        assert receiver.event.wait(5)
        assert dict(query_of(receiver.requests[-1][1]))["error_message"]

        resp = redeem(ref, token)
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        word, domain, tree_id, photo_id, photo_token, callback_url = resp.text.split(" ")
        assert (word, domain, photo_id) == ("ok", ref.base_url.removeprefix("http://"), PHOTO_ID)
        method, path = receiver.requests[-1]
        assert method == "GET"
        assert callback_url == receiver.url + path
        got = dict(query_of(path))
        assert got["theme"] == "green"
        assert (got["tree_id"], got["token"], got["replace_token"]) == (tree_id, photo_token, token)
        assert photo_state(ref)["replacements"][-1]["callback_status"] == "http 200"


def test_background_callback_over_the_limit_is_refused(ref: ReferenceServer) -> None:
    token = issue(ref, return_url="http://127.0.0.1:9/cb?pad=" + "p" * 1500, background_return_p="1")
    before = photo_state(ref)["tree_id"]
    resp = redeem(ref, token["replace_token"])
    assert resp.text.startswith("error ")
    assert photo_state(ref)["tree_id"] == before


@pytest.mark.parametrize("max_uploads", [1, 3])
def test_concurrent_redemption_honours_max_uploads(ref: ReferenceServer, max_uploads: int) -> None:
    token = issue(ref, max_uploads=str(max_uploads))["replace_token"]
    threads = 10
    barrier = threading.Barrier(threads)
    results: list[str] = []

    def worker() -> None:
        barrier.wait()
        results.append(redeem(ref, token).text)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(30)
    assert len(results) == threads
    assert results.count("OK") == max_uploads
    history = [r for r in photo_state(ref)["replacements"] if r["replace_token"] == token]
    assert len(history) == max_uploads


def test_test_photo_hook_unknown_id(ref: ReferenceServer) -> None:
    assert requests.get(ref.base_url + "/_test/photo/999999999", timeout=5).status_code == 404


def test_malformed_redeem_requests_get_plain_errors(ref: ReferenceServer) -> None:
    url = ref.base_url + "/api/photo/redeem-replace-token"
    for resp in (
        requests.get(url, timeout=5),
        requests.post(
            url,
            data=b"--x\r\ngarbage",
            headers={"Content-Type": "multipart/form-data; boundary=x"},
            timeout=5,
        ),
        requests.post(url, data=b"{}", headers={"Content-Type": "application/json"}, timeout=5),
        requests.post(url, files={"file": ("a", b"x")}, timeout=5),
    ):
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith("text/plain")


def test_restart_keeps_tokens_photos_credentials_and_clock(tmp_path: Path) -> None:
    db = str(tmp_path / "ref.sqlite3")
    settings = ReferenceSettings(db_path=db, clock_control=True)
    with ReferenceServer(settings) as first:
        config = first.target_config()
        token = issue(first, max_uploads="2")["replace_token"]
        assert redeem(first, token).text == "OK"
        requests.post(first.base_url + "/_test/clock", data={"advance_seconds": "60"}, timeout=5)
        tree = photo_state(first)["tree_id"]
    time.sleep(0.05)
    with ReferenceServer(ReferenceSettings(db_path=db, clock_control=True)) as second:
        assert second.target_config()["credentials"] == config["credentials"]
        assert photo_state(second)["tree_id"] == tree
        assert redeem(second, token).text == "OK"
        assert redeem(second, token).text != "OK"
        assert len(photo_state(second)["replacements"]) == 2
        offset = requests.post(
            second.base_url + "/_test/clock", data={"advance_seconds": "0"}, timeout=5
        ).json()
        assert offset["offset"] == 60
    assert urlsplit(second.base_url).hostname == "127.0.0.1"
    assert Path(db).exists()


# ------------------------------------------------------------------ callback values (encoding), token name
TRICKY = "a&b=c+d %41 50%#top ü"


def test_every_callback_value_arrives_exactly_as_sent(ref: ReferenceServer) -> None:
    """return_url's own (encoded) query and extra fields holding & = + % # space survive the redirect."""
    return_url = "https://app.example.com/cb?state=a%26b%3Dc%2Bd+%2541+50%25%23top+%C3%BC&x=%41"
    token = issue(ref, return_url=return_url)["replace_token"]
    params = query_of(redeem(ref, token, extra=[("note", TRICKY), ("empty", "")]).headers["Location"])
    assert params[:2] == [("state", TRICKY), ("x", "A")]
    assert params[-2:] == [("note", TRICKY), ("empty", "")]


def test_fault_callback_values_not_encoded_breaks_the_values() -> None:
    with ReferenceServer(ReferenceSettings(faults=frozenset({"callback_values_not_encoded"}))) as server:
        return_url = "https://app.example.com/cb?state=" + "a%26b%3Dc"
        token = issue(server, return_url=return_url)["replace_token"]
        location = redeem(server, token, extra=[("note", TRICKY)]).headers["Location"]
    assert location.startswith("https://app.example.com/cb?state=a&b=c&domain=")
    assert ("note", TRICKY) not in query_of(location)


def test_variant_callback_upload_token_name() -> None:
    with ReferenceServer(ReferenceSettings(variant="callback_upload_token_name")) as server:
        token = issue(server, return_url="https://app.example.com/cb")["replace_token"]
        names = [
            k
            for k, _ in query_of(redeem(server, token, extra=[("upload_token", "spoof")]).headers["Location"])
        ]
        error = dict(
            query_of(
                redeem(server, issue(server, return_url="https://x.example/")["replace_token"], None).headers[
                    "Location"
                ]
            )
        )
    assert names == ["domain", "upload_token", "photo_id", "tree_id", "token"]
    assert error["upload_token"] and "replace_token" not in error and error["error_message"]


def test_variant_warning_prefixed_redeem_errors() -> None:
    with ReferenceServer(ReferenceSettings(variant="warning_prefixed_redeem_errors")) as server:
        unknown = redeem(server, "0" * 40)
        token = issue(server)["replace_token"]
        ok, used = redeem(server, token), redeem(server, token)
        background = issue(server, return_url="http://127.0.0.1:9/cb", background_return_p="1")[
            "replace_token"
        ]
        no_file = redeem(server, background, None)
    assert unknown.text == "Warning: Invalid replace token" and used.text.startswith("Warning: ")
    assert ok.text == "OK" and no_file.text.startswith("error ")
