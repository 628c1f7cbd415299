"""RS256 under CPython with the `cryptography` package (Workers: WebCrypto in runtime/crypto.py)."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=8)
def _key(pem: str):  # a cryptography private key object
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(pem.encode(), password=None)


class CryptographySigner:
    async def sign_rs256(self, private_key_pem: str, data: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        return _key(private_key_pem).sign(data, padding.PKCS1v15(), hashes.SHA256())
