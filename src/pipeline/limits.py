"""What one request may hold in memory. A Worker isolate has 128 MB for everything it
runs (Pyodide and the app take about a third); one request is kept under 64 MB, as
measured by bench/memory.py (docs/benchmarks.md). Sizes are decoded image bytes."""

MIB = 1024 * 1024

# All inline (base64) input images of one request together. Base64 in a JSON body is
# held three times (the body, the parsed string, the decoded bytes) before any call.
MAX_INLINE_IMAGE_BYTES = 8 * MIB
MAX_INLINE_BASE64_CHARS = (MAX_INLINE_IMAGE_BYTES + 2) // 3 * 4

# One uploaded image (POST /v1/uploads), and all input images of one edit together
# (stored, uploaded and inline): they are held while the provider call is built and sent.
MAX_UPLOAD_BYTES = 16 * MIB
MAX_INPUT_BYTES = 16 * MIB

# The images one provider call (or the calls of one request run together) may return,
# worst case (uncompressed pixels): a request for more is split into several calls,
# each stored before the next is made.
MAX_CALL_OUTPUT_BYTES = 12 * MIB


def worst_case_image_bytes(size: str | None, transparent: bool = False) -> int:
    """The largest an image of `size` ('WxH') can be: its raw pixels (PNG of noise)."""
    try:
        width, height = (int(v) for v in (size or "").split("x"))
    except ValueError:
        width = height = 2048  # 'auto' or unknown: the largest common square
    return width * height * (4 if transparent else 3)


def calls_at_once(size: str | None, per_call: int, provider_parallel: int, transparent: bool = False) -> int:
    """How many calls of one request may run together: the provider's allowance, or fewer
    when their images together would not fit MAX_CALL_OUTPUT_BYTES (never less than one)."""
    fits = MAX_CALL_OUTPUT_BYTES // max(1, per_call * worst_case_image_bytes(size, transparent))
    return max(1, min(provider_parallel, fits))


def images_per_call(size: str | None, provider_max: int, transparent: bool = False) -> int:
    """How many images one call may ask for: the provider's limit, or fewer when their
    worst-case bytes would not fit MAX_CALL_OUTPUT_BYTES (never less than one)."""
    fits = MAX_CALL_OUTPUT_BYTES // max(1, worst_case_image_bytes(size, transparent))
    return max(1, min(provider_max, fits))
