"""The Ledger port on the wire: its dataclasses (ledger_messages.py) as JSON-able values and back,
and the port's methods with their argument and answer types read from `ports.Ledger`
itself, so the Durable Object's two sides (runtime/durable_object.py, entry.py) are one
generic function each. Standard library only."""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from functools import cache
from typing import Any, Union


def encode(value: Any) -> Any:
    """A dataclass as a dict of its fields (recursively); tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    return value


def decode(hint: Any, data: Any) -> Any:
    """`data` (from `encode`, after the RPC) as the type `hint` says; unknown keys are dropped,
    so an older peer's extra field never breaks a newer one."""
    if data is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return decode(inner[0], data) if len(inner) == 1 else data
    if origin in (tuple, list):
        item = typing.get_args(hint)[0] if typing.get_args(hint) else Any
        items = [decode(item, v) for v in data]
        return tuple(items) if origin is tuple else items
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = _hints(hint)
        return hint(**{f.name: decode(hints[f.name], data[f.name])
                       for f in dataclasses.fields(hint) if f.name in data})
    if hint is float and isinstance(data, int):
        return float(data)
    if hint is int and isinstance(data, float) and data.is_integer():
        return int(data)  # a JS number
    return data


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@dataclasses.dataclass(frozen=True)
class Method:
    name: str
    params: tuple[Any, ...]  # each argument's type
    answer: Any


@cache
def methods() -> dict[str, Method]:
    """The Ledger port's methods (ports.Ledger), by name."""
    from ..ports import Ledger

    out = {}
    for name, fn in vars(Ledger).items():
        if name.startswith("_") or not inspect.iscoroutinefunction(fn):
            continue
        hints = typing.get_type_hints(fn)
        params = tuple(hints[p] for p in list(inspect.signature(fn).parameters)[1:])
        out[name] = Method(name, params, hints["return"])
    return out


def encode_call(name: str, args: tuple[Any, ...]) -> list[Any]:
    return [encode(a) for a in args]


def decode_args(name: str, args: tuple[Any, ...]) -> list[Any]:
    return [decode(hint, a) for hint, a in zip(methods()[name].params, args, strict=False)]  # trailing parameters may be left to their defaults


def decode_answer(name: str, data: Any) -> Any:
    return decode(methods()[name].answer, data)


async def serve(ledger: Any, name: str, args: tuple[Any, ...]) -> dict[str, Any]:
    """The Durable Object's side of one call: wire arguments in, `{answer}` or, for a typed
    error (a refused config change), `{error}` out: typed errors cross as data."""
    from ..errors import ImageWorkerError

    try:
        answer = await getattr(ledger, methods()[name].name)(*decode_args(name, args))
    except ImageWorkerError as exc:
        return {"error": exc.to_dict()}
    return {"answer": encode(answer)}


def answer_of(name: str, data: dict[str, Any]) -> Any:
    """The caller's side: the typed answer, or the typed error raised again."""
    from ..errors import from_dict

    if "error" in data:
        raise from_dict(data["error"])
    return decode_answer(name, data.get("answer"))
