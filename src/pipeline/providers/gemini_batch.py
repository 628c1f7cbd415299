"""Gemini Batch Mode with inline requests (google-genai 3.6.1: batches.py, _transformers.py).

`POST /v1beta/models/{model}:batchGenerateContent` `{"batch": {"displayName": <our ref>,
"inputConfig": {"requests": {"requests": [{"request": GenerateContentRequest,
"metadata": {"key": <item>}}]}}}}` answers an Operation named `batches/{id}`;
`GET /v1beta/batches/{id}` until its `metadata.state` is terminal (both the wire
`BATCH_STATE_*` and the SDK's `JOB_STATE_*` spellings are read). Results are inline,
in `metadata.output.inlinedResponses.inlinedResponses` (the SDK's reading) or
`response.inlinedResponses.inlinedResponses` (the REST guide's), each `{metadata:
{key}, response | error}`; `response` is the synchronous GenerateContentResponse,
parsed and priced by the synchronous adapter. Creating is not idempotent (the docs
say so): a redelivery pages `GET /v1beta/batches` for our displayName first.
`/v1beta` is pinned: the SDK defaults to `/v1`, every official batch example uses v1beta."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, AsyncIterator

from .. import errors
from ..ports import HttpRequest
from .shared import http_errors
from .base import ProviderRequest, ProviderResult
from .batch_base import BatchStatus, LineOutcome
from .gemini import GeminiProvider
from .shared.google_api import from_response

LOOKUP_PAGES = 4  # of 50 batches each
MAX_REQUEST_BYTES = 20_000_000  # "the whole create request under 20 MB" (batch-api docs)
MAX_STATUS_BYTES = 256 * 1024 * 1024  # an answer holding every inline image of one batch
STATES = {"SUCCEEDED": "completed", "PARTIALLY_SUCCEEDED": "completed", "FAILED": "failed", "CANCELLED": "cancelled",
          "EXPIRED": "expired"}  # everything else (PENDING, RUNNING, QUEUED, CANCELLING, …) is still running
SEP = "~"  # an item asking for n images is n requests keyed <item>~<k>


def _word(state: Any) -> str:
    text = str(state or "")
    for prefix in ("BATCH_STATE_", "JOB_STATE_"):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text


class GeminiBatch:
    def __init__(self, provider: GeminiProvider) -> None:
        self.p = provider
        self.name = provider.name

    async def _send(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {**await self.p.auth_headers(), "content-type": "application/json"}
        data = json.dumps(body).encode() if body is not None else None
        if data is not None and len(data) > MAX_REQUEST_BYTES:
            raise errors.InvalidRequest(f"the gemini batch request is over {MAX_REQUEST_BYTES} bytes")
        response = await self.p.ctx.http.send(HttpRequest(method, f"{self.p.base_url}/v1beta/{path}", headers, data,
                                                          self.p.timeout_s))
        if response.status != 200:
            raise from_response(self.name, response.status, response.headers, response.body)
        if len(response.body) > MAX_STATUS_BYTES:
            raise errors.ProviderBadResponse(f"{self.name} batch answer over {MAX_STATUS_BYTES} bytes", provider=self.name)
        payload = http_errors.json_body(response.body)
        if not isinstance(payload, dict):
            raise errors.ProviderBadResponse(f"{self.name} answered 200 with a body that is not JSON", provider=self.name)
        return payload

    def line(self, custom_id: str, preq: ProviderRequest) -> dict[str, Any]:
        """n requests for an item of n images (one image per request, as synchronously)."""
        body = self.p.request_body(replace(preq, n=1))
        return {"requests": [{"request": body, "metadata": {"key": f"{custom_id}{SEP}{k}"}} for k in range(preq.n)]}

    async def find(self, ref: str) -> str | None:
        token = None
        for _ in range(LOOKUP_PAGES):
            page = await self._send("GET", "batches?pageSize=50" + (f"&pageToken={token}" if token else ""))
            for op in page.get("operations") or []:
                meta = op.get("metadata") if isinstance(op, dict) else None
                if isinstance(meta, dict) and meta.get("displayName") == ref and _word(meta.get("state")) != "FAILED":
                    return str(op.get("name"))
            token = page.get("nextPageToken")
            if not token:
                return None
        return None

    async def submit(self, ref: str, model: str, lines: list[dict[str, Any]], state: dict[str, Any]) -> str:
        requests = [r for line in lines for r in line["requests"]]
        body = {"batch": {"displayName": ref, "inputConfig": {"requests": {"requests": requests}}}}
        op = await self._send("POST", f"models/{model}:batchGenerateContent", body)
        name = op.get("name") or (op.get("metadata") or {}).get("name")
        if not isinstance(name, str) or not name.startswith("batches/"):
            raise errors.ProviderBadResponse(f"{self.name} created a batch without a batches/ name", provider=self.name)
        return name

    async def status(self, provider_id: str) -> BatchStatus:
        op = await self._send("GET", provider_id)
        meta = op.get("metadata") if isinstance(op.get("metadata"), dict) else {}
        word = _word(meta.get("state"))
        stats = meta.get("batchStats") if isinstance(meta.get("batchStats"), dict) else {}
        counts = {"total": int(stats.get("requestCount") or 0), "completed": int(stats.get("successfulRequestCount") or 0),
                  "failed": int(stats.get("failedRequestCount") or 0)}
        error = op.get("error") if isinstance(op.get("error"), dict) else None
        return BatchStatus(STATES.get(word, "running"), word, counts, str(error.get("message"))[:500] if error else None, op)

    async def results(self, provider_id: str, status: BatchStatus,
                      preqs: dict[str, ProviderRequest]) -> AsyncIterator[LineOutcome]:
        op = status.raw
        output = ((op.get("metadata") or {}).get("output") or op.get("response") or {})
        listed = (output.get("inlinedResponses") or {}).get("inlinedResponses") if isinstance(output, dict) else None
        found: dict[str, list[ProviderResult | errors.ImageWorkerError]] = {}
        for entry in listed or []:
            if not isinstance(entry, dict):
                continue
            key = str((entry.get("metadata") or {}).get("key") or "")
            custom_id = key.rsplit(SEP, 1)[0]
            preq = preqs.get(custom_id)
            if preq is None:
                continue
            found.setdefault(custom_id, []).append(self._one(replace(preq, n=1), entry))
        for custom_id, parts in found.items():
            yield self._merge(custom_id, preqs[custom_id].n, parts)

    def _one(self, preq: ProviderRequest, entry: dict[str, Any]) -> ProviderResult | errors.ImageWorkerError:
        try:
            if isinstance(entry.get("response"), dict):
                return self.p.parse(preq, entry["response"])
            status = entry.get("error") if isinstance(entry.get("error"), dict) else {}
            code = int(status.get("code") or 500)
            http = {3: 400, 4: 504, 5: 404, 7: 403, 8: 429, 13: 500, 14: 503}.get(code, code if code >= 400 else 500)
            return from_response(self.name, http, {}, json.dumps({"error": status}).encode())
        except errors.ImageWorkerError as exc:
            exc.provider = exc.provider or self.name
            return exc

    def _merge(self, custom_id: str, n: int, parts: list[ProviderResult | errors.ImageWorkerError]) -> LineOutcome:
        done = [p for p in parts if isinstance(p, ProviderResult)]
        failed = [p for p in parts if not isinstance(p, ProviderResult)]
        if not done:
            return LineOutcome(custom_id, error=failed[0] if failed else errors.ProviderBadResponse(
                f"{self.name} returned no image", provider=self.name))
        result = done[0]
        for more in done[1:]:
            result = result.merge(more)
        if len(done) < n:
            code = failed[0].code if failed else "unfinished"
            result.warnings.append(f"{len(done)} of {n} images made; {self.name} failed on the rest ({code})")
        return LineOutcome(custom_id, result=result, part_costs=[p.cost_micros for p in done])

    async def cancel(self, provider_id: str) -> None:
        await self._send("POST", f"{provider_id}:cancel")
