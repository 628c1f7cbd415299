"""D1 rows of API keys: create, list, revoke, and find the live key for a secret."""

from __future__ import annotations

import json
from typing import Any

from ..auth import keys as auth_keys
from ..clock import iso
from ..ids import new_id
from ..ports import Clock, Database

_PUBLIC = "id, name, caller, scopes, prefix, daily_budget_micros, expires_at, created_at, revoked_at"


def _view(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "scopes": json.loads(row["scopes"])}


class KeyStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def create(
        self, *, name: str, caller: str, scopes: list[str], daily_budget_micros: int | None, expires_at: str | None
    ) -> tuple[dict[str, Any], str]:
        """The new key's row and its secret (the only time the secret exists outside the caller)."""
        secret = auth_keys.new_secret()
        key_id = new_id("key", self.clock.now())
        await self.db.run(
            "INSERT INTO api_keys (id, name, caller, scopes, secret_hash, prefix, daily_budget_micros, expires_at,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key_id, name, caller, json.dumps(sorted(scopes)), auth_keys.hash_secret(secret), secret[:12],
             daily_budget_micros, expires_at, iso(self.clock.now())),
        )
        row = await self.get(key_id)
        assert row is not None
        return row, secret

    async def get(self, key_id: str) -> dict[str, Any] | None:
        row = await self.db.first(f"SELECT {_PUBLIC} FROM api_keys WHERE id = ?", (key_id,))
        return _view(row) if row else None

    async def list(self, caller: str | None, include_revoked: bool, before: str | None, limit: int) -> list[dict[str, Any]]:
        where, params = [], []
        if caller is not None:
            where.append("caller = ?")
            params.append(caller)
        if not include_revoked:
            where.append("revoked_at IS NULL")
        if before is not None:
            where.append("id < ?")
            params.append(before)
        sql = f"SELECT {_PUBLIC} FROM api_keys" + (" WHERE " + " AND ".join(where) if where else "")
        return [_view(r) for r in await self.db.all(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))]

    async def revoke(self, key_id: str) -> bool:
        """Revoke now; False when there is no such live key (revoking twice is a no-op)."""
        changed = await self.db.run(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (iso(self.clock.now()), key_id)
        )
        return changed > 0

    async def find_live(self, secret: str) -> dict[str, Any] | None:
        """The key for this secret if it is neither revoked nor expired."""
        return await self._live("secret_hash", auth_keys.hash_secret(secret))

    async def find_live_by_id(self, key_id: str) -> dict[str, Any] | None:
        """The key with this id if it is neither revoked nor expired (queued work's key)."""
        return await self._live("id", key_id)

    async def _live(self, column: str, value: str) -> dict[str, Any] | None:
        row = await self.db.first(
            f"SELECT {_PUBLIC} FROM api_keys WHERE {column} = ? AND revoked_at IS NULL"
            " AND (expires_at IS NULL OR expires_at > ?)",
            (value, iso(self.clock.now())),
        )
        return _view(row) if row else None
