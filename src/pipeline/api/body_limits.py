"""How many bytes each route's body may have, and how it is read: data, not code.

The Gate (middleware.py) applies this before the app sees a byte: a larger
`Content-Length` is refused (413) unread; a body without one is counted while it is
read and cut at the limit. A Worker isolate has 128 MB for everything (limits.py), so
no route may hold more than its largest legitimate body.

Kinds:
- `json`: a JSON body of plain fields (ids, names, prices, budgets, a prompt).
- `images`: a JSON body that may carry inline images (base64, all together at most
  `limits.MAX_INLINE_BASE64_CHARS`), or OpenAI's multipart edit form (raw file bytes,
  smaller than their base64), plus room for the other fields.
- `upload`: raw image bytes (`POST /v1/uploads`), not parsed as JSON."""

from __future__ import annotations

from .. import limits

KIB = 1024

# Room for every non-image field of the largest body: a 32,000-character prompt written as
# \\uXXXX escapes is 192 KB; links, context and the rest are a few KB more.
FIELDS_BYTES = 1024 * KIB

KIND_BYTES = {
    "json": FIELDS_BYTES,
    "images": limits.MAX_INLINE_BASE64_CHARS + FIELDS_BYTES,
    "upload": limits.MAX_UPLOAD_BYTES,
}

# Kinds whose body is parsed as JSON (or, for `images` on the edits route, as a form): they
# are scanned (UTF-8, nesting depth, number length: json_scan.py) before the app parses them.
PARSED_KINDS = frozenset({"json", "images"})

# (method, route path as declared) -> kind. A route not listed takes a `json` body.
ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/v1/generations"): "images",
    ("POST", "/v1/estimate"): "images",
    ("POST", "/v1/prompts/preview"): "images",
    ("POST", "/v1/jobs"): "images",
    # up to 100 items; their inline images share the one request's limit (models.py)
    ("POST", "/v1/batches"): "images",
    ("POST", "/v1/images/edits"): "images",
    ("POST", "/v1/uploads"): "upload",
}


def kind_of(method: str, path: str) -> str:
    """The body kind of a route (`path` is the route's template, e.g. /v1/keys/{key_id})."""
    return ROUTES.get((method, path), "json")


def limit_of(kind: str) -> int:
    return KIND_BYTES[kind]
