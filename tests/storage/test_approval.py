"""Approval: statuses and transitions, bulk review, the review queue, primary images,
the public image route, and the migration upgrading existing images."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from local.db import MIGRATIONS, SqliteDatabase


async def _images(client, n=2, **body):
    result = (await client.post("/v1/generations", json={"prompt": "a lighthouse", "n": n, **body})).json()
    return [i["id"] for i in result["images"]], result


async def test_new_images_take_the_configured_default(make_services, client_for):
    ids, result = await _images(client_for(make_services()), n=1)
    assert result["images"][0]["approval_status"] == "pending"
    ids, result = await _images(client_for(make_services({"APPROVAL_DEFAULT": "approved"})), n=1)
    assert result["images"][0]["approval_status"] == "approved"


async def test_approve_reject_one_and_many_with_reviewer_reason_and_time(make_services, client_for):
    client = client_for(make_services())
    ids, _ = await _images(client, n=3)
    one = await client.post(f"/v1/images/{ids[0]}/approve", json={"reviewer": "ed", "reason": "on model"})
    assert one.status_code == 200, one.text
    assert (one.json()["status"], one.json()["reviewer"], one.json()["reason"]) == ("approved", "ed", "on model")
    assert one.json()["reviewed_at"].endswith("Z")

    no_reason = await client.post("/v1/images/reject", json={"image_ids": ids[1:]})
    assert no_reason.status_code == 422 and no_reason.json()["error"]["details"]["field"] == "reason"
    many = await client.post("/v1/images/reject", json={"image_ids": ids[1:], "reviewer": "ed", "reason": "wrong era"})
    assert [i["status"] for i in many.json()["images"]] == ["rejected", "rejected"]

    unknown = await client.post("/v1/images/approve", json={"image_ids": [ids[1], "img_nope"]})
    assert unknown.status_code == 404 and unknown.json()["error"]["details"]["missing"] == ["img_nope"]
    assert (await client.get("/v1/images", params={"status": "rejected"})).json()["items"][0]["status"] == "rejected"  # unchanged

    listed = {s: [i["id"] for i in (await client.get("/v1/images", params={"status": s})).json()["items"]]
              for s in ("pending", "approved", "rejected")}
    assert listed == {"pending": [], "approved": [ids[0]], "rejected": sorted(ids[1:], reverse=True)}
    # a decision can be revised
    back = await client.post(f"/v1/images/{ids[1]}/approve", json={"reviewer": "lead"})
    assert back.json()["status"] == "approved" and back.json()["reviewer"] == "lead"


async def test_rejected_images_are_not_served_publicly(make_services, client_for):
    client = client_for(make_services())
    ids, result = await _images(client, n=2)
    assert (await client.get(result["images"][0]["url"])).status_code == 200  # pending is served
    await client.post(f"/v1/images/{ids[0]}/reject", json={"reason": "off model"})
    gone = await client.get(result["images"][0]["url"])
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
    assert (await client.get(result["images"][1]["url"])).status_code == 200


async def test_only_approved_images_can_be_primary_and_rejection_clears_it(make_services, client_for):
    client = client_for(make_services())
    ids, _ = await _images(client, n=2)
    url = "/v1/entities/character/c-7/primary/portrait"
    pending = await client.put(url, json={"image_id": ids[0]})
    assert pending.status_code == 409 and pending.json()["error"]["details"]["approval_status"] == "pending"
    await client.post("/v1/images/approve", json={"image_ids": ids})
    assert (await client.put(url, json={"image_id": ids[0], "set_by": "ed"})).status_code == 200
    assert (await client.put("/v1/entities/character/c-7/primary/full-body", json={"image_id": ids[1]})).status_code == 200
    primary = (await client.get("/v1/entities/character/c-7/primary")).json()["primary"]
    assert {role: p["image_id"] for role, p in primary.items()} == {"portrait": ids[0], "full-body": ids[1]}
    await client.post(f"/v1/images/{ids[0]}/reject", json={"reason": "continuity"})
    primary = (await client.get("/v1/entities/character/c-7/primary")).json()["primary"]
    assert list(primary) == ["full-body"]


def test_migration_upgrades_existing_images_and_requests(tmp_path: Path):
    path = tmp_path / "old.db"
    db = SqliteDatabase(path)
    db.apply_migrations(_only_first(tmp_path))
    now = "2026-01-01T00:00:00.000Z"
    db._conn.execute("INSERT INTO generation_requests (id, caller, kind, status, prompt, n, request_hash, created_at,"
                     " updated_at, completed_at) VALUES ('gen_1', 'a', 'generate', 'succeeded', 'old prompt', 1, 'h', ?, ?, ?)",
                     (now, now, now))
    db._conn.execute("INSERT INTO images (id, request_id, idx, r2_key, content_type, byte_size, sha256, provider, model,"
                     " created_at) VALUES ('img_1', 'gen_1', 0, 'k', 'image/png', 1, ?, 'p', 'm', ?)", ("0" * 64, now))
    assert "0002_approval_context_batches.sql" in db.apply_migrations()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT approval_status FROM images").fetchall() == [("approved",)]
    assert conn.execute("SELECT prompt, sent_prompt, context FROM generation_requests").fetchall() == [("old prompt", "old prompt", None)]


def _only_first(tmp_path: Path) -> Path:
    folder = tmp_path / "m1"
    folder.mkdir()
    (folder / "0001_initial.sql").write_text((MIGRATIONS / "0001_initial.sql").read_text())
    return folder
