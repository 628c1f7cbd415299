"""The runtime package under CPython, against stand-ins shaped like the Workers bindings.

The real thing needs Pyodide; these fakes model what it relies on
(D1's prepare/bind/all/first/run/batch with results and meta.changes, R2's
put/get/arrayBuffer/httpEtag, a Durable Object's sql.exec().toArray(), JS null
as distinct from undefined) so the adapter's logic runs, over the real
migrations and the real Store, and a regression in it fails here."""

from __future__ import annotations

import sqlite3
import sys
import types

import pytest

from local.ledger import local_ledger
from pipeline.ledger_messages import ReserveRequest, SettleRequest
from tests.clocks import clock_at



class _JsNull:
    def __repr__(self) -> str:
        return "null"


NULL = _JsNull()  # what the runtime sends for None (JSON.parse("null"))
JSNULL = _JsNull()  # what Pyodide hands back for a JS null (pyodide.ffi.jsnull)


class _JsArray(list):
    def push(self, value):
        self.append(value)


class JsProxy:
    """Base of every JS value seen from Python (pyodide.ffi.JsProxy)."""


class JsObj(JsProxy):
    """A JS value seen from Python: attribute access, and `to_py()`."""

    typeof = "object"

    def __init__(self, value):
        self._value = value

    def to_py(self):
        return self._value

    def __getattr__(self, name):
        try:
            return self._value[name]
        except (KeyError, TypeError):
            raise AttributeError(name) from None


def _install_fake_runtime(monkeypatch):
    js = types.ModuleType("js")
    js.JSON = types.SimpleNamespace(parse=lambda text: NULL)
    js.Object = types.SimpleNamespace(fromEntries=dict)
    js.AbortSignal = types.SimpleNamespace(timeout=lambda ms: ("signal", ms))
    js.Array = types.SimpleNamespace(new=_JsArray)
    ffi = types.ModuleType("pyodide.ffi")
    ffi.to_js = lambda value, dict_converter=None: value
    ffi.JsException = type("JsException", (Exception,), {})
    ffi.JsProxy = JsProxy
    ffi.jsnull = JSNULL
    ffi.create_proxy = lambda value: value
    pyodide = types.ModuleType("pyodide")
    pyodide.ffi = ffi
    monkeypatch.setitem(sys.modules, "js", js)
    monkeypatch.setitem(sys.modules, "pyodide", pyodide)
    monkeypatch.setitem(sys.modules, "pyodide.ffi", ffi)
    for name in [m for m in sys.modules if m == "pipeline.runtime" or m.startswith("pipeline.runtime.")]:
        monkeypatch.delitem(sys.modules, name)
    import pipeline.runtime as runtime  # not `from pipeline import`: that would take the stale attribute
    import pipeline.runtime.values as values
    import pipeline.runtime.wiring as wiring
    from pipeline.runtime.bindings.d1 import D1Database
    from pipeline.runtime.bindings.r2 import R2ObjectStore
    from pipeline.runtime.durable_object import DurableLedger, DurableObjectSql

    return types.SimpleNamespace(
        within=runtime.within, build_services=runtime.build_services, read_env=wiring.read_env,
        py_value=values.py_value, js_value=values.js_value, D1Database=D1Database, R2ObjectStore=R2ObjectStore,
        DurableObjectSql=DurableObjectSql, DurableLedger=DurableLedger)


class FakeD1:
    """env.DB: statements bind JS values; None would be `undefined`, so only null is accepted."""

    def __init__(self):
        self.conn = sqlite3.connect(":memory:", isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA foreign_keys = ON")

    def prepare(self, sql):
        return _Stmt(self, sql, ())


class _Stmt:
    def __init__(self, db, sql, params):
        self.db, self.sql, self.params = db, sql, params

    def bind(self, *params):
        assert all(p is not None for p in params), "None reaches D1 as undefined: bind JS null instead"
        return _Stmt(self.db, self.sql, tuple(None if p is NULL else p for p in params))

    def _exec(self):
        return self.db.conn.execute(self.sql, self.params)

    async def all(self):
        rows = [dict(r) for r in self._exec().fetchall()]
        return JsObj({"results": rows, "success": True, "meta": {"changes": 0}})

    async def first(self):
        row = self._exec().fetchone()
        return JsObj(dict(row)) if row else JSNULL

    async def run(self):
        cursor = self._exec()
        return JsObj({"success": True, "meta": {"changes": cursor.rowcount}})


async def _batch(db, statements):
    db.conn.execute("BEGIN")
    try:
        for stmt in statements:
            stmt._exec()
    except Exception:
        db.conn.execute("ROLLBACK")
        raise
    db.conn.execute("COMMIT")
    return JsObj([])


class FakeR2:
    def __init__(self):
        self.objects = {}

    async def put(self, key, body, options):
        self.objects[key] = (bytes(body), options)

    async def get(self, key):
        if key not in self.objects:
            return JSNULL
        body, options = self.objects[key]

        async def array_buffer():
            return memoryview(body)  # what the SDK's converted binding hands over

        return types.SimpleNamespace(arrayBuffer=array_buffer, etag="e1", size=len(body),
                                     httpMetadata=types.SimpleNamespace(contentType=options["httpMetadata"]["contentType"]))

    async def delete(self, key):
        self.objects.pop(key, None)


async def test_d1_adapter_runs_the_real_store_over_the_real_schema(monkeypatch):
    runtime = _install_fake_runtime(monkeypatch)
    from local.db import MIGRATIONS

    fake = FakeD1()
    fake.batch = lambda statements: _batch(fake, statements)
    for path in sorted(MIGRATIONS.glob("*.sql")):
        fake.conn.executescript(path.read_text())
    env = types.SimpleNamespace(DB=fake)
    await runtime.within(env, None, lambda: _d1_checks(runtime))


async def _d1_checks(runtime):
    from pipeline.storage.store import Attempt, Store

    db = runtime.D1Database("DB")
    store = Store(db, clock_at())
    assert await store.create_request("gen_1", caller="app", kind="generate", prompt="p", params={}, requested_provider=None,
                                      n=1, links=[], idempotency_key=None, request_hash="h")
    await store.record_attempt(Attempt("gen_1", "openai", "gpt-image-1", 1, "failed", error_code="provider_timeout"))
    assert await store.finish_unsuccessfully("gen_1", status="failed", error={"code": "provider_timeout", "message": "slow"})
    row = await store.get_request("gen_1")
    assert row["status"] == "failed" and row["attempts"][0]["error_code"] == "provider_timeout"
    assert await db.first("SELECT id FROM images WHERE id = ?", ("none",)) is None
    with pytest.raises(sqlite3.IntegrityError):  # a batch is all or nothing
        await db.batch([("UPDATE generation_requests SET prompt = 'changed' WHERE id = ?", ("gen_1",)),
                        ("INSERT INTO images (id) VALUES (?)", ("img_broken",))])
    assert (await store.get_request("gen_1"))["prompt"] == "p"


async def test_r2_and_durable_object_sql_adapters(monkeypatch):
    runtime = _install_fake_runtime(monkeypatch)
    bucket = FakeR2()
    await runtime.within(types.SimpleNamespace(IMAGES=bucket), None, lambda: _r2_checks(runtime, bucket))
    with pytest.raises(RuntimeError, match="outside a request"):  # bindings belong to a request
        await runtime.R2ObjectStore("IMAGES").get("images/a.png")


async def _r2_checks(runtime, bucket):
    store = runtime.R2ObjectStore("IMAGES")
    await store.put("images/a.png", b"\x89PNG...", "image/png", {"sha256": "x"})
    got = await store.get("images/a.png")
    assert (got.body, got.content_type, got.size) == (b"\x89PNG...", "image/png", 7)
    assert bucket.objects["images/a.png"][1]["customMetadata"] == {"sha256": "x"}
    assert await store.get("missing") is None


async def test_durable_object_sql_adapter(monkeypatch):
    runtime = _install_fake_runtime(monkeypatch)
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row

    class Sql:
        def exec(self, sql, *params):
            assert all(p is not None for p in params)
            rows = [dict(r) for r in conn.execute(sql, tuple(None if p is NULL else p for p in params)).fetchall()]
            return types.SimpleNamespace(toArray=lambda: JsObj(rows))

    from pipeline.ledger.service import LedgerService

    ledger = LedgerService(runtime.DurableObjectSql(Sql()), clock_at())
    answer = await ledger.reserve(ReserveRequest("r1", 1_000, caller="c", provider="openai", model="m"))
    assert answer.ok and (await ledger.settle(SettleRequest("r1", 900))).charged_micros == 900
    assert (await ledger.put_config({"max_cost_per_image_micros": None}))["max_cost_per_image_micros"] is None


def test_env_reading_copies_only_known_settings(monkeypatch):
    runtime = _install_fake_runtime(monkeypatch)
    env = types.SimpleNamespace(OPENAI_API_KEY="sk-1", API_TOKEN="t", DB=object(), SOMETHING_ELSE="x", PUBLIC_BASE_URL="")
    assert runtime.read_env(env) == {"OPENAI_API_KEY": "sk-1", "API_TOKEN": "t"}
    assert runtime.py_value(JsObj({"a": JSNULL, "b": [JSNULL, 1], "c": memoryview(b"x")})) == {"a": None, "b": [None, 1], "c": b"x"}
    assert runtime.js_value(None) is NULL and runtime.js_value({"a": None, "b": [None]}) == {"a": NULL, "b": [NULL]}


def test_on_cloudflare_the_api_fails_closed_unless_told_otherwise(monkeypatch):
    runtime = _install_fake_runtime(monkeypatch)
    bare = runtime.build_services(types.SimpleNamespace(PLACEHOLDER_ENABLED="true"))  # e.g. a named environment
    assert bare.settings.require_token is True and bare.settings.api_token is None
    opened = runtime.build_services(types.SimpleNamespace(REQUIRE_API_TOKEN="false"))
    assert opened.settings.require_token is False


async def test_durable_ledger_calls_the_ledger_object_by_name(monkeypatch):
    """Each Ledger method is one named RPC on the one global object: typed requests as plain
    JS values (None as null), answers back as the port's dataclasses, and a refused config
    change as its typed error."""
    runtime = _install_fake_runtime(monkeypatch)
    from pipeline import errors
    from pipeline.ledger_messages import ReleaseRequest, SettleAnswer, SweepAnswer

    calls = []

    class Stub:
        def __getattr__(self, method):  # a JS stub answers any method name
            async def rpc(*args):
                calls.append((method, args))
                if method == "put_config" and args[0]["max_cost_per_image_micros"] == -1:
                    return JsObj({"error": {"code": "invalid_request", "message": "negative cap"}})
                if method == "put_config":
                    return JsObj({"answer": {"max_cost_per_image_micros": JSNULL}})
                if method == "settle":
                    return JsObj({"answer": {"charged_micros": 900, "difference_micros": -100,
                                             "already_settled": False, "providers": [], "unknown": 1}})
                if method == "release":
                    return JsObj({"answer": {"already": True, "state": JSNULL}})
                return JsObj({"answer": {"expired_reservations": 1, "expired_slots": 0, "pruned": {"refusals": 2}}})

            return rpc

    names = []

    class Namespace:
        def idFromName(self, name):
            names.append(name)
            return ("id", name)

        def get(self, object_id):
            return Stub()

    async def checks():
        ledger = runtime.DurableLedger()
        assert await ledger.settle(SettleRequest("r1", 900)) == SettleAnswer(900, -100, False)
        assert (await ledger.release(ReleaseRequest("r1", "gone"))).state is None
        assert await ledger.sweep() == SweepAnswer(1, 0, {"refusals": 2})
        assert await ledger.put_config({"max_cost_per_image_micros": None}) == {"max_cost_per_image_micros": None}
        with pytest.raises(errors.InvalidRequest, match="negative cap"):
            await ledger.put_config({"max_cost_per_image_micros": -1})

    await runtime.within(types.SimpleNamespace(LEDGER=Namespace()), None, checks)
    method, (sent,) = calls[0]
    assert method == "settle" and sent["request_id"] == "r1" and sent["actual_micros"] == 900
    assert sent["caller"] is NULL and sent["outcomes"] == [] and sent["note"] == {}
    assert calls[2] == ("sweep", ())
    assert calls[3] == ("put_config", ({"max_cost_per_image_micros": NULL},))
    assert names == ["global"]  # one stub per request, for the one ledger


async def test_the_ledger_object_serves_every_port_method_through_the_wire(monkeypatch):
    """The Durable Object's side: wire arguments become the port's types, the answer goes
    back as plain data, a typed error as `{error}`; the methods are the port's, read from it."""
    import inspect

    from pipeline.ledger import wire
    from pipeline.ledger_messages import ReserveAnswer
    from pipeline.ports import ForwardingLedger, Ledger
    from tests.fakes.ledger import req

    def public(cls):
        return {n for n, v in vars(cls).items() if inspect.iscoroutinefunction(v) and not n.startswith("_")}

    assert set(wire.methods()) == public(Ledger) == public(ForwardingLedger) - {"forward"}
    ledger = local_ledger(":memory:", clock_at())
    answer = await wire.serve(ledger, "reserve", (wire.encode(req("r1", 1_000)),))
    assert answer["answer"]["ok"] is True and answer["answer"]["remaining"]["global_micros"] > 0
    assert isinstance(wire.answer_of("reserve", answer), ReserveAnswer)
    refused = await wire.serve(ledger, "put_config", ({"max_cost_per_image_micros": -1},))
    assert refused["error"]["code"] == "invalid_request"


def test_the_fault_hook_wraps_the_bindings_only_when_a_test_setting_says_on(monkeypatch):
    runtime = _install_fake_runtime(monkeypatch)
    from pipeline.fault_plan import FaultyDatabase, FaultyLedger, FaultyObjectStore

    for env in (types.SimpleNamespace(), types.SimpleNamespace(TEST_FAULT_HOOK="true"),
                types.SimpleNamespace(TEST_FAULT_HOOK="ON"), types.SimpleNamespace(TEST_FAULT_HOOK="")):
        plain = runtime.build_services(env)
        assert not isinstance(plain.db, FaultyDatabase) and not isinstance(plain.objects, FaultyObjectStore), env
        assert "TEST_FAULT_HOOK" not in runtime.read_env(env)
    hooked = runtime.build_services(types.SimpleNamespace(TEST_FAULT_HOOK="on"))
    assert isinstance(hooked.db, FaultyDatabase) and isinstance(hooked.objects, FaultyObjectStore)
    assert isinstance(hooked.ledger, FaultyLedger)
