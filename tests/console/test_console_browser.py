"""The review console in a real browser (Debian's chromium, headless) against the local
server with the placeholder provider: log in, generate and watch the stream, approve and
reject (one, many, by keyboard), filter, the usage chart, edit a budget, batches, docs.
Screenshots go to .artifacts/console/ (git-ignored)."""

from __future__ import annotations

import re

from tests.fakes.browser import ARTIFACTS, LocalServer, wait_until

from .conftest import ADMIN_TOKEN


def _key(admin, scopes: list[str], caller: str = "reviewer-1") -> str:
    answer = admin.post("/v1/keys", json={"name": "console test", "caller": caller, "scopes": scopes})
    assert answer.status_code == 201, answer.text
    return answer.json()["key"]


def _log_in(page, url: str, key: str) -> None:
    page.goto(url + "/console")
    page.wait_for_selector("#login-form")
    page.fill("#login-key", key)
    page.click("#login-form button")
    page.wait_for_selector("#nav:not([hidden])")


def _generate(admin, prompt: str, **extra) -> dict:
    answer = admin.post("/v1/generations", json={"prompt": prompt, **extra})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_reviewer_logs_in_generates_and_reviews(server: LocalServer, admin, page):
    key = _key(admin, ["review", "generate"])
    page.goto(server.url + "/console")
    assert page.is_visible("#login") and not page.is_visible("#nav")  # the API needs a key here
    _log_in(page, server.url, key)
    assert key not in page.url and page.evaluate("sessionStorage.getItem('iw.key')") == key
    assert "(admin)" not in page.inner_text("#who")

    # Try it: the live stream, read with fetch, ends with the stored result.
    page.click("a[href='#try']")
    page.fill("#try-form textarea[name=prompt]", "a lighthouse at dusk")
    page.select_option("#try-form select[name=ctx_kind]", "location")
    page.fill("#try-form input[name=ctx_setting]", "a rocky northern coast")
    page.click("#try-form button[type=submit]")
    page.wait_for_selector("#events li[data-event=completed]")
    events = page.eval_on_selector_all("#events li", "els => els.map(e => e.dataset.event)")
    assert events[0] == "accepted" and "attempt" in events and "image" in events and events[-1] == "completed"
    page.wait_for_selector("#try-result img.final")
    generated = page.inner_text("#try-result .hint").split(" · ")[0]
    stored = admin.get(f"/v1/generations/{generated}").json()
    assert stored["status"] == "succeeded" and stored["caller"] == "reviewer-1"
    assert stored["context"]["setting"] == "a rocky northern coast"
    page.screenshot(path=str(ARTIFACTS / "try-it.png"), full_page=True)

    # Two more from another caller: a reviewer sees every caller's images.
    other = [_generate(admin, f"harbour {i}", caller="story-app") for i in range(2)]
    page.click("a[href='#gallery']")
    wait_until(page, "document.querySelectorAll('#cards .card').length >= 3")
    first = page.locator("#cards .card").first
    assert first.get_attribute("data-gen") == other[-1]["id"]  # newest first
    assert "placeholder/placeholder-1" in first.inner_text() and "1 attempt" in first.inner_text()

    # Keyboard: j focuses the newest, a approves it.
    page.keyboard.press("j")
    page.keyboard.press("a")
    newest = other[-1]["images"][0]["id"]
    page.wait_for_selector(f".card[data-image='{newest}'] .approval.approved")
    # The button and the reason dialog reject the next.
    second = other[0]["images"][0]["id"]
    page.click(f".card[data-image='{second}'] button.reject")
    page.fill("#reason-text", "the harbour is too dark")
    page.click("#reason-ok")
    page.wait_for_selector(f".card[data-image='{second}'] .approval.rejected")
    page.screenshot(path=str(ARTIFACTS / "gallery.png"), full_page=True)

    # The decisions are the server's: they survive a reload.
    page.reload()
    page.wait_for_selector(f".card[data-image='{newest}'] .approval.approved")
    assert page.is_visible(f".card[data-image='{second}'] .approval.rejected")
    images = {i["id"]: i for i in admin.get("/v1/images", params={"status": "rejected"}).json()["items"]}
    assert images[second]["reason"] == "the harbour is too dark" and images[second]["reviewer"] == "console test"

    # Filter: approved only.
    page.select_option("#filters select[name=approval]", "approved")
    page.click("#filters button[type=submit]")
    wait_until(page, "document.querySelectorAll('#cards .card').length === 1")
    assert page.locator("#cards .card").first.get_attribute("data-image") == newest

    # Bulk: select the pending ones with x and approve them all with A.
    page.select_option("#filters select[name=approval]", "pending")
    page.click("#filters button[type=submit]")
    wait_until(page, "document.querySelectorAll('#cards .card').length >= 1")
    pending = page.eval_on_selector_all("#cards .card", "els => els.map(e => e.dataset.image)")
    for _ in range(len(pending)):
        page.keyboard.press("j")
        page.keyboard.press("x")
    assert page.inner_text("#selected-count") == f"{len(pending)} selected"
    page.keyboard.press("Shift+A")
    wait_until(page, f"document.querySelectorAll('#cards .approval.approved').length === {len(pending)}")
    still = admin.get("/v1/images", params={"status": "pending"}).json()["items"]
    assert not {i["id"] for i in still} & set(pending)


def test_an_admin_sees_the_chart_and_edits_a_budget(server: LocalServer, admin, page):
    _generate(admin, "a fox in the snow")
    _log_in(page, server.url, ADMIN_TOKEN)
    assert "(admin)" in page.inner_text("#who")
    page.click("a[href='#usage']")
    page.wait_for_selector("#chart svg rect", state="attached")
    page.select_option("#usage-metric", "requests")
    wait_until(page, "[...document.querySelectorAll('#chart rect')].some(r => +r.dataset.value > 0)")
    bars = page.eval_on_selector_all("#chart rect", "els => els.map(e => [e.dataset.day, e.dataset.provider, +e.dataset.value])")
    requests_today = sum(v for _, p, v in bars if p == "placeholder")
    assert requests_today == admin.get("/v1/usage").json()["days"][-1]["totals"]["requests"]
    assert page.get_attribute("#gauge svg", "data-fraction") == "1.0000"  # the placeholder is free
    assert re.search(r"\d+ requests in the period · 0 refused by the budget · 0 failed today", page.inner_text("#usage-counts"))

    page.fill("#budget-form input[name=daily_budget_micros]", "12.5")
    page.fill("#budget-form input[name=max_cost_per_image_micros]", "0.25")
    page.click("#budget-form button[type=submit]")
    page.wait_for_selector("#budget-msg:has-text('saved')")
    config = admin.get("/v1/budget").json()["config"]
    assert config["daily_budget_micros"] == 12_500_000 and config["max_cost_per_image_micros"] == 250_000
    page.wait_for_selector("#gauge text:has-text('left of $12.50')")
    page.screenshot(path=str(ARTIFACTS / "usage.png"), full_page=True)


def test_a_batch_shows_its_progress_and_retries_its_failed_items(server: LocalServer, admin, page):
    _log_in(page, server.url, ADMIN_TOKEN)
    page.click("a[href='#batches']")
    page.fill("#batch-form textarea", "a red kite\na blue kite\na green kite")
    page.click("#batch-form button[type=submit]")
    page.wait_for_selector("#batch-out[data-status=completed]")
    assert page.get_attribute("#batch-out .counts", "data-done") == "3"
    assert page.locator("#batch-out tbody tr").count() == 3
    assert not page.is_visible("#batch-out button.retry")  # nothing failed

    # The second item names a model no configured provider offers: it fails when it runs.
    batch = admin.post("/v1/batches", json={"items": [{"prompt": "a kite"}, {"prompt": "a kite",
                                                                          "model": "gpt-image-2.6-flare"}]}).json()
    page.fill("#batch-open", batch["id"])
    page.click("#batch-open-btn")
    page.wait_for_selector("#batch-out[data-status=completed] button.retry")
    assert "failed 1" in page.inner_text("#batch-out .counts")
    page.screenshot(path=str(ARTIFACTS / "batch.png"), full_page=True)
    page.click("#batch-out button.retry")
    wait_until(page, f"(document.querySelector('#batch-out h2') || {{}}).textContent !== '{batch['id']}'")
    again = page.inner_text("#batch-out h2")
    page.wait_for_selector("#batch-out[data-status=completed] .counts[data-done='1']")
    retried = admin.get(f"/v1/batches/{again}").json()
    assert retried["total"] == 1 and retried["items"][0]["status"] == "failed"  # the same request, run again


def test_the_open_local_server_needs_no_key_and_docs_load_offline(tmp_path, browser):
    from tests.clocks import clock_at

    local = LocalServer({}, tmp_path, clock_at()).start()
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        page = context.new_page()
        page.set_default_timeout(10_000)
        urls: list[str] = []
        page.on("request", lambda r: urls.append(r.url))
        page.goto(local.url + "/")  # leads to the console
        page.wait_for_selector("#nav:not([hidden])")
        assert page.url == local.url + "/console" and page.inner_text("#who") == "open local server"
        assert not page.is_visible("#login")
        page.click("a[href='#catalog']")
        page.wait_for_selector("#catalog tbody tr[data-model]")
        assert page.locator("#catalog tbody tr[data-model='gpt-image-2.6-flare']").count() == 1
        page.goto(local.url + "/docs")
        page.wait_for_selector("details.op summary:has-text('/v1/generations')")
        page.fill("#find", "batches retry")
        assert page.locator("details.op:visible").count() == 1
        page.screenshot(path=str(ARTIFACTS / "docs.png"), full_page=True)
        outside = [u for u in urls if not u.startswith(local.url) and not u.startswith("data:")]
        assert not outside, f"the pages fetched from elsewhere: {outside}"
        context.close()
    finally:
        local.stop()


def test_a_generation_shows_its_references_and_the_entity_the_images_that_used_it(server: LocalServer, admin, page):
    portrait = _generate(admin, "mara, portrait", caller="story-app")["images"][0]["id"]
    assert admin.post(f"/v1/images/{portrait}/approve", json={"reviewer": "ed"}).status_code == 200
    primary = admin.put("/v1/entities/character/mara/primary/portrait", params={"caller": "story-app"},
                        json={"image_id": portrait})
    assert primary.status_code == 200, primary.text
    made = _generate(admin, "mara on the pier", caller="story-app",
                     references=[{"entity_type": "character", "entity_id": "mara"}])
    assert made["references"][0]["image_id"] == portrait
    _log_in(page, server.url, _key(admin, ["review"]))
    page.click("a[href='#gallery']")
    card = f"#cards .card[data-gen='{made['id']}']"
    page.wait_for_selector(card)
    assert page.inner_text(f"{card} .references") == "references: character mara (portrait, subject)"
    page.click(f"{card} a.reference")  # to the entity's page
    page.wait_for_selector("#view-entity:not([hidden]) #entity-uses")
    uses = page.eval_on_selector_all("#entity-uses .card", "els => els.map(e => [e.dataset.gen, e.dataset.image])")
    assert uses == [[made["id"], made["images"][0]["id"]]]
    page.screenshot(path=str(ARTIFACTS / "entity-references.png"), full_page=True)
