"""R2 under CPython: objects as files in a folder, metadata beside them."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from pipeline.ports import StoredObject


class FolderObjectStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"bad object key {key!r}")
        return self.root / key

    async def put(self, key: str, body: bytes, content_type: str, metadata: dict[str, str] | None = None) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(body)
        # The caller's sha256 when it sent one: hashing several MB again would only cost time.
        etag = (metadata or {}).get("sha256") or hashlib.sha256(body).hexdigest()
        meta = {"content_type": content_type, "etag": etag, "metadata": metadata or {}}
        path.with_name(path.name + ".meta.json").write_text(json.dumps(meta))
        os.replace(tmp, path)  # readers see the whole object or none of it

    async def get(self, key: str) -> StoredObject | None:
        path = self._path(key)
        try:
            body = path.read_bytes()
            meta = json.loads(path.with_name(path.name + ".meta.json").read_text())
        except FileNotFoundError:
            return None
        custom = meta.get("metadata") or {}
        return StoredObject(body=body, content_type=meta["content_type"], etag=meta["etag"], size=len(body),
                            metadata={str(k): str(v) for k, v in custom.items()})

    async def delete(self, key: str) -> None:
        path = self._path(key)
        for p in (path, path.with_name(path.name + ".meta.json")):
            p.unlink(missing_ok=True)
