"""A cheap look at a JSON body before `json.loads` or pydantic sees it.

A parser recurses once per nesting level: 10,000 nested arrays (20 KB) exhaust the
stack of a Pyodide isolate and kill it. So the depth is measured first, without
parsing: strings are cut out with one regular expression (C speed, also for a 12 MB
base64 string), then only the brackets that remain are counted. The same pass refuses
what no field of this API takes and the parser would choke on: bytes that are not
UTF-8 and numbers longer than any field's."""

from __future__ import annotations

import re
from array import array
from itertools import accumulate

from ..errors import MalformedBody

MAX_DEPTH = 64
MAX_NUMBER_CHARS = 40  # the largest money value (2**53 - 1) has 16 digits

# A JSON string, once its escapes are gone (_outside_strings).
_STRING = re.compile(rb'"[^"]*"')
_NUMBER = re.compile(rb"[-+0-9.eE]{%d,}" % (MAX_NUMBER_CHARS + 1))
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
# An opening bracket as +1 and a closing one as -1 (signed bytes), so the running sum is the depth.
_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


def depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects outside strings (0 for a scalar)."""
    return _depth_of_stripped(_outside_strings(body))


def check(body: bytes) -> None:
    """Raise MalformedBody for a body that is not UTF-8, nests deeper than MAX_DEPTH,
    or holds a number longer than MAX_NUMBER_CHARS. Validity otherwise is the parser's."""
    if not body.isascii():  # (an ASCII body, the usual one, is UTF-8 without a decoded copy)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedBody(f"the body is not UTF-8 (byte {exc.start})", details={"field": "body"}) from None
    outside = _outside_strings(body)
    if _NUMBER.search(outside):
        raise MalformedBody(f"a number in the body is longer than {MAX_NUMBER_CHARS} characters",
                            details={"field": "body"})
    deepest = _depth_of_stripped(outside)
    if deepest > MAX_DEPTH:
        raise MalformedBody(f"the body nests arrays and objects {deepest} deep; at most {MAX_DEPTH}",
                            details={"field": "body", "max_depth": MAX_DEPTH})


def _depth_of_stripped(outside: bytes) -> int:
    brackets = outside.translate(None, _NOT_BRACKET)
    if not brackets:
        return 0
    return max(0, max(accumulate(array("b", brackets.translate(_STEP)))))


def _outside_strings(body: bytes) -> bytes:
    """The body with every string's content cut out. Escapes go first: removing each
    backslash pair left to right pairs them as a JSON parser does (`\\\\` then `\\"`),
    so no escaped quote can end a string early; outside strings a backslash is invalid anyway."""
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    return _STRING.sub(b'""', body)
