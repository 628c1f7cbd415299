"""Read an image's real format (and, for uploads, its size) from its bytes, before
anything is paid: the one place image types are sniffed.

The declared content type is not trusted: the signature decides the format, the
header gives the dimensions, and a file cut short (no PNG IEND, no JPEG EOI, a
RIFF shorter than it says) or absurdly large is refused."""

from __future__ import annotations

import struct

# File extension of each image type we store or send (R2 keys, multipart filenames).
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
MAX_SIDE = 16_384
MAX_PIXELS = 50_000_000  # a decoded RGBA image this size is 200 MB: more than an isolate holds

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class BadImage(ValueError):
    pass


def _png(data: bytes) -> tuple[int, int]:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise BadImage("PNG without an IHDR header")
    if not data.endswith(_PNG_END):
        raise BadImage("PNG is truncated (no IEND chunk at the end)")
    return struct.unpack(">II", data[16:24])


def _jpeg(data: bytes) -> tuple[int, int]:
    if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise BadImage("JPEG is truncated (no end-of-image marker)")
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            raise BadImage("JPEG header is corrupt")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        if length < 2:
            raise BadImage("JPEG header is corrupt")
        i += 2 + length
    raise BadImage("JPEG without a frame header")


def _webp(data: bytes) -> tuple[int, int]:
    declared = struct.unpack("<I", data[4:8])[0] + 8
    if len(data) < 30 or declared > len(data):
        raise BadImage("WebP is truncated (shorter than its RIFF header says)")
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    raise BadImage("WebP without a readable frame header")


# signature -> (content type, header reader): data, not an if-chain per format
_FORMATS = (
    (lambda d: d.startswith(_PNG_SIG), "image/png", _png),
    (lambda d: d.startswith(b"\xff\xd8\xff"), "image/jpeg", _jpeg),
    (lambda d: d[:4] == b"RIFF" and d[8:12] == b"WEBP", "image/webp", _webp),
)


def image_type(data: bytes) -> str | None:
    """The content type from the bytes' signature: PNG, JPEG or WebP, else None."""
    return next((content_type for matches, content_type, _ in _FORMATS if matches(data)), None)


def inspect(data: bytes) -> tuple[str, int, int]:
    """(content type, width, height), or BadImage saying what is wrong."""
    for matches, content_type, read in _FORMATS:
        if matches(data):
            try:
                width, height = read(data)
            except (struct.error, IndexError) as exc:
                raise BadImage(f"{content_type} header is truncated") from exc
            if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE) or width * height > MAX_PIXELS:
                raise BadImage(f"{width}x{height} is outside what can be processed (sides up to {MAX_SIDE})")
            return content_type, width, height
    raise BadImage("not a PNG, JPEG or WebP image (judged by its bytes)")
