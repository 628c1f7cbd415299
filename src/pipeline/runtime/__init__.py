"""The Cloudflare host: the only package that touches the Workers runtime (js, pyodide, workers).

It adapts the bindings to the ports in ports.py and deals only in plain dicts,
strings and bytes. Three facts of workerd shape it (each one broke the Worker before):
- A JS object belongs to the request that created it: nothing JS is kept per isolate,
  every adapter looks its binding up in the current request (scope.py).
- The Workers SDK wraps env and converts values its own way: we unwrap once and
  convert here, both ways (values.py).
- Proxies handed to JS are destroyed when they settle (scope.wait_until).

Modules, each one job:
  values.py          JS ↔ Python conversion
  scope.py           the current request (`within`), ctx.waitUntil (Background)
  fetch.py           HttpClient over fetch
  bindings/          one adapter per env binding: d1, r2, queue, ai
  durable_object.py  the ledger's Durable Object: RPC client and its SQLite storage
  crypto.py          Signer over WebCrypto
  sdk.py             a fix to workers-runtime-sdk
  wiring.py          read_env and build_services
  fault_hook.py      tests only, off unless a test setting: the fault plan over the real bindings
  memory_probe.py    tests only, off unless a test setting: the isolate's WebAssembly memory

entry.py uses the names below."""

from . import fault_hook, memory_probe
from .bindings.queue import queue_messages
from .durable_object import ledger_storage
from .scope import within
from .sdk import install_sdk_fixes
from .values import js_value as to_js_result  # an RPC method's result as a plain JS value
from .values import py_value as from_js_arg  # an RPC argument as plain Python
from .wiring import build_services

__all__ = ["build_services", "fault_hook", "from_js_arg", "install_sdk_fixes", "ledger_storage", "memory_probe", "queue_messages",
           "to_js_result", "within"]
