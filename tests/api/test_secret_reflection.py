"""A provider that echoes what it was sent (the Authorization header included) never makes
the Worker reveal its key: not in the error answer, the SSE stream, the stored row or a log."""

from __future__ import annotations

import logging

from pipeline import redact
from tests.fakes.openai import GENERATIONS, OPENAI_ENV
from tests.fakes.server import Reply

LONG = "x" * 5000


def _echo(req) -> Reply:  # the fake server's request
    said = f"bad request; you sent Authorization: {req.headers.get('authorization')} api_key={req.headers.get('authorization', '')[7:]} {LONG}"
    return Reply(400, {"error": {"message": said, "type": "invalid_request_error", "code": req.headers.get("authorization")}})


async def test_an_echoing_provider_never_reveals_the_key(make_services, client_for, fake_server, caplog):
    openai = fake_server()
    openai.route("POST", GENERATIONS, _echo)
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": openai.url, "API_TOKEN": "tok-admin-secret-42"})
    client = client_for(services)
    key = OPENAI_ENV["OPENAI_API_KEY"]
    auth = {"Authorization": "Bearer tok-admin-secret-42"}
    with caplog.at_level(logging.DEBUG):
        answer = await client.post("/v1/generations", json={"prompt": "p", "provider": "openai"}, headers=auth)
        streamed = await client.post("/v1/generations?stream=true", json={"prompt": "p", "provider": "openai"}, headers=auth)
    assert openai.received and openai.received[0].headers["authorization"] == f"Bearer {key}"  # it did see the key
    error = answer.json()["error"]
    assert answer.status_code >= 400 and "bad request" in error["message"]
    assert len(error["message"]) <= redact.MAX_TEXT
    stored = (await client.get(f"/v1/generations/{error['details']['request_id']}", headers=auth)).text
    rows = str(await services.db.all("SELECT * FROM generation_requests")) + str(await services.db.all("SELECT * FROM usage_events"))
    for text in (answer.text, streamed.text, stored, rows, caplog.text):
        assert key not in text and "tok-admin-secret-42" not in text
    assert "[redacted]" in error["message"]


def test_credential_shapes_are_scrubbed_even_when_never_registered():
    text = ("key sk-proj-AbC123dEf456GhI789 and AIzaSyA1234567890abcdefghijklmnopqrs, token ya29.a0AfH6SMBxyz123456,"
            " ours iwk_abcdefghijklmnop, Bearer abc.def.ghi-jkl, x-goog-api-key: zzzzzzzzzz,"
            " -----BEGIN PRIVATE KEY-----\nMIIEv...\n-----END PRIVATE KEY-----")
    clean = redact.scrub(text)
    for secret in ("sk-proj-AbC123dEf456GhI789", "AIzaSyA1234567890abcdefghijklmnopqrs", "ya29.a0AfH6SMBxyz123456",
                   "iwk_abcdefghijklmnop", "abc.def.ghi-jkl", "zzzzzzzzzz", "MIIEv"):
        assert secret not in clean
    assert "Bearer [redacted]" in clean and "x-goog-api-key: [redacted]" in clean
    assert redact.scrub("a risk-assessment of the pk-12 scene") == "a risk-assessment of the pk-12 scene"
