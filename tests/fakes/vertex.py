"""A fake Google OAuth token endpoint: checks the service-account JWT the way Google
does (RS256 signature with the account's public key, iss/aud/scope/exp claims) and
answers with the documented token response (tests/fixtures/vertex)."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs

from tests.fakes.fixtures import load
from tests.fakes.server import FakeServer, Received, Reply

TOKEN_PATH = "/token"


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def service_account(server: FakeServer, project: str = "proj-1") -> tuple[str, Any]:
    """A fresh RSA key and the JSON key file naming the fake token endpoint."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    info = {"type": "service_account", "project_id": project, "private_key_id": "kid-1", "private_key": pem,
            "client_email": "imagen@proj-1.iam.gserviceaccount.com", "token_uri": server.url + TOKEN_PATH}
    return json.dumps(info), key.public_key()


def token_endpoint(server: FakeServer, public_key: Any, email: str = "imagen@proj-1.iam.gserviceaccount.com") -> list[dict]:
    """Serve TOKEN_PATH; returns the list of verified claims, one per exchange."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    seen: list[dict] = []

    def handle(req: Received) -> Reply:
        form = parse_qs(req.body.decode())
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
            return Reply(400, {"error": "unsupported_grant_type"})
        header, claims, signature = form["assertion"][0].split(".")
        try:
            public_key.verify(_unb64(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return Reply(400, load("vertex", "invalid_grant"))
        head, body = json.loads(_unb64(header)), json.loads(_unb64(claims))
        ok = (head["alg"] == "RS256" and body["iss"] == email and body["aud"] == server.url + TOKEN_PATH
              and body["scope"] == "https://www.googleapis.com/auth/cloud-platform" and body["exp"] - body["iat"] == 3600)
        if not ok:
            return Reply(400, load("vertex", "invalid_grant"))
        seen.append(body)
        return Reply(200, load("vertex", "token"))

    server.route("POST", TOKEN_PATH, handle)
    return seen
