"""`/v1/keys`: API keys per caller, created, listed and revoked by an admin."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from .. import errors
from ..auth.keys import DEFAULT_SCOPES, SCOPES, Principal
from ..clock import iso, utc_day
from ..services import Services
from ..storage.keys import KeyStore
from .params import IdPath
from .deps import get_services, require_scope

router = APIRouter(prefix="/v1", tags=["keys"])
admin = Depends(require_scope("admin"))

Scope = Literal["generate", "read", "review", "admin"]
MAX_MICROS = 2**53 - 1  # what JSON (and the Durable Object's JS side) holds exactly
_CALLER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")
_ID = r"^key_[0-9A-HJKMNP-TV-Z]{26}$"


class KeyCreate(BaseModel):
    """A new key. The secret is in the answer once and never again."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="what the key is for, e.g. 'web frontend'")
    caller: str = Field(min_length=1, max_length=128, pattern=_CALLER.pattern,
                        description="the caller every request made with this key acts as")
    scopes: list[Scope] = Field(default=list(DEFAULT_SCOPES), min_length=1, max_length=len(SCOPES),
                                description="; ".join(f"{k}: {v}" for k, v in SCOPES.items()))
    daily_budget_micros: StrictInt | None = Field(default=None, ge=0, le=MAX_MICROS,
                                                  description="what this key may spend per UTC day")
    expires_at: datetime | None = Field(default=None, description="UTC time after which the key stops working")

    @field_validator("name")
    @classmethod
    def _visible(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("name must not be blank")
        return v

    @field_validator("expires_at")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("expires_at needs a time zone, e.g. '2027-01-01T00:00:00Z'")
        return v


class KeyToday(BaseModel):
    """What the key has spent and holds in the current UTC day (from the budget ledger)."""

    day: str
    spent_micros: int
    reserved_micros: int = Field(description="held by its requests in flight")
    remaining_micros: int | None = Field(default=None, description="of its daily_budget_micros; null without one")


class KeyOut(BaseModel):
    id: str
    name: str
    caller: str
    scopes: list[str]
    prefix: str = Field(description="the key's first characters, to recognise it")
    daily_budget_micros: int | None = None
    expires_at: str | None = None
    created_at: str
    revoked_at: str | None = None
    today: KeyToday | None = Field(default=None, description="its spend today (not on create)")


class KeyCreated(KeyOut):
    key: str = Field(description="the secret: store it now, it is not shown again")


class KeyList(BaseModel):
    items: list[KeyOut]
    next_before: str | None = None


@router.post("/keys", status_code=201, response_model=KeyCreated, summary="Create an API key (admin)")
async def create_key(body: KeyCreate, _: Principal = admin, s: Services = Depends(get_services)) -> JSONResponse:
    expires = None
    if body.expires_at is not None:
        when = body.expires_at.astimezone(timezone.utc)
        if when <= s.clock.now():
            raise errors.InvalidRequest("expires_at is in the past", details={"field": "expires_at"})
        expires = iso(when)
    row, secret = await KeyStore(s.db, s.clock).create(
        name=body.name, caller=body.caller, scopes=list(dict.fromkeys(body.scopes)),
        daily_budget_micros=body.daily_budget_micros, expires_at=expires,
    )
    return JSONResponse({**row, "key": secret}, status_code=201, headers={"Location": f"/v1/keys/{row['id']}",
                                                                          "Cache-Control": "no-store"})


@router.get("/keys", response_model=KeyList, summary="API keys, newest first (admin; never the secrets)")
async def list_keys(
    caller: str | None = Query(None, max_length=128),
    include_revoked: bool = Query(False),
    before: str | None = Query(None, pattern=_ID, description="the last id of the previous page"),
    limit: int = Query(50, ge=1, le=200),
    _: Principal = admin,
    s: Services = Depends(get_services),
) -> dict[str, Any]:
    rows = await KeyStore(s.db, s.clock).list(caller, include_revoked, before, limit + 1)
    items = await with_today(s, rows[:limit])
    return {"items": items, "next_before": rows[limit - 1]["id"] if len(rows) > limit else None}


@router.get("/keys/{key_id}", response_model=KeyOut, summary="One live API key (admin)")
async def get_key(key_id: IdPath, _: Principal = admin, s: Services = Depends(get_services)) -> dict[str, Any]:
    row = await KeyStore(s.db, s.clock).get(key_id)
    # DELETE revoked it: like any deleted resource it is gone here (404). The record stays for
    # audit in `GET /v1/keys?include_revoked=true`.
    if row is None or row["revoked_at"] is not None:
        raise errors.NotFound(f"no key {key_id!r}" if row is None else f"key {key_id!r} was revoked at {row['revoked_at']}")
    return (await with_today(s, [row]))[0]


async def with_today(s: Services, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The keys with their spend today: one ledger call for the page."""
    today = utc_day(s.clock.now())
    budget = (await s.ledger.usage(today, today))["budget"]
    spent = budget.get("keys") or {}
    out = []
    for row in rows:
        held = spent.get(row["id"], {"spent_micros": 0, "reserved_micros": 0})
        cap = row.get("daily_budget_micros")
        remaining = None if cap is None else max(0, cap - held["spent_micros"] - held["reserved_micros"])
        out.append({**row, "today": {"day": budget["day"], **held, "remaining_micros": remaining}})
    return out


@router.delete("/keys/{key_id}", response_model=KeyOut, summary="Revoke an API key now (admin)")
async def revoke_key(key_id: IdPath, _: Principal = admin, s: Services = Depends(get_services)) -> dict[str, Any]:
    store = KeyStore(s.db, s.clock)
    if await store.get(key_id) is None:
        raise errors.NotFound(f"no key {key_id!r}")
    await store.revoke(key_id)  # revoking a revoked key is a no-op: the answer shows when it was revoked
    row = await store.get(key_id)
    assert row is not None
    return row
