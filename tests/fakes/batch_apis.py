"""Fake batch APIs on 127.0.0.1, in the wire formats openai 3.57.0 and google-genai 3.6.1
parse (tests/economy/test_batch_sdk_fixtures.py points the real SDKs at them).

Each fake keeps its batches in memory and advances one step per status call: after
`polls_until_done` calls a batch ends `completed`, or, with `expire_after`, expired
with only its first `expire_after` requests done. `answer(request_body)` says what
one request gets (default: the synchronous success fixture). `billed_micros` is what
the fake would bill: each finished request's usage at its own price table, at 50 %."""

from __future__ import annotations

import base64
import email.parser
import email.policy
import itertools
import json
import threading
from typing import Any, Callable

from tests.fakes.fixtures import load
from tests.fakes.server import FakeServer, Received, Reply

# The fakes' own price tables (micro-dollars per 1M tokens), independent of the Worker's catalog.
OPENAI_RATES = {"text_in": 5_000_000, "image_in": 8_000_000, "image_out": 30_000_000}
GEMINI_RATES = {"text_in": 1_500_000, "image_out": 30_000_000, "text_out": 7_500_000}
BATCH_SHARE = 0.5


def _cost(tokens: int, rate: int) -> int:
    return -(-tokens * rate // 1_000_000)


def openai_bill(usage: dict[str, Any]) -> int:
    """The standard price of one Images API answer's usage."""
    details = usage.get("input_tokens_details") or {}
    return (_cost(int(details.get("text_tokens", usage.get("input_tokens", 0))), OPENAI_RATES["text_in"])
            + _cost(int(details.get("image_tokens", 0)), OPENAI_RATES["image_in"])
            + _cost(int(usage.get("output_tokens", 0)), OPENAI_RATES["image_out"]))


def gemini_bill(meta: dict[str, Any]) -> int:
    image = sum(int(d["tokenCount"]) for d in meta.get("candidatesTokensDetails") or [] if d.get("modality") == "IMAGE")
    return (_cost(int(meta.get("promptTokenCount", 0)), GEMINI_RATES["text_in"]) + _cost(image, GEMINI_RATES["image_out"])
            + _cost(int(meta.get("candidatesTokenCount", 0)) - image, GEMINI_RATES["text_out"]))


def batch_price(standard: int) -> int:
    return -(-standard // 2)


def _multipart(req: Received) -> dict[str, tuple[str | None, bytes]]:
    head = f"Content-Type: {req.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + req.body)
    return {part.get_param("name", header="content-disposition"): (part.get_filename(), part.get_payload(decode=True))
            for part in message.iter_parts()}


class OpenAIBatchFake:
    def __init__(self, server: FakeServer, png: bytes, *, polls_until_done: int = 2, expire_after: int | None = None,
                 answer: Callable[[dict[str, Any]], tuple[int, dict[str, Any]]] | None = None) -> None:
        self.server, self.png = server, png
        self.polls_until_done, self.expire_after = polls_until_done, expire_after
        self.answer = answer or (lambda body: (200, self._success()))
        self.files: dict[str, tuple[str, bytes]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.billed_micros = 0
        self.created = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        server.route("POST", "/v1/files", self._upload)
        server.route("POST", "/v1/batches", self._create)
        server.route("GET", "/v1/batches", self._list)
        server.fallback = self._dynamic

    def _success(self) -> dict[str, Any]:
        return load("openai", "generation", IMAGE=self.png)

    def _upload(self, req: Received) -> Reply:
        parts = _multipart(req)
        assert parts["purpose"][1] == b"batch", parts["purpose"]
        filename, data = parts["file"]
        file_id = f"file-in{next(self._ids)}"
        self.files[file_id] = (filename or "", data)
        return Reply(200, load("openai-batch", "file_object") | {"id": file_id, "filename": filename, "bytes": len(data)})

    def _create(self, req: Received) -> Reply:
        body = req.json()
        assert body["endpoint"] == "/v1/images/generations" and body["completion_window"] == "24h", body
        with self._lock:
            self.created += 1
            batch_id = f"batch_{next(self._ids):04d}"
            lines = [json.loads(x) for x in self.files[body["input_file_id"]][1].decode().splitlines() if x.strip()]
            batch = load("openai-batch", "batch") | {"id": batch_id, "input_file_id": body["input_file_id"],
                                                     "metadata": body.get("metadata")}
            batch["request_counts"] = {"total": len(lines), "completed": 0, "failed": 0}
            self.batches[batch_id] = {"batch": batch, "lines": lines, "polls": 0}
        return Reply(200, batch)

    def _list(self, req: Received) -> Reply:
        data = [b["batch"] for b in reversed(list(self.batches.values()))]  # newest first
        return Reply(200, load("openai-batch", "batch_list") | {"data": data})

    def _dynamic(self, req: Received) -> Reply:
        path = req.path.split("?", 1)[0]
        if req.method == "GET" and path.startswith("/v1/batches/"):
            return self._retrieve(path.rsplit("/", 1)[1])
        if req.method == "POST" and path.startswith("/v1/batches/") and path.endswith("/cancel"):
            entry = self.batches[path.split("/")[3]]
            entry["batch"]["status"] = "cancelling"
            entry["cancel"] = True
            return Reply(200, entry["batch"])
        if req.method == "GET" and path.startswith("/v1/files/") and path.endswith("/content"):
            file_id = path.split("/")[3]
            return Reply(200, self.files[file_id][1], {"Content-Type": "application/octet-stream"})
        return Reply(404, {"error": {"message": f"no route {path}", "type": "invalid_request_error"}})

    def _retrieve(self, batch_id: str) -> Reply:
        with self._lock:
            entry = self.batches.get(batch_id)
            if entry is None:
                return Reply(404, {"error": {"message": "No batch found", "type": "invalid_request_error"}})
            batch = entry["batch"]
            entry["polls"] += 1
            if batch["status"] in ("completed", "expired", "cancelled"):
                return Reply(200, batch)
            if entry["polls"] < self.polls_until_done and not entry.get("cancel"):
                batch["status"] = "in_progress"
                batch["in_progress_at"] = batch["created_at"] + 5
                return Reply(200, batch)
            self._finish(batch_id, entry)
            return Reply(200, batch)

    def _finish(self, batch_id: str, entry: dict[str, Any]) -> None:
        batch, lines = entry["batch"], entry["lines"]
        done = len(lines) if self.expire_after is None else self.expire_after
        out, err = [], []
        for i, line in enumerate(lines):
            if i >= done:
                err.append(load("openai-batch", "expired_line") | {"custom_id": line["custom_id"]})
                continue
            status, body = self.answer(line["body"])
            entry_line = load("openai-batch", "output_line") | {"custom_id": line["custom_id"]}
            entry_line["response"] = {"status_code": status, "request_id": f"req_{i}", "body": body}
            if status == 200:
                self.billed_micros += batch_price(openai_bill(body["usage"]))
                out.append(entry_line)
            else:
                err.append(entry_line)
        word = "expired" if self.expire_after is not None else ("cancelled" if entry.get("cancel") else "completed")
        for name, rows in (("output_file_id", out), ("error_file_id", err)):
            if rows:
                file_id = f"file-{name[:3]}{next(self._ids)}"
                self.files[file_id] = ("", "".join(json.dumps(r) + "\n" for r in reversed(rows)).encode())  # any order
                batch[name] = file_id
        batch.update(status=word, request_counts={"total": len(lines), "completed": len(out), "failed": len(err)})
        batch[f"{word}_at" if word != "completed" else "completed_at"] = batch["created_at"] + 600


class GeminiBatchFake:
    def __init__(self, server: FakeServer, png: bytes, *, polls_until_done: int = 2, expire_after: int | None = None,
                 answer: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
        self.server, self.png = server, png
        self.polls_until_done, self.expire_after = polls_until_done, expire_after
        self.answer = answer or (lambda request: {"response": load("gemini", "success", IMAGE=png)})
        self.ops: dict[str, dict[str, Any]] = {}
        self.billed_micros = 0
        self.created = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        server.route("GET", "/v1beta/batches", self._list)
        server.fallback = self._dynamic

    def _dynamic(self, req: Received) -> Reply:
        path = req.path.split("?", 1)[0]
        if req.method == "POST" and path.endswith(":batchGenerateContent"):
            return self._create(path.split("/models/", 1)[1].split(":", 1)[0], req.json())
        if req.method == "POST" and path.endswith(":cancel"):
            self.ops[path.split("/v1beta/", 1)[1].split(":", 1)[0]]["cancel"] = True
            return Reply(200, {})
        if req.method == "GET" and path.startswith("/v1beta/batches/"):
            return self._get(path.split("/v1beta/", 1)[1])
        return Reply(404, {"error": {"code": 404, "message": f"no route {path}", "status": "NOT_FOUND"}})

    def _create(self, model: str, body: dict[str, Any]) -> Reply:
        batch = body["batch"]
        requests = batch["inputConfig"]["requests"]["requests"]
        with self._lock:
            self.created += 1
            name = f"batches/gen-{next(self._ids):04d}"
            op = load("gemini-batch", "operation")
            op["name"] = op["metadata"]["name"] = name
            op["metadata"].update(model=f"models/{model}", displayName=batch["displayName"],
                                  batchStats={"requestCount": str(len(requests)), "pendingRequestCount": str(len(requests))})
            self.ops[name] = {"op": op, "requests": requests, "polls": 0}
        return Reply(200, op)

    def _list(self, req: Received) -> Reply:
        return Reply(200, load("gemini-batch", "list") | {"operations": [o["op"] for o in self.ops.values()]})

    def _get(self, name: str) -> Reply:
        with self._lock:
            entry = self.ops.get(name)
            if entry is None:
                return Reply(404, {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}})
            entry["polls"] += 1
            meta = entry["op"]["metadata"]
            if not entry["op"].get("done"):
                if entry["polls"] < self.polls_until_done and not entry.get("cancel"):
                    meta["state"] = "BATCH_STATE_RUNNING"
                else:
                    self._finish(entry)
            return Reply(200, entry["op"])

    def _finish(self, entry: dict[str, Any]) -> None:
        requests, meta = entry["requests"], entry["op"]["metadata"]
        done = len(requests) if self.expire_after is None else self.expire_after
        responses, ok = [], 0
        for _i, item in enumerate(requests[:done]):
            answer = self.answer(item["request"])
            responses.append({"metadata": item["metadata"], **answer})
            if "response" in answer:
                ok += 1
                self.billed_micros += batch_price(gemini_bill(answer["response"]["usageMetadata"]))
        state = "BATCH_STATE_EXPIRED" if self.expire_after is not None else (
            "BATCH_STATE_CANCELLED" if entry.get("cancel") else "BATCH_STATE_SUCCEEDED")
        meta.update(state=state, endTime="2026-12-01T00:10:00Z",
                    batchStats={"requestCount": str(len(requests)), "successfulRequestCount": str(ok),
                                "failedRequestCount": str(len(responses) - ok)})
        if responses:
            meta["output"] = {"inlinedResponses": {"inlinedResponses": responses}}
        entry["op"]["done"] = True


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
