"""D1 persistence over the Database port: requests, images, attempts, links.

Every write that must be all-or-nothing (a success: its images, links, usage
row and the request's terminal state) goes in one `batch`, which D1 runs
atomically."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ..clock import iso, utc_day
from ..ids import new_id
from ..ports import Clock, Database
from . import references as reference_rows

TERMINAL = ("succeeded", "failed", "refused")
# Appended to an INSERT ... SELECT: the row is written only while its request is open.
_OPEN_GUARD = " WHERE EXISTS (SELECT 1 FROM generation_requests WHERE id = ? AND status IN ('pending', 'running'))"


def _values(count: int, guard: str) -> str:
    """`VALUES (?, ...)`, or with a guard the same row as `SELECT ?, ... WHERE ...`."""
    marks = ", ".join("?" * count)
    return f"SELECT {marks}{guard}" if guard else f"VALUES ({marks})"


@dataclass(frozen=True)
class ImageRow:
    id: str
    request_id: str
    idx: int
    r2_key: str
    content_type: str
    byte_size: int
    sha256: str
    width: int | None
    height: int | None
    provider: str
    model: str


@dataclass(frozen=True)
class Attempt:
    request_id: str
    provider: str
    model: str
    attempt: int
    outcome: str  # succeeded | failed | refused
    images: int = 0
    filtered: int = 0
    cost_micros: int = 0
    usage: dict[str, Any] | None = None
    latency_ms: int | None = None
    error_code: str | None = None


class Store:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        # What this Store wrote for the requests it created, in `get_request`'s shape: a
        # generation builds its result from it instead of reading back what it just wrote.
        self._written: dict[str, dict[str, Any]] = {}

    def _now(self) -> str:
        return iso(self.clock.now())

    async def create_request(
        self,
        request_id: str,
        *,
        caller: str,
        kind: str,
        prompt: str,
        params: dict[str, Any],
        requested_provider: str | None,
        n: int,
        links: list[dict[str, str]],
        idempotency_key: str | None = None,
        request_hash: str,
        api_key_id: str | None = None,
        context: dict[str, Any] | None = None,
        sent_prompt: str | None = None,
        references: list[dict[str, Any]] | None = None,
    ) -> bool:
        """Insert the `pending` row (with the narrative context used, the prompt the provider
        is sent and the reference images it is sent, in one batch); False when the caller's
        idempotency key is already taken."""
        now = self._now()
        insert = (
            "INSERT INTO generation_requests (id, caller, kind, status, prompt, params, requested_provider, n, links,"
            " idempotency_key, request_hash, created_at, updated_at, api_key_id, context, sent_prompt)"
            " VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (caller, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING",
            (request_id, caller, kind, prompt, json.dumps(params), requested_provider, n, json.dumps(links),
             idempotency_key, request_hash, now, now, api_key_id,
             json.dumps(context, sort_keys=True) if context is not None else None, sent_prompt or prompt),
        )
        if references:
            await self.db.batch([insert, *reference_rows.insert_statements(request_id, caller, references, now)])
            changed = int(await self.request_exists(request_id))  # a batch reports no row counts
        else:
            changed = await self.db.run(*insert)
        if changed > 0:
            self._written[request_id] = {
                "id": request_id, "caller": caller, "kind": kind, "status": "pending", "prompt": prompt,
                "params": params, "requested_provider": requested_provider, "n": n, "links": links,
                "idempotency_key": idempotency_key, "request_hash": request_hash, "created_at": now, "updated_at": now,
                "api_key_id": api_key_id, "context": json.dumps(context, sort_keys=True) if context is not None else None,
                "sent_prompt": sent_prompt or prompt, "provider": None, "model": None, "size": None, "quality": None,
                "estimated_cost_micros": None, "actual_cost_micros": None, "warnings": [], "error_code": None,
                "error_message": None, "completed_at": None, "images": [], "attempts": [],
                "references": list(references or []),
            }
        return changed > 0

    async def request_exists(self, request_id: str) -> bool:
        """Whether the request's row is in D1 (an insert whose answer was lost may have landed)."""
        return await self.db.first("SELECT 1 AS found FROM generation_requests WHERE id = ?", (request_id,)) is not None

    async def find_by_idempotency_key(self, caller: str, key: str) -> dict[str, Any] | None:
        row = await self.db.first(
            "SELECT id, status, request_hash, error_code FROM generation_requests WHERE caller = ? AND idempotency_key = ?",
            (caller, key),
        )
        return row

    async def mark_running(
        self, request_id: str, *, provider: str, model: str, size: str, quality: str | None, estimate_micros: int, warnings: list[str]
    ) -> None:
        await self.db.run(
            "UPDATE generation_requests SET status = 'running', provider = ?, model = ?, size = ?, quality = ?,"
            " estimated_cost_micros = ?, warnings = ?, updated_at = ? WHERE id = ? AND status IN ('pending', 'running')",
            (provider, model, size, quality, estimate_micros, json.dumps(warnings), self._now(), request_id),
        )
        self._note(request_id, status="running", provider=provider, model=model, size=size, quality=quality,
                   estimated_cost_micros=estimate_micros, warnings=list(warnings))

    def _note(self, request_id: str, **fields: Any) -> None:
        row = self._written.get(request_id)
        if row is not None:
            row.update(fields)

    def _note_attempt(self, a: Attempt) -> None:
        row = self._written.get(a.request_id)
        if row is not None:
            row["attempts"].append({"provider": a.provider, "model": a.model, "attempt": a.attempt, "outcome": a.outcome,
                                    "error_code": a.error_code, "latency_ms": a.latency_ms, "cost_micros": a.cost_micros})

    def forget(self, request_id: str) -> None:
        """Read the request from D1 from now on (a write landed whose answer was lost)."""
        self._written.pop(request_id, None)

    def written(self, request_id: str) -> dict[str, Any] | None:
        """The request as this Store wrote it (same shape as `get_request`), if it created it."""
        return self._written.get(request_id)

    def _attempt_sql(self, a: Attempt, guard: str = "", when_open: tuple[Any, ...] = ()) -> tuple[str, tuple[Any, ...]]:
        now = self.clock.now()
        return (
            "INSERT INTO usage_events (id, request_id, day, provider, model, attempt, outcome, images, filtered,"
            " cost_micros, usage, latency_ms, error_code, created_at) " + _values(14, guard),
            (
                new_id("use", now), a.request_id, utc_day(now), a.provider, a.model, a.attempt, a.outcome, a.images,
                a.filtered, a.cost_micros, json.dumps(a.usage or {}), a.latency_ms, a.error_code, iso(now), *when_open,
            ),
        )

    async def record_attempt(self, attempt: Attempt) -> None:
        await self.db.run(*self._attempt_sql(attempt))
        self._note_attempt(attempt)

    async def succeed(
        self,
        request_id: str,
        *,
        images: list[ImageRow],
        attempt: Attempt,
        provider: str,
        model: str,
        size: str | None,
        actual_micros: int,
        warnings: list[str],
        links: list[dict[str, str]],
        approval_status: str = "pending",
        only_if_open: bool = False,
    ) -> None:
        """Images, links, the usage row and the terminal state: one atomic batch. With
        `only_if_open` (the cron finishing a request: maintenance.py), every statement is a
        no-op unless the request is still pending/running when the batch runs."""
        now = self._now()
        guard = _OPEN_GUARD if only_if_open else ""
        when_open = (request_id,) if only_if_open else ()
        statements: list[tuple[str, tuple[Any, ...]]] = [
            (
                "INSERT INTO images (id, request_id, idx, r2_key, content_type, byte_size, sha256, width, height,"
                " provider, model, created_at, approval_status) " + _values(13, guard),
                (i.id, i.request_id, i.idx, i.r2_key, i.content_type, i.byte_size, i.sha256, i.width, i.height,
                 i.provider, i.model, now, approval_status, *when_open),
            )
            for i in images
        ]
        statements += [
            (   # an entity of the request's own caller (an entity is its caller's: migration 0012)
                "INSERT OR IGNORE INTO entity_links (caller, entity_type, entity_id, image_id, role, created_at)"
                " SELECT caller, ?, ?, ?, ?, ? FROM generation_requests WHERE id = ?"
                + (" AND status IN ('pending', 'running')" if only_if_open else ""),
                (link["entity_type"], link["entity_id"], image.id, link.get("role", "image"), now, request_id),
            )
            for link in links
            for image in images
        ]
        statements.append(self._attempt_sql(attempt, guard, when_open))
        statements.append(
            (
                "UPDATE generation_requests SET status = 'succeeded', provider = ?, model = ?, size = COALESCE(?, size),"
                " actual_cost_micros = ?, warnings = ?, error_code = NULL, error_message = NULL, updated_at = ?,"
                " completed_at = ? WHERE id = ?" + (" AND status IN ('pending', 'running')" if only_if_open else ""),
                (provider, model, size, actual_micros, json.dumps(warnings), now, now, request_id),
            )
        )
        await self.db.batch(statements)
        self._note_attempt(attempt)
        row = self._written.get(request_id)
        if row is not None:
            row.update(status="succeeded", provider=provider, model=model, size=size or row["size"],
                       actual_cost_micros=actual_micros, warnings=list(warnings), updated_at=now, completed_at=now,
                       images=[{**vars(i), "created_at": now, "approval_status": approval_status} for i in images])

    async def finish_unsuccessfully(
        self, request_id: str, *, status: str, error: dict[str, Any], actual_micros: int = 0, warnings: list[str] | None = None
    ) -> bool:
        """Terminal `failed`/`refused` with the error; never overwrites a terminal row."""
        assert status in ("failed", "refused")
        now = self._now()
        changed = await self.db.run(
            "UPDATE generation_requests SET status = ?, error_code = ?, error_message = ?, actual_cost_micros = ?,"
            " warnings = COALESCE(?, warnings), updated_at = ?, completed_at = ?"
            " WHERE id = ? AND status IN ('pending', 'running')",
            (
                status, error["code"], error.get("message", "")[:2000], actual_micros,
                json.dumps(warnings) if warnings is not None else None, now, now, request_id,
            ),
        )
        return changed > 0

    # --- reading ---------------------------------------------------------------

    async def get_request(self, request_id: str) -> dict[str, Any] | None:
        rows = await self._with_details(
            await self.db.all("SELECT * FROM generation_requests WHERE id = ?", (request_id,))
        )
        return rows[0] if rows else None

    async def list_requests(self, caller: str | None, before: str | None, limit: int) -> list[dict[str, Any]]:
        """Newest first; `before` is an id from the previous page (ids sort by time)."""
        where, params = [], []
        if caller is not None:
            where.append("caller = ?")
            params.append(caller)
        if before is not None:
            where.append("id < ?")
            params.append(before)
        sql = "SELECT * FROM generation_requests" + (" WHERE " + " AND ".join(where) if where else "")
        return await self._with_details(await self.db.all(sql + " ORDER BY id DESC LIMIT ?", (*params, limit)))

    async def query_requests(self, sql: str, params: list[Any] | tuple[Any, ...]) -> list[dict[str, Any]]:
        """Request rows from a query built in storage (listing.list_query), with their details."""
        return await self._with_details(await self.db.all(sql, params))

    async def free_idempotency_key(self, old_id: str, new_id: str, caller: str, key: str) -> bool:
        """Move the key off a failed request (recording which request retried it); False when
        another retry got there first."""
        changed = await self.db.run(
            "UPDATE generation_requests SET idempotency_key = NULL, params = json_set(params, '$.retried_by', ?)"
            " WHERE id = ? AND caller = ? AND idempotency_key = ? AND status IN ('failed', 'refused')",
            (new_id, old_id, caller, key),
        )
        return changed > 0

    async def _with_details(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Attach images, attempts and references to request rows: three queries for any number of rows
        (at most 100, D1's limit on bound parameters)."""
        if not rows:
            return rows
        ids = [row["id"] for row in rows]
        marks = ", ".join("?" * len(ids))
        images = await self.db.all(f"SELECT * FROM images WHERE request_id IN ({marks}) ORDER BY idx", ids)
        attempts = await self.db.all(
            "SELECT request_id, provider, model, attempt, outcome, error_code, latency_ms, cost_micros FROM usage_events"
            f" WHERE request_id IN ({marks}) ORDER BY created_at, rowid",
            ids,
        )
        used = await reference_rows.for_requests(self.db, ids)
        for row in rows:
            row["references"] = used.get(row["id"], [])
            row["images"] = [i for i in images if i["request_id"] == row["id"]]
            row["attempts"] = [{k: v for k, v in a.items() if k != "request_id"} for a in attempts if a["request_id"] == row["id"]]
            for key in ("params", "warnings", "links"):
                row[key] = json.loads(row[key]) if row.get(key) else ([] if key != "params" else {})
        return rows

    async def get_requests(self, request_ids: list[str]) -> list[dict[str, Any]]:
        """Several requests with their details, in two queries (at most 100 ids)."""
        if not request_ids:
            return []
        marks = ", ".join("?" * len(request_ids))
        return await self._with_details(await self.db.all(f"SELECT * FROM generation_requests WHERE id IN ({marks})", request_ids))

    async def get_image(self, image_id: str) -> dict[str, Any] | None:
        return await self.db.first("SELECT * FROM images WHERE id = ?", (image_id,))

    async def link(self, caller: str, image_id: str, entity_type: str, entity_id: str, role: str) -> bool:
        """Link an image to one of `caller`'s entities; False when the link already existed.
        The image must be `caller`'s (ownership.py checks it first)."""
        changed = await self.db.run(
            "INSERT OR IGNORE INTO entity_links (caller, entity_type, entity_id, image_id, role, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (caller, entity_type, entity_id, image_id, role, self._now()),
        )
        return changed > 0

    async def unlink(self, caller: str, image_id: str, entity_type: str, entity_id: str, role: str) -> bool:
        changed = await self.db.run(
            "DELETE FROM entity_links WHERE caller = ? AND entity_type = ? AND entity_id = ? AND image_id = ? AND role = ?",
            (caller, entity_type, entity_id, image_id, role),
        )
        return changed > 0

    async def entity_images(self, caller: str, entity_type: str, entity_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """One of `caller`'s entities' images, newest first, with the role of each link."""
        return await self.db.all(
            "SELECT i.*, l.role AS role, l.created_at AS linked_at FROM entity_links l JOIN images i ON i.id = l.image_id"
            " WHERE l.caller = ? AND l.entity_type = ? AND l.entity_id = ? ORDER BY l.created_at DESC, i.id DESC LIMIT ?",
            (caller, entity_type, entity_id, limit),
        )

    async def stale_requests(self, older_than_s: int, limit: int = 100) -> list[dict[str, Any]]:
        cutoff = iso(self.clock.now() - timedelta(seconds=older_than_s))
        return await self.db.all(
            "SELECT id, status, updated_at FROM generation_requests WHERE status IN ('pending', 'running')"
            " AND updated_at < ? ORDER BY updated_at LIMIT ?",
            (cutoff, limit),
        )

    async def roll_up(self, day: str) -> int:
        """Recompute `daily_usage` for one UTC day from the attempts (idempotent)."""
        now = self._now()
        await self.db.batch(
            [
                ("DELETE FROM daily_usage WHERE day = ?", (day,)),
                (
                    "INSERT INTO daily_usage (day, provider, model, attempts, succeeded, images, cost_micros, updated_at)"
                    " SELECT day, provider, model, COUNT(*), SUM(outcome = 'succeeded'), SUM(images), SUM(cost_micros), ?"
                    " FROM usage_events WHERE day = ? GROUP BY day, provider, model",
                    (now, day),
                ),
            ]
        )
        row = await self.db.first("SELECT COUNT(*) AS n FROM daily_usage WHERE day = ?", (day,))
        return int(row["n"]) if row else 0

    async def caller_daily_usage(self, caller: str, day_from: str, day_to: str) -> list[dict[str, Any]]:
        """`daily_usage`'s rows for one caller's requests, from the attempts themselves (current, not rolled up)."""
        return await self.db.all(
            "SELECT u.day, u.provider, u.model, COUNT(*) AS attempts, SUM(u.outcome = 'succeeded') AS succeeded,"
            " SUM(u.images) AS images, SUM(u.cost_micros) AS cost_micros FROM usage_events u"
            " JOIN generation_requests r ON r.id = u.request_id WHERE r.caller = ? AND u.day BETWEEN ? AND ?"
            " GROUP BY u.day, u.provider, u.model ORDER BY u.day, u.provider, u.model",
            (caller, day_from, day_to),
        )

    async def daily_usage(self, day_from: str, day_to: str) -> list[dict[str, Any]]:
        return await self.db.all(
            "SELECT * FROM daily_usage WHERE day BETWEEN ? AND ? ORDER BY day, provider, model", (day_from, day_to)
        )
