"""One isolate, many requests (memory/byte_budget.py): the largest requests at once,
against a fake OpenAI answering with incompressible 1536x1024 PNGs (two per call,
~9.4 MB of image bytes, ~12.6 MB of JSON). Each ends 201 or refused with the
retryable `isolate_busy` (nothing charged), and Pyodide's WebAssembly memory, read
inside the isolate by the test-only probe, stays at or under 96 MiB of the 128 MB."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.fakes.noise import openai_noise_reply
from tests.workerd import harness
from tests.workerd.conftest import AUTH

MIB = harness.MIB
REPLY = openai_noise_reply(1536, 1024, 2)


def _probe(session: harness.Workerd) -> dict:
    r = httpx.get(f"{session.url}{harness.MEMORY_PROBE_PATH}", timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def test_eight_concurrent_largest_generations_keep_the_isolate_under_96_mib(probed, fakes):
    fakes.openai.route("POST", "/v1/images/generations", REPLY)
    before = _probe(probed)
    body = {"prompt": "noise", "provider": "openai", "size": "1536x1024", "n": 4}

    def one(_i: int) -> httpx.Response:
        return httpx.post(f"{probed.url}/v1/generations", json=body, headers=AUTH, timeout=300)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(8)))
    after = _probe(probed)
    statuses = sorted(a.status_code for a in answers)
    print(f"\nwasm memory {before['wasm_bytes'] / MIB:.1f} -> {after['wasm_bytes'] / MIB:.1f} MiB;"
          f" answers {statuses}; budget {after['budget']}")
    assert set(statuses) <= {201, 503}, [a.text[:300] for a in answers]
    assert statuses.count(201) >= 1
    for answer in answers:
        if answer.status_code == 201:
            assert len(answer.json()["images"]) == 4
            continue
        error = answer.json()["error"]
        assert error["code"] == "isolate_busy" and error["retryable"] is True and answer.headers["retry-after"]
        row = httpx.get(f"{probed.url}/v1/generations/{error['details']['request_id']}", headers=AUTH, timeout=30).json()
        assert row["status"] == "refused" and row["actual_cost_micros"] == 0  # nothing charged for a refused one
    assert len(fakes.openai.received) == 2 * statuses.count(201)  # refused ones never reached the provider
    assert after["budget"]["held_bytes"] == 0  # every request gave its bytes back
    assert after["budget"]["peak_bytes"] <= after["budget"]["capacity_bytes"]
    assert after["wasm_bytes"] <= 96 * MIB


def test_the_probe_is_off_unless_a_test_setting_turns_it_on(worker, http):
    """The `worker` session runs as production does: no probe, whatever a request says."""
    for method in ("GET", "PUT", "POST"):
        answer = http.request(method, harness.MEMORY_PROBE_PATH, headers={harness.MEMORY_PROBE_SETTING: "on"},
                              params={harness.MEMORY_PROBE_SETTING: "on"})
        assert answer.status_code == 404, (method, answer.text)
