"""The Signer port (ports.py) over WebCrypto (`crypto.subtle`)."""

from __future__ import annotations

import base64

import js
from pyodide.ffi import to_js

from .values import as_bytes, js_value


class WebCryptoSigner:
    """RS256 for Vertex service-account JWTs. Keys are imported per call: the access token
    is cached (vertex_auth), so signing is rare."""

    async def sign_rs256(self, private_key_pem: str, data: bytes) -> bytes:
        """The RSASSA-PKCS1-v1_5 SHA-256 signature of `data` with a PKCS#8 PEM key."""
        body = "".join(line for line in private_key_pem.strip().splitlines() if not line.startswith("-----"))
        algorithm = js_value({"name": "RSASSA-PKCS1-v1_5", "hash": "SHA-256"})
        subtle = js.crypto.subtle
        key = await subtle.importKey("pkcs8", to_js(base64.b64decode(body)), algorithm, False, js_value(["sign"]))
        return as_bytes(await subtle.sign("RSASSA-PKCS1-v1_5", key, to_js(data)))
