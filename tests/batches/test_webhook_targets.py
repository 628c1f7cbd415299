"""Webhook URLs a caller aims: only public https hosts, in every spelling an address has."""

from __future__ import annotations

import pytest

from local.queue import InProcessQueue
from pipeline.webhook_targets import BadTarget, Policy, checked

STRICT = Policy(own_hosts=("images.example.com",))

REFUSED = [
    "http://hooks.example.com/x",  # http outside local development
    "ftp://hooks.example.com/x", "javascript:alert(1)", "hooks.example.com/x",
    "https://127.0.0.1/x", "https://127.0.0.1:8443/x", "https://127.1/x", "https://127.0.1/x",
    "https://2130706433/x", "https://0x7f000001/x", "https://0x7F.0.0.1/x", "https://0177.0.0.1/x",
    "https://017700000001/x", "https://127.0.0.1./x", "https://0/x", "https://0.0.0.0/x",
    "https://[::1]/x", "https://[::]/x", "https://[::ffff:127.0.0.1]/x", "https://[::ffff:7f00:1]/x",
    "https://[0:0:0:0:0:ffff:a00:1]/x", "https://[fe80::1]/x", "https://[fc00::1]/x", "https://[fd12:3456::1]/x",
    "https://[2002:7f00:1::]/x",  # 6to4 around 127.0.0.1
    "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/x",  # Teredo around 127.0.0.1 (obfuscated)
    "https://[64:ff9b::a00:1]/x",  # NAT64 around 10.0.0.1
    "https://169.254.169.254/latest/meta-data/", "https://0xa9fea9fe/x", "https://2852039166/x",
    "https://10.0.0.1/x", "https://10.1/x", "https://172.16.0.1/x", "https://172.31.255.255/x", "https://192.168.1.1/x",
    "https://100.64.0.1/x", "https://100.127.255.254/x", "https://224.0.0.1/x", "https://239.255.255.250/x",
    "https://255.255.255.255/x", "https://240.0.0.1/x", "https://198.18.0.1/x", "https://192.0.2.1/x",
    "https://localhost/x", "https://LOCALHOST/x", "https://localhost./x", "https://api.localhost/x",
    "https://printer.local/x", "https://metadata.google.internal/x", "https://router.lan/x", "https://intranet/x",
    "https://images.example.com/v1/batches",  # this Worker itself
    "https://user:pw@hooks.example.com/x", "https://hooks.example.com@127.0.0.1/x",
    "https://hooks.example.com\\@127.0.0.1/x", "https://hooks.example.com /x", "https://hooks.exa\tmple.com/x",
    "https://%31%32%37.0.0.1/x", "https://999.0.0.1/x", "https://1.2.3.4.5/x", "https://0x100000000/x",
    "https://hooks..example.com/x", "https://-bad-.example.com/x", "https://hooks.example.com:99999/x",
    "https://" + "a" * 2000 + ".com/x",
]

ACCEPTED = [
    ("https://hooks.example.com/x", "https://hooks.example.com/x"),
    ("HTTPS://Hooks.Example.COM:8443/a/b?c=d#frag", "https://hooks.example.com:8443/a/b?c=d"),
    ("https://hooks.example.com", "https://hooks.example.com/"),
    ("https://8.8.8.8/x", "https://8.8.8.8/x"),
    ("https://134744072/x", "https://134744072/x"),  # 8.8.8.8 in decimal: public, sent as fetch reads it
    ("https://[2606:4700:4700::1111]/x", "https://[2606:4700:4700::1111]/x"),
]


@pytest.mark.parametrize("url", REFUSED)
def test_refused(url):
    with pytest.raises(BadTarget):
        checked(url, STRICT)


@pytest.mark.parametrize("url,sent", ACCEPTED)
def test_accepted_and_sent_as_checked(url, sent):
    assert checked(url, STRICT) == sent


def test_local_development_allows_http_and_loopback_only_when_set():
    local = Policy(allow_local=True)
    assert checked("http://127.0.0.1:9000/hook", local) == "http://127.0.0.1:9000/hook"
    assert checked("http://localhost:9000/hook", local) == "http://localhost:9000/hook"
    with pytest.raises(BadTarget):
        checked("http://127.0.0.1:9000/hook", Policy())
    with pytest.raises(BadTarget):
        checked("https://user@127.0.0.1/hook", local)  # credentials never


@pytest.mark.parametrize("door", ["/v1/jobs", "/v1/batches"])
async def test_every_door_refuses_an_internal_webhook_before_queueing(make_services, client_for, door):
    queue = InProcessQueue(paused=True)
    services = make_services({"PLACEHOLDER_ENABLED": "true", "WEBHOOK_SECRET": "whsec-targets"}, queue=queue)
    client = client_for(services)
    item = {"prompt": "x", "provider": "placeholder"}
    for url in ("http://127.0.0.1:9/x", "https://0x7f000001/x", "https://[::ffff:169.254.169.254]/x", "https://localhost/x"):
        body = {**item, "webhook_url": url} if door == "/v1/jobs" else {"items": [item], "webhook_url": url}
        answer = await client.post(door, json=body)
        assert answer.status_code == 422 and answer.json()["error"]["details"]["field"] == "webhook_url", answer.text
    assert await services.db.all("SELECT id FROM batches") == [] and queue.pending == []
    body = {**item, "webhook_url": "https://hooks.example.com/x"} if door == "/v1/jobs" else {
        "items": [item], "webhook_url": "https://hooks.example.com/x"}
    accepted = await client.post(door, json=body)
    assert accepted.status_code == 202
    row = await services.db.first("SELECT webhook_url FROM batches")
    assert row["webhook_url"] == "https://hooks.example.com/x"
