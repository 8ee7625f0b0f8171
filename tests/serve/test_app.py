"""The JSON API via FastAPI's test client: session life cycle, limits, bad input, the log."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from textrec.logs import check_log
from textrec.logs.reader import list_shards, read_experience
from textrec.serve.app import ServeConfig, Service, create_app


@pytest.fixture()
def service(tmp_path, toy_catalog, slot_picker):
    from textrec.logs.append import SessionLog

    log = SessionLog(tmp_path / "log", toy_catalog)
    return Service(slot_picker, log, ServeConfig(max_sessions=3), policy_name="slot-filler")


@pytest.fixture()
def client(service):
    with TestClient(create_app(service)) as c:
        yield c


def _logged(service):
    root = service.log.root
    return [read_experience(p) for p in list_shards(root)] if (root / "experience").is_dir() else []


def test_create_feedback_next_end_and_the_log(client, service, toy_catalog):
    r = client.post("/api/sessions", json={"text": "sandals"})
    assert r.status_code == 201
    s = r.json()
    sid, first = s["session_id"], s["item"]["item_id"]
    assert s["turn"] == 1 and s["opening"] == "sandals" and not s["finished"]
    assert client.get(f"/api/sessions/{sid}/item").json()["item_id"] == first
    r = client.post(f"/api/sessions/{sid}/feedback", json={"text": "for women"})
    assert r.status_code == 200
    second = r.json()["item"]["item_id"]
    assert second != first and r.json()["turn"] == 2
    assert r.json()["history"][0] == {"item": s["item"], "feedback": "for women"}
    assert client.get(f"/api/sessions/{sid}/item").json()["item_id"] == second
    r = client.post(f"/api/sessions/{sid}/end", json={"found": True})
    assert r.status_code == 200 and r.json()["finished"] and r.json()["found"]
    assert client.get(f"/api/sessions/{sid}").status_code == 404  # ended sessions are gone
    (rows,) = _logged(service)
    assert rows.session_id[0] == r.json()["log_session_id"] != sid  # the secret is not logged
    assert rows.item_id.tolist() == ["", first, second]
    assert rows.feedback.tolist() == ["sandals", "for women", ""]
    assert rows.terminated.tolist() == [False, False, True]
    assert check_log(service.log.root, toy_catalog).ok


def test_saying_thats_it_ends_the_session_as_found(client, service):
    sid = client.post("/api/sessions", json={}).json()["session_id"]
    r = client.post(f"/api/sessions/{sid}/feedback", json={"text": "That's it!"})
    assert r.json()["finished"] and r.json()["found"]
    (rows,) = _logged(service)
    assert rows.terminated.tolist() == [True]


def test_unknown_and_malformed_session_ids_are_404(client):
    for sid in ["nope", "A" * 32, "%2e%2e%2fetc", "x" * 5000]:
        for method, path, body in [
            ("GET", f"/api/sessions/{sid}", None),
            ("GET", f"/api/sessions/{sid}/item", None),
            ("POST", f"/api/sessions/{sid}/feedback", {"text": "boots"}),
            ("POST", f"/api/sessions/{sid}/end", {"found": True}),
        ]:
            r = client.request(method, path, json=body)
            assert r.status_code == 404, (method, path, r.text)
            if "%" not in sid:  # an encoded "/" matches no route at all: a plain 404
                assert "no such session" in r.json()["detail"]


def test_expired_session_is_404_and_logged_as_abandoned(tmp_path, toy_catalog, slot_picker):
    from textrec.logs.append import SessionLog

    service = Service(
        slot_picker, SessionLog(tmp_path / "log", toy_catalog), ServeConfig(idle_seconds=60)
    )
    clock = [0.0]
    service.store._clock = lambda: clock[0]
    with TestClient(create_app(service)) as client:
        sid = client.post("/api/sessions", json={"text": "boots"}).json()["session_id"]
        clock[0] = 61.0
        assert client.get(f"/api/sessions/{sid}").status_code == 404
        service.abandon(service.store.expire())
    (rows,) = _logged(service)
    assert rows.truncated[-1] and not rows.terminated.any()


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"text": "x" * 301}, "at most 300"),
        ({"text": ""}, "empty"),
        ({"text": "   "}, "empty"),
        ({"text": "in black\x00"}, "control"),
        ({"text": "\u202egnp.exe"}, "control"),
        ({"text": 12}, "string"),
        ({"text": ["boots"]}, "string"),
        ({}, "text"),
        ({"text": "boots", "extra": "<script>"}, None),  # extra fields are ignored
    ],
)
def test_bad_feedback_gets_a_clear_4xx_and_changes_nothing(client, service, body, why):
    sid = client.post("/api/sessions", json={}).json()["session_id"]
    r = client.post(f"/api/sessions/{sid}/feedback", json=body)
    if why is None:
        assert r.status_code == 200
        return
    assert r.status_code == 422, r.text
    assert why in r.json()["detail"]
    s = client.get(f"/api/sessions/{sid}").json()
    assert s["turn"] == 1 and s["history"][0]["feedback"] == ""
    assert _logged(service) == []


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b"\xff\xfe\x00\x01binary", {"Content-Type": "application/json"}, 422),
        (b"\xff\xfe\x00\x01binary", {"Content-Type": "application/octet-stream"}, 422),
        (b'{"text": "' + b"a" * 10_000 + b'"}', {"Content-Type": "application/json"}, 413),
        (b"not json", {"Content-Type": "application/json"}, 422),
        (b'{"text": "\\ud800"}', {"Content-Type": "application/json"}, 422),
    ],
)
def test_binary_oversized_and_broken_bodies(client, content, headers, status):
    sid = client.post("/api/sessions", json={}).json()["session_id"]
    r = client.post(f"/api/sessions/{sid}/feedback", content=content, headers=headers)
    assert r.status_code == status, r.text
    assert r.json()["detail"]


def test_streamed_body_over_the_limit_is_413(client):
    sid = client.post("/api/sessions", json={}).json()["session_id"]

    def chunks():
        for _ in range(10):
            yield b" " * 1000

    r = client.post(
        f"/api/sessions/{sid}/feedback",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413


def test_hostile_text_is_stored_as_text(client):
    sid = client.post("/api/sessions", json={}).json()["session_id"]
    hostile = "<img src=x onerror=alert(1)> '; DROP TABLE shoes; -- [bold]x[/bold]"
    r = client.post(f"/api/sessions/{sid}/feedback", json={"text": hostile})
    assert r.status_code == 200
    assert r.json()["history"][0]["feedback"] == hostile
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["x-content-type-options"] == "nosniff"


def test_eviction_at_the_bound_never_fails_and_logs_the_evicted(client, service):
    ids = []
    for i in range(5):
        r = client.post("/api/sessions", json={"text": f"boots {i}"})
        assert r.status_code == 201
        ids.append(r.json()["session_id"])
    assert client.get("/api/health").json()["open_sessions"] == 3
    assert [client.get(f"/api/sessions/{s}").status_code for s in ids] == [404, 404, 200, 200, 200]
    evicted = _logged(service)
    assert [r.feedback[0] for r in evicted] == ["boots 0", "boots 1"]
    assert all(r.truncated[-1] for r in evicted)


def test_images_only_by_catalog_item_id(client, toy_catalog):
    item = client.post("/api/sessions", json={}).json()["item"]
    assert item["has_picture"] is False and item["picture"] == "none"
    r = client.get(item["image_url"])  # the toy catalog has no pictures: said, not invented
    assert r.status_code == 404 and "has no pictures" in r.json()["detail"]
    for bad in ["nope", "..%2F..%2Fetc%2Fpasswd", "%00", "toy-9999"]:
        r = client.get(f"/api/items/{bad}/image")
        assert r.status_code == 404, bad
    assert client.get("/api/items/../../etc/passwd/image").status_code == 404


def test_page_and_api_docs_are_served(client):
    r = client.get("/")
    assert r.status_code == 200 and "Find a shoe" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert client.get("/static/app.js").status_code == 200
    for icon in ("/favicon.ico", "/static/favicon.svg"):
        r = client.get(icon)
        assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert client.get("/static/style.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/..%2Fapp.py").status_code == 404
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/api/sessions",
        "/api/sessions/{session_id}/feedback",
        "/api/sessions/{session_id}/end",
        "/api/sessions/{session_id}/item",
    } <= set(paths)


def test_open_sessions_are_logged_as_abandoned_at_shutdown(service):
    with TestClient(create_app(service)) as client:
        sid = client.post("/api/sessions", json={"text": "sandals"}).json()["session_id"]
        client.post(f"/api/sessions/{sid}/feedback", json={"text": "for men"})
    (rows,) = _logged(service)
    assert rows.feedback.tolist() == ["sandals", "for men", ""] and rows.truncated[-1]


def test_a_log_that_cannot_be_written_is_a_503_not_a_crash(client, service, monkeypatch):
    def full(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(service.log, "append_many", full)
    sid = client.post("/api/sessions", json={}).json()["session_id"]
    r = client.post(f"/api/sessions/{sid}/end", json={"found": True})
    assert r.status_code == 503 and "could not be logged" in r.json()["detail"]
    assert client.get("/api/health").status_code == 200


def test_every_answer_says_what_was_understood_and_what_stands(client):
    s = client.post("/api/sessions", json={"text": "sandals for women"}).json()
    assert s["reply"]
    assert s["understood"]["act"] == "describe"
    kept = {(r["attribute"], r["value"], r["negated"]) for r in s["understood"]["kept"]}
    assert kept == {("category", "Sandals", False), ("gender", "Women", False)}
    assert {r["value_label"] for r in s["standing"]} == {"sandals", "women"}
    assert s["standing"][0]["attribute_label"] == "category"
    blank = client.post("/api/sessions", json={}).json()
    assert blank["understood"] is None and blank["standing"] == [] and blank["reply"]


def test_show_puts_an_earlier_item_back_on_show(client, service):
    s = client.post("/api/sessions", json={"text": "boots"}).json()
    sid, first = s["session_id"], s["item"]["item_id"]
    second = client.post(f"/api/sessions/{sid}/feedback", json={"text": "no boots"}).json()
    assert second["item"]["item_id"] != first
    r = client.post(f"/api/sessions/{sid}/show", json={"item_id": first})
    assert r.status_code == 200 and r.json()["item"]["item_id"] == first
    assert r.json()["reply"]
    bad = client.post(f"/api/sessions/{sid}/show", json={"item_id": "never-shown"})
    assert bad.status_code == 422 and "was not shown" in bad.json()["detail"]
    r = client.post(f"/api/sessions/{sid}/end", json={"found": True})
    (rows,) = _logged(service)
    assert rows.item_id.tolist()[-1] == first  # the shoe accepted is the one re-shown


def test_items_have_a_title_and_values_in_words(client):
    item = client.post("/api/sessions", json={}).json()["item"]
    assert item["title"] and item["title"][0].isupper()
    assert set(item["labels"]) == set(item["attributes"])
    assert all(";" not in v for v in item["labels"].values())


def test_the_catalog_route_names_attributes_and_hints(client, toy_catalog):
    c = client.get("/api/catalog").json()
    assert c["n_items"] == toy_catalog.n_items
    assert [a["name"] for a in c["attributes"]] == list(toy_catalog.schema.names)
    assert c["describe_hint"].startswith("e.g. ") and c["feedback_hint"].startswith("e.g. ")
    assert "heel" not in c["feedback_hint"]  # the toy catalog has no heel height
