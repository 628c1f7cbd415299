"""The placeholder's pictures: a deterministic mock-up with the prompt's words on it.

Pure Python (zlib, no Pillow) so it runs in Pyodide as it does under CPython: a two-colour
gradient, a few soft discs, and the words in a 5x7 bitmap font on a dark panel, encoded as
PNG. Drawing works on whole row spans (slice assignment), never pixel by pixel."""

from __future__ import annotations

import hashlib
import struct
import zlib

# 5x7 glyphs, one int per row, bit 4 = leftmost column. Lower case is drawn as upper case.
_FONT: dict[str, tuple[int, ...]] = {
    "A": (0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11), "B": (0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E),
    "C": (0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E), "D": (0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E),
    "E": (0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F), "F": (0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10),
    "G": (0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F), "H": (0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11),
    "I": (0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E), "J": (0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C),
    "K": (0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11), "L": (0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F),
    "M": (0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11), "N": (0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11),
    "O": (0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E), "P": (0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10),
    "Q": (0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D), "R": (0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11),
    "S": (0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E), "T": (0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04),
    "U": (0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E), "V": (0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04),
    "W": (0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A), "X": (0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11),
    "Y": (0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04), "Z": (0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F),
    "0": (0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E), "1": (0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E),
    "2": (0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F), "3": (0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E),
    "4": (0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02), "5": (0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E),
    "6": (0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E), "7": (0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08),
    "8": (0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E), "9": (0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C),
    ".": (0, 0, 0, 0, 0, 0x0C, 0x0C), ",": (0, 0, 0, 0, 0x0C, 0x04, 0x08), "!": (4, 4, 4, 4, 4, 0, 4),
    "?": (0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04), "-": (0, 0, 0, 0x1F, 0, 0, 0), "'": (4, 4, 8, 0, 0, 0, 0),
    ":": (0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0), " ": (0, 0, 0, 0, 0, 0, 0),
}
_UNKNOWN = _FONT["?"]
CHARS_PER_LINE = 22  # the text scale is chosen so a line holds about this many characters
MAX_LINES = 6


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(buf: bytes | bytearray, width: int, height: int, channels: int) -> bytes:
    stride = width * channels
    raw = b"".join(b"\x00" + bytes(buf[y * stride:(y + 1) * stride]) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 6 if channels == 4 else 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b"")


def wrap(text: str, width: int, max_lines: int) -> list[str]:
    """Words into lines of at most `width` characters; long words are cut, overflow ends in '...'."""
    words = [w[i:i + width] for w in text.upper().split() for i in range(0, len(w), width)]
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: width - 3].rstrip() + "..."
    return lines


class _Canvas:
    def __init__(self, width: int, height: int, channels: int) -> None:
        self.w, self.h, self.ch = width, height, channels
        self.buf = bytearray(width * height * channels)

    def span(self, y: int, x0: int, x1: int, colour: bytes) -> None:
        x0, x1 = max(0, x0), min(self.w, x1)
        if 0 <= y < self.h and x1 > x0:
            off = (y * self.w + x0) * self.ch
            self.buf[off:off + (x1 - x0) * self.ch] = colour * (x1 - x0)

    def rect(self, x0: int, y0: int, x1: int, y1: int, colour: bytes) -> None:
        for y in range(max(0, y0), min(self.h, y1)):
            self.span(y, x0, x1, colour)

    def disc(self, cx: int, cy: int, r: int, colour: bytes) -> None:
        for y in range(max(0, cy - r), min(self.h, cy + r + 1)):
            dx = int((r * r - (y - cy) ** 2) ** 0.5)
            self.span(y, cx - dx, cx + dx + 1, colour)

    def text(self, x: int, y: int, line: str, scale: int, colour: bytes) -> None:
        for i, char in enumerate(line):
            glyph = _FONT.get(char, _UNKNOWN)
            gx = x + i * 6 * scale
            for row, bits in enumerate(glyph):
                for col in range(5):
                    if bits & (0x10 >> col):
                        self.rect(gx + col * scale, y + row * scale, gx + (col + 1) * scale, y + (row + 1) * scale, colour)


def _mix(a: bytes, b: bytes, t: float) -> bytes:
    return bytes(round(a[i] + (b[i] - a[i]) * t) for i in range(3))


def render_png(seed: bytes, width: int, height: int, transparent: bool = False, text: str = "") -> bytes:
    """A deterministic picture for `seed`, with `text` (the prompt) written on it and the
    size in a corner; RGBA with a clear border when transparent."""
    digest = hashlib.sha256(seed).digest()
    channels = 4 if transparent else 3
    alpha = b"\xff" if transparent else b""
    canvas = _Canvas(width, height, channels)
    top, bottom = digest[0:3], digest[3:6]
    for y in range(height):
        canvas.span(y, 0, width, _mix(top, bottom, y / max(1, height - 1)) + alpha)
    side = min(width, height)
    for k in range(3):  # soft discs: the same seed puts them in the same places
        d = digest[8 + 4 * k: 12 + 4 * k]
        colour = _mix(bytes(d[:3]), b"\xff\xff\xff", 0.35) + alpha
        canvas.disc(d[0] * width // 256, d[1] * height // 256, max(1, side * (8 + d[2] % 16) // 64), colour)
    if text.strip() and side >= 32:
        scale = max(1, width // (6 * CHARS_PER_LINE))
        per_line = max(1, (width - 4 * scale) // (6 * scale))
        max_lines = max(1, min(MAX_LINES, (height * 6 // 10) // (9 * scale)))
        lines = wrap(text, per_line, max_lines)
        block_h = len(lines) * 9 * scale
        y0 = (height - block_h) // 2
        canvas.rect(0, y0 - 2 * scale, width, y0 + block_h + scale, b"\x20\x20\x28" + alpha)
        for n, line in enumerate(lines):
            x = (width - (len(line) * 6 - 1) * scale) // 2
            canvas.text(x, y0 + n * 9 * scale, line, scale, b"\xf4\xf4\xf4" + alpha)
    if side >= 64:
        label = f"{width}X{height}"
        small = max(1, side // 256)
        canvas.text(2 * small, height - 9 * small, label, small, b"\xf4\xf4\xf4" + alpha)
    if transparent:  # a clear border, so a mock-up shows the transparency
        border = max(1, side // 8)
        clear = b"\x00\x00\x00\x00"
        canvas.rect(0, 0, width, border, clear)
        canvas.rect(0, height - border, width, height, clear)
        canvas.rect(0, 0, border, height, clear)
        canvas.rect(width - border, 0, width, height, clear)
    return encode_png(canvas.buf, width, height, channels)
