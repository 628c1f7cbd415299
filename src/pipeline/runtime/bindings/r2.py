"""The ObjectStore port (ports.py) over an R2 binding (env.IMAGES)."""

from __future__ import annotations

from pyodide.ffi import to_js

from ...ports import StoredObject
from ..scope import current
from ..values import as_bytes, is_null, js_value, py_value


class R2ObjectStore:
    """R2 by binding name: bodies, content type and custom metadata (both ways)."""

    def __init__(self, name: str = "IMAGES") -> None:
        self._name = name

    async def put(self, key: str, body: bytes, content_type: str, metadata: dict[str, str] | None = None) -> None:
        """Store `body` under `key`."""
        options = {"httpMetadata": {"contentType": content_type}, "customMetadata": metadata or {}}
        await current().binding(self._name).put(key, to_js(body), js_value(options))

    async def get(self, key: str) -> StoredObject | None:
        """The object under `key`, or None."""
        obj = await current().binding(self._name).get(key)
        if is_null(obj):
            return None
        body = as_bytes(await obj.arrayBuffer())
        meta = obj.httpMetadata
        content_type = None if is_null(meta) else getattr(meta, "contentType", None)
        custom = py_value(getattr(obj, "customMetadata", None)) or {}  # Record<string, string>, or undefined
        return StoredObject(body=body, content_type=str(content_type or "application/octet-stream"),
                            etag=str(obj.etag), size=int(obj.size),
                            metadata={str(k): str(v) for k, v in custom.items() if v is not None})

    async def delete(self, key: str) -> None:
        """Remove `key` (absent is fine)."""
        await current().binding(self._name).delete(key)
