"""OpenAI's Batch API for image generation (openai 3.57.0: resources/batches.py, files.py).

JSONL of `{custom_id, method: POST, url: /v1/images/generations, body}` uploaded with
`POST /v1/files` (multipart, `purpose=batch`, filename `<our ref>.jsonl`); then
`POST /v1/batches` `{input_file_id, endpoint, completion_window: "24h", metadata:
{image_worker_ref}}`; `GET /v1/batches/{id}` until completed, expired, cancelled or
failed; then the output and error files, `GET /v1/files/{id}/content`, read line by
line. Each line's `response.body` is the synchronous ImagesResponse, parsed and priced
by the synchronous adapter. No SDK retries a create here: a timeout is answered by
looking the batch up by our reference (`GET /v1/batches`, newest first) before
creating another."""

from __future__ import annotations

import json
from typing import Any, AsyncIterator

from .. import errors
from ..ports import HttpRequest
from .shared import http_errors, multipart
from .batch_base import BatchStatus, LineOutcome, jsonl_lines
from .base import ProviderRequest
from .openai import OpenAIProvider

ENDPOINT = "/v1/images/generations"
REF_KEY = "image_worker_ref"  # metadata key: ≤ 64 chars, value ≤ 512 (batch_create_params.py)
UNFINISHED_CODES = frozenset({"batch_expired", "batch_cancelled"})  # error-file lines of requests never run
LOOKUP_PAGES = 3  # of 100 batches each, newest first
STATES = {"validating": "running", "in_progress": "running", "finalizing": "running", "cancelling": "running",
          "completed": "completed", "expired": "expired", "cancelled": "cancelled", "failed": "failed"}


class OpenAIBatch:
    def __init__(self, provider: OpenAIProvider) -> None:
        self.p = provider
        self.name = provider.name

    def _get(self, path: str, accept: str = "application/json") -> HttpRequest:
        return HttpRequest("GET", f"{self.p.base_url}{path}", {"authorization": f"Bearer {self.p._key}", "accept": accept},
                           None, self.p.timeout_s)

    async def _json(self, request: HttpRequest) -> dict[str, Any]:
        response = await self.p.ctx.http.send(request)
        if response.status != 200:
            raise self.p.error_for(response.status, response.headers, response.body)
        payload = http_errors.json_body(response.body)
        if not isinstance(payload, dict):
            raise errors.ProviderBadResponse("openai answered 200 with a body that is not a JSON object", provider=self.name)
        return payload

    def line(self, custom_id: str, preq: ProviderRequest) -> dict[str, Any]:
        return {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": self.p.generation_body(preq)}

    async def find(self, ref: str) -> str | None:
        after = None
        for _ in range(LOOKUP_PAGES):
            query = "?limit=100" + (f"&after={after}" if after else "")
            page = await self._json(self._get(f"/v1/batches{query}"))
            data = [b for b in page.get("data") or [] if isinstance(b, dict)]
            for batch in data:
                if (batch.get("metadata") or {}).get(REF_KEY) == ref and batch.get("status") != "failed":
                    return str(batch["id"])
            if not page.get("has_more") or not data:
                return None
            after = data[-1].get("id")
        return None

    async def submit(self, ref: str, model: str, lines: list[dict[str, Any]], state: dict[str, Any]) -> str:
        if not state.get("input_file_id"):
            jsonl = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines).encode()
            body, content_type = multipart.encode([("purpose", "batch"),
                                                   ("file", multipart.FilePart(f"{ref}.jsonl", "application/jsonl", jsonl))])
            request = HttpRequest("POST", f"{self.p.base_url}/v1/files", self.p._headers(content_type), body, self.p.timeout_s)
            state["input_file_id"] = str((await self._json(request))["id"])
        create = {"input_file_id": state["input_file_id"], "endpoint": ENDPOINT, "completion_window": "24h",
                  "metadata": {REF_KEY: ref}}
        request = HttpRequest("POST", f"{self.p.base_url}/v1/batches", self.p._headers(),
                              json.dumps(create).encode(), self.p.timeout_s)
        return str((await self._json(request))["id"])

    async def status(self, provider_id: str) -> BatchStatus:
        batch = await self._json(self._get(f"/v1/batches/{provider_id}"))
        word = str(batch.get("status") or "")
        counts = batch.get("request_counts") if isinstance(batch.get("request_counts"), dict) else {}
        error = None
        if word == "failed":
            data = ((batch.get("errors") or {}).get("data") or [])[:3]
            error = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in data if isinstance(e, dict)) or "validation failed"
        return BatchStatus(STATES.get(word, "running"), word, {k: int(v or 0) for k, v in counts.items()}, error, batch)

    async def results(self, provider_id: str, status: BatchStatus,
                      preqs: dict[str, ProviderRequest]) -> AsyncIterator[LineOutcome]:
        for key in ("output_file_id", "error_file_id"):
            file_id = status.raw.get(key)
            if not file_id:
                continue
            async with self.p.ctx.http.stream(self._get(f"/v1/files/{file_id}/content", "application/binary")) as response:
                if response.status != 200:
                    raise self.p.error_for(response.status, response.headers, await response.aread())
                async for raw in jsonl_lines(response.aiter_bytes(), self.name):
                    outcome = self._outcome(raw, preqs)
                    if outcome is not None:
                        yield outcome

    def _outcome(self, raw: bytes, preqs: dict[str, ProviderRequest]) -> LineOutcome | None:
        try:
            line = json.loads(raw)
        except ValueError:
            return None  # a line we cannot read names no item: that item ends as unfinished
        custom_id = str(line.get("custom_id") or "") if isinstance(line, dict) else ""
        preq = preqs.get(custom_id)
        if preq is None:
            return None
        response = line.get("response") if isinstance(line.get("response"), dict) else None
        error = line.get("error") if isinstance(line.get("error"), dict) else None
        try:
            if response is not None and int(response.get("status_code") or 0) == 200:
                return LineOutcome(custom_id, result=self.p.parse_result(preq, response.get("body")))
            if response is not None:
                body = json.dumps(response.get("body") or {}).encode()
                raise self.p.error_for(int(response.get("status_code") or 500), {}, body)
            if (error or {}).get("code") in UNFINISHED_CODES:  # not run before the window closed: not billed
                raise errors.BatchUnfinished(str((error or {}).get("message") or "not run")[:500], provider=self.name,
                                             details={"provider_code": (error or {}).get("code")})
            raise errors.ProviderUnavailable(
                f"openai batch line failed: {(error or {}).get('code')}: {(error or {}).get('message')}"[:500],
                provider=self.name, details={"provider_code": (error or {}).get("code")})
        except errors.ImageWorkerError as exc:
            exc.provider = exc.provider or self.name
            return LineOutcome(custom_id, error=exc)

    async def cancel(self, provider_id: str) -> None:
        request = HttpRequest("POST", f"{self.p.base_url}/v1/batches/{provider_id}/cancel", self.p._headers(), None,
                              self.p.timeout_s)
        await self._json(request)
