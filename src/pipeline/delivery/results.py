"""Turn stored rows into the public result shape (models.GenerationResult)."""

from __future__ import annotations

import json
from typing import Any

from .urls import image_url, thumbnail_url
from ..models import GenerationResult

__all__ = ["image_url", "thumbnail_url", "to_result"]


def to_result(row: dict[str, Any], base_url: str) -> dict[str, Any]:
    """A request row (with its images and attempts) as the result callers see."""
    error = None
    if row.get("error_code"):
        error = {"code": row["error_code"], "message": row.get("error_message") or ""}
    result = GenerationResult(
        id=row["id"],
        status=row["status"],
        kind=row["kind"],
        prompt=row["prompt"],
        caller=row["caller"],
        requested_provider=row.get("requested_provider"),
        provider=row.get("provider"),
        model=row.get("model"),
        size=row.get("size"),
        quality=row.get("quality"),
        n=row["n"],
        images=[
            {
                "id": i["id"],
                "url": image_url(base_url, i["id"]),
                "thumbnail_url": thumbnail_url(base_url, i["id"]),
                "index": i["idx"],
                "content_type": i["content_type"],
                "byte_size": i["byte_size"],
                "sha256": i["sha256"],
                "width": i.get("width"),
                "height": i.get("height"),
                "approval_status": i.get("approval_status"),
            }
            for i in row.get("images", [])
        ],
        estimated_cost_micros=row.get("estimated_cost_micros"),
        actual_cost_micros=row.get("actual_cost_micros"),
        warnings=row.get("warnings") or [],
        attempts=row.get("attempts") or [],
        links=row.get("links") or [],
        references=row.get("references") or [],
        error=error,
        created_at=row["created_at"],
        completed_at=row.get("completed_at"),
        context=json.loads(row["context"]) if isinstance(row.get("context"), str) else row.get("context"),
        sent_prompt=row.get("sent_prompt"),
    )
    return result.model_dump(mode="json")
