"""Signed image URLs: HMAC-SHA256 over the image id and an expiry time, so a
frontend can put a short-lived link in `<img src>` without holding a key.

A variant's URL signs `<image id>/<variant name>` (delivery/spec.py VariantSpec.name):
the signature names the variant, so a thumbnail's link cannot fetch the original."""

from __future__ import annotations

import hashlib
import hmac


def signature(secret: str, image_id: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"{image_id}.{expires}".encode(), hashlib.sha256).hexdigest()


def signed_query(secret: str, image_id: str, expires: int) -> str:
    return f"expires={expires}&signature={signature(secret, image_id, expires)}"


def verify(secret: str, image_id: str, expires: int, given: str, now_s: float) -> bool:
    """Valid and not expired. The comparison is constant-time."""
    if expires < now_s:
        return False
    return hmac.compare_digest(signature(secret, image_id, expires).encode(), given.encode())


def subject(image_id: str, variant: str | None) -> str:
    """What a signature covers: the image id, or the image id and the variant."""
    return image_id if variant is None else f"{image_id}/{variant}"
