"""A Worker that imports nothing of the app at start: `GET /?module=NAME` imports NAME
then, and answers the WebAssembly memory after it. bench/coldstart.py times the request from outside: workerd's clock does not
advance steadily inside an isolate while Python runs, so it cannot time the import.
The Durable Object class is declared only because wrangler.toml binds it."""

import gc
import importlib
import importlib.util
import json
import sys
from urllib.parse import parse_qs, urlparse

from workers import DurableObject, Response, WorkerEntrypoint


class BudgetLedger(DurableObject):
    pass


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        query = parse_qs(urlparse(request.url).query)
        name = (query.get("module") or [""])[0]
        before = len(sys.modules)
        if name:
            importlib.import_module(name)
        gc.collect()
        import pyodide_js  # the WebAssembly memory: it grows and never shrinks

        return Response(json.dumps({
            "module": name, "new_modules": len(sys.modules) - before,
            "wasm_bytes": int(pyodide_js._module.HEAPU8.length),
            "python": sys.version.split()[0],
            "pydantic_v1_shipped": importlib.util.find_spec("pydantic.v1") is not None,
        }), headers={"content-type": "application/json"})
