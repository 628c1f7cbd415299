"""The one way into a generation, for every door.

Native JSON and SSE (`POST /v1/generations`), the OpenAI-compatible routes (JSON and
multipart), RPC (which runs those routes in-process), batch and job submission, and the
queue consumer each adapt their wire shape to a `GenerationRequest` and a `Principal`, then
call `admit`. Nothing else builds a `Generation` for a caller. Admission decides:

- the principal's scope (`generate`) and the caller it acts as (the key's own; an admin or
  the service binding may name another);
- the idempotency key (the `Idempotency-Key` header wins over the body's);
- the API key that asked and its daily budget, which travel with the generation into the
  ledger's reservation (ledger/policy.py), so a key's budget is held like a caller's and the
  global one: reserve before, settle after, atomic in the Durable Object, under concurrency.
  The request row records the key id (`api_key_id`), so its spend is the key's.

Queued work (batch items, jobs) carries the submitting key's id in its message; the consumer
turns it back into a principal with `queued_principal`, which refuses a key revoked or
expired since, so queued work never outlives the key that asked for it."""

from __future__ import annotations

from typing import Any

from .. import errors
from ..auth.keys import Principal, key_principal
from ..models import GenerationRequest
from ..guarded import guarded
from ..services import Services
from ..storage.keys import KeyStore
from .generation import Generation
from .state import Admitted

MAX_IDEMPOTENCY_KEY = 128


def admitted_request(principal: Principal, req: GenerationRequest, idempotency_header: str | None = None) -> GenerationRequest:
    """The request as this principal may make it (scope, acting caller, idempotency key);
    raises Forbidden or InvalidRequest. Batch submission checks every item with it."""
    principal.require("generate")
    update: dict[str, Any] = {"caller": principal.acting_caller(req.caller)}
    if idempotency_header is not None:
        update["idempotency_key"] = checked_idempotency_key(idempotency_header)
    return req.model_copy(update=update)


def checked_idempotency_key(header: str | None) -> str | None:
    """An `Idempotency-Key` header as given, or InvalidRequest when its length is out of bounds."""
    if header is not None and not 1 <= len(header) <= MAX_IDEMPOTENCY_KEY:
        raise errors.InvalidRequest(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters",
                                    details={"field": "Idempotency-Key"})
    return header


def admitted(s: Services, principal: Principal, req: GenerationRequest, *,
             idempotency_header: str | None = None) -> Admitted:
    """What every lane runs: the request as this principal may make it, a fresh request id,
    the caller it acts as, the key that asked and that key's daily budget."""
    return Admitted.new(s, admitted_request(principal, req, idempotency_header), api_key_id=principal.key_id,
                        key_budget_micros=principal.daily_budget_micros if principal.key_id else None)


def admit(s: Services, principal: Principal, req: GenerationRequest, *, idempotency_header: str | None = None,
          partial_images: int = 0, progress: bool = False) -> Generation:
    """A generation for this principal, ready to run (`result()` or `events()`)."""
    # Its bindings' failures are typed errors (guarded.py): 503 storage/ledger/queue_unavailable with the request id.
    s = guarded(s)
    return Generation(s, admitted(s, principal, req, idempotency_header=idempotency_header),
                      partial_images=partial_images, progress=progress)


async def queued_principal(s: Services, key_id: str | None, caller: str) -> Principal:
    """The principal a queued item runs as: the submitting key, looked up again (Unauthorized
    once it is revoked or expired), or, for work submitted without a key (API_TOKEN, the
    service binding, the open local API), a principal for exactly the caller it was queued for."""
    if key_id is None:
        return Principal(caller=caller, scopes=frozenset({"generate"}), kind="queued")
    row = await KeyStore(s.db, s.clock).find_live_by_id(key_id)
    if row is None:
        raise errors.Unauthorized("the API key that queued this work was revoked or has expired",
                                  details={"key_id": key_id})
    principal = key_principal(row)
    principal.acting_caller(caller)  # an item queued for another caller needed an admin key then, and still does
    return principal

