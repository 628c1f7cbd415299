"""D1 rows for image approval and entities' primary images.

Decisions are data (`DECISIONS`). A decision may be revised (approved → rejected
and back): a reviewer's mistake must be fixable; nothing goes back to pending. Rejecting an image also removes it as any entity's primary image, in
the same batch, so a primary image is always an approved one."""

from __future__ import annotations

from typing import Any, Sequence

from ..ports import Database

STATUSES = ("pending", "approved", "rejected")
DECISIONS = {"approve": "approved", "reject": "rejected"}


async def images_by_id(db: Database, image_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The images by id, each with its generation's `caller` (whose image it is)."""
    if not image_ids:
        return {}
    marks = ", ".join("?" * len(image_ids))
    rows = await db.all(
        "SELECT i.id, i.request_id, i.approval_status, i.reviewed_by, i.review_reason, i.reviewed_at, i.content_type,"
        f" i.created_at, r.caller FROM images i JOIN generation_requests r ON r.id = i.request_id WHERE i.id IN ({marks})",
        list(image_ids),
    )
    return {r["id"]: r for r in rows}


async def set_status(
    db: Database, image_ids: Sequence[str], status: str, *, reviewer: str | None, reason: str | None, now: str
) -> None:
    """One batch: the new status of every image (and no primary role for rejected ones)."""
    statements: list[tuple[str, tuple[Any, ...]]] = []
    for image_id in image_ids:
        statements.append((
            "UPDATE images SET approval_status = ?, reviewed_by = ?, review_reason = ?, reviewed_at = ? WHERE id = ?",
            (status, reviewer, reason, now, image_id),
        ))
        if status != "approved":
            statements.append(("DELETE FROM entity_primary_images WHERE image_id = ?", (image_id,)))
    if statements:
        await db.batch(statements)


async def list_by_status(db: Database, status: str, before: str | None, limit: int,
                         caller: str | None) -> list[dict[str, Any]]:
    """Newest first; `before` is the last id of the previous page; `caller` None: every caller's."""
    return await db.all(
        "SELECT i.id, i.request_id, i.approval_status, i.reviewed_by, i.review_reason, i.reviewed_at, i.content_type,"
        " i.width, i.height, i.provider, i.model, i.created_at, r.caller FROM images i"
        " JOIN generation_requests r ON r.id = i.request_id"
        " WHERE i.approval_status = ? AND (? IS NULL OR i.id < ?) AND (? IS NULL OR r.caller = ?)"
        " ORDER BY i.id DESC LIMIT ?",
        (status, before, before, caller, caller, limit),
    )


async def set_primary(
    db: Database, caller: str, entity_type: str, entity_id: str, role: str, image_id: str, set_by: str | None, now: str
) -> bool:
    """Make an approved image of the entity's caller its primary for `role`; False if it is not approved."""
    changed = await db.run(
        "INSERT INTO entity_primary_images (caller, entity_type, entity_id, role, image_id, set_by, set_at)"
        " SELECT r.caller, ?, ?, ?, i.id, ?, ? FROM images i JOIN generation_requests r ON r.id = i.request_id"
        " WHERE i.id = ? AND i.approval_status = 'approved' AND r.caller = ?"
        " ON CONFLICT (caller, entity_type, entity_id, role) DO UPDATE SET image_id = excluded.image_id,"
        " set_by = excluded.set_by, set_at = excluded.set_at",
        (entity_type, entity_id, role, set_by, now, image_id, caller),
    )
    return changed > 0


async def primaries(db: Database, caller: str, entity_type: str, entity_id: str) -> list[dict[str, Any]]:
    return await db.all(
        "SELECT p.role, p.image_id, p.set_by, p.set_at, i.content_type, i.width, i.height FROM entity_primary_images p"
        " JOIN images i ON i.id = p.image_id WHERE p.caller = ? AND p.entity_type = ? AND p.entity_id = ?"
        " ORDER BY p.role",
        (caller, entity_type, entity_id),
    )


async def clear_primary(db: Database, caller: str, entity_type: str, entity_id: str, role: str) -> bool:
    changed = await db.run(
        "DELETE FROM entity_primary_images WHERE caller = ? AND entity_type = ? AND entity_id = ? AND role = ?",
        (caller, entity_type, entity_id, role),
    )
    return changed > 0
