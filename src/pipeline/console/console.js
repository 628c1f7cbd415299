// The review console: plain JS over the public HTTP API (no framework, no build step).
// The key lives in sessionStorage and travels only as an Authorization header; streams
// are read with fetch and a reader, so no secret ever goes into a URL.
"use strict";

const KEY = "iw.key", FILTERS = "iw.filters", BATCHES = "iw.batches";
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
const state = { admin: false, cursor: null, loading: false, done: false, focus: -1, selected: new Set(), providers: [] };

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "style") Object.assign(el.style, v); // CSSOM, not an attribute: the CSP allows no inline styles
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

const dollars = (micros) => micros === null || micros === undefined ? "–" : "$" + (micros / 1e6).toFixed(micros % 10000 ? 4 : 2);
// The server's UTC day (the budget's day), not this browser's clock.
const today = () => state.today || new Date().toISOString().slice(0, 10);
const daysAgo = (n) => new Date(Date.parse(today() + "T00:00:00Z") - n * 86400000).toISOString().slice(0, 10);

function toast(text, bad = false) {
  const t = $("#toast");
  t.textContent = text;
  t.style.background = bad ? "#b42318" : "";
  t.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove("show"), 3000);
}

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code;
  }
}

async function api(path, { method = "GET", body, raw = false, headers = {} } = {}) {
  const h2 = { ...headers };
  const key = sessionStorage.getItem(KEY);
  if (key) h2.Authorization = "Bearer " + key;
  let payload;
  if (body !== undefined) { h2["content-type"] = "application/json"; payload = JSON.stringify(body); }
  const response = await fetch(path, { method, headers: h2, body: payload, cache: "no-store" });
  if (raw) return response;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    if (response.status === 401) showLogin("Your key was refused: " + (data?.error?.message || "401"));
    throw new ApiError(response.status, data);
  }
  return data;
}

// Server-Sent Events from a fetch body: yields {event, data} for each complete frame.
async function* sse(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const at = line.indexOf(":");
        const field = at < 0 ? line : line.slice(0, at);
        const val = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
        if (field === "event") event = val;
        else if (field === "data") data.push(val);
      }
      if (data.length) yield { event, data: JSON.parse(data.join("\n")) };
    }
  }
}

// --- login and navigation ----------------------------------------------------

function showLogin(message = "") {
  $("#login").hidden = false;
  $("#nav").hidden = true;
  $$(".view").forEach((v) => (v.hidden = true));
  $("#login-error").textContent = message;
}

async function start() {
  let probe;
  try { probe = await api("/v1/generations?limit=1", { raw: true }); } catch (e) { return showLogin("The server cannot be reached."); }
  if (probe.status === 401) return showLogin(sessionStorage.getItem(KEY) ? "Your key was refused." : "");
  if (probe.status === 403) return showLogin("This key cannot read generations: it needs the review, read or admin scope.");
  const key = sessionStorage.getItem(KEY);
  state.admin = (await api("/v1/keys?limit=1", { raw: true })).ok;
  $("#who").textContent = key ? `key ${key.slice(0, 10)}…${state.admin ? " (admin)" : ""}` : "open local server";
  $("#logout").hidden = !key;
  $("#login").hidden = true;
  $("#nav").hidden = false;
  $("#budget-form").hidden = !state.admin;
  try {
    state.providers = (await api("/v1/providers")).providers.map((p) => p.name);
    state.today = (await api("/v1/budget")).today.day;
  } catch (e) { state.providers = state.providers || []; }
  for (const sel of ["#filter-provider", "#try-provider", "#batch-provider"]) {
    const box = $(sel);
    for (const name of state.providers) if (!$(`option[value="${name}"]`, box)) box.append(h("option", { value: name }, name));
  }
  route();
}

function route() {
  const [view, ...entity] = (location.hash.slice(1) || "gallery").split("?")[0].split("/");
  if (view === "entity" && entity.length === 3) {  // #entity/<type>/<id>/<caller>: a reference's link
    const [type, id, caller] = [entity[0], ...entity.slice(1).map(decodeURIComponent)];
    $("#entity-form select[name=type]").value = type;
    $("#entity-form input[name=id]").value = id;
    $("#entity-form input[name=caller]").value = caller;
    showEntity(type, id, caller);
  }
  $$(".view").forEach((v) => (v.hidden = v.id !== "view-" + view));
  $$("#nav a").forEach((a) => a.classList.toggle("on", a.getAttribute("href") === "#" + view));
  ({ gallery: openGallery, usage: loadUsage, catalog: loadCatalog, batches: openBatches })[view]?.();
}

// --- gallery and review ------------------------------------------------------

function filterParams() {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData($("#filters"))) if (v) params.set(k, v);
  return params;
}

function openGallery() {
  if (!openGallery.ready) {
    const saved = JSON.parse(sessionStorage.getItem(FILTERS) || "{}");
    for (const [k, v] of Object.entries(saved)) { const f = $(`#filters [name="${k}"]`); if (f) f.value = v; }
    openGallery.ready = true;
    new IntersectionObserver((entries) => { if (entries[0].isIntersecting) loadMore(); }).observe($("#sentinel"));
  }
  resetGallery();
}

function resetGallery() {
  sessionStorage.setItem(FILTERS, JSON.stringify(Object.fromEntries(filterParams())));
  // A page still on its way belongs to the old filters: its answer is dropped (epoch).
  state.epoch = (state.epoch || 0) + 1;
  state.cursor = null; state.done = false; state.loading = false; state.focus = -1; state.selected.clear();
  $("#cards").replaceChildren();
  updateSelected();
  loadMore();
}

async function loadMore() {
  if (state.loading || state.done || $("#view-gallery").hidden) return;
  state.loading = true;
  const epoch = state.epoch;
  const params = filterParams();
  params.set("limit", "24");
  if (state.cursor) params.set("before", state.cursor);
  try {
    const page = await api("/v1/generations?" + params);
    if (epoch !== state.epoch) return;
    for (const gen of page.items) for (const card of cardsFor(gen)) $("#cards").append(card);
    state.cursor = page.next_before;
    state.done = !page.next_before;
    $("#gallery-end").textContent = state.done ? ($("#cards").children.length ? "That is all." : "No images match.") : "";
  } catch (e) {
    if (epoch !== state.epoch) return;
    toast(e.message, true);
    state.done = true;
  } finally {
    if (epoch === state.epoch) state.loading = false;
  }
  if (epoch !== state.epoch) return;
  // A tall screen may show the sentinel still: fetch until it is pushed below the fold.
  if (!state.done && $("#sentinel").getBoundingClientRect().top < innerHeight) setTimeout(loadMore, 0);
}

function attemptsText(gen) {
  const list = gen.attempts || [];
  if (!list.length) return "no attempts";
  return `${list.length} attempt${list.length > 1 ? "s" : ""}: ` +
    list.map((a) => `${a.provider} ${a.outcome === "succeeded" ? "✓" : "✗ " + (a.error_code || a.outcome)}`).join(", ");
}

function referencesOf(gen) {
  // The entities' primary images the generation was sent as references (each links to its entity).
  const list = gen.references || [];
  if (!list.length) return null;
  return h("div", { class: "references" }, "references: ", ...list.map((r) =>
    h("a", { href: `#entity/${r.entity_type}/${encodeURIComponent(r.entity_id)}/${encodeURIComponent(gen.caller)}`, class: "reference",
             "data-entity": `${r.entity_type}/${r.entity_id}`, title: r.image_id || "no approved primary" },
      `${r.entity_type} ${r.entity_id} (${r.role}, ${r.usage})`, " ")));
}

function cardsFor(gen) {
  const latency = (gen.attempts || []).reduce((sum, a) => sum + (a.latency_ms || 0), 0);
  const images = gen.images.length ? gen.images : [null];
  return images.map((img) => {
    const card = h("article", { class: "card", "data-gen": gen.id, "data-image": img?.id, tabindex: "-1" },
      img ? h("img", { src: img.thumbnail_url || img.url, alt: gen.prompt, loading: "lazy", onerror: (ev) => signed(ev.target, img) })
          : h("div", { class: "hint" }, gen.error ? `${gen.error.code}: ${gen.error.message}` : "no image"),
      h("div", { class: "prompt", title: gen.prompt }, gen.prompt),
      h("div", { class: "meta" }, h("span", { class: "badge " + gen.status }, gen.status), " ",
        img ? h("span", { class: "badge approval " + (img.approval_status || "") }, img.approval_status || "no approval") : "",
        ` ${gen.provider || "–"}/${gen.model || "–"} · ${dollars(gen.actual_cost_micros)} · ${latency} ms`),
      h("div", { class: "attempts" }, attemptsText(gen)),
      referencesOf(gen),
      img ? h("div", { class: "row" },
        h("label", {}, h("input", { type: "checkbox", class: "pick", onchange: (ev) => pick(img.id, ev.target.checked) }), " select"),
        h("button", { type: "button", class: "approve", onclick: () => decide([img.id], "approve") }, "Approve"),
        h("button", { type: "button", class: "reject", onclick: () => decide([img.id], "reject") }, "Reject…")) : null);
    card.addEventListener("click", () => focusCard($$(".card").indexOf(card), false));
    return card;
  });
}

async function signed(el, img) {
  // Private images (PUBLIC_IMAGES=false): a short-lived signed URL the <img> can load.
  if (el.dataset.signed) return;
  el.dataset.signed = "1";
  try { el.src = (await api(`/v1/images/${img.id}/signed-url`)).url; } catch (e) { el.alt = "image unavailable"; }
}

function pick(id, on) {
  if (on) state.selected.add(id); else state.selected.delete(id);
  const card = $(`.card[data-image="${id}"]`);
  if (card) { card.classList.toggle("selected", on); $(".pick", card).checked = on; }
  updateSelected();
}

function updateSelected() { $("#selected-count").textContent = `${state.selected.size} selected`; }

function askReason(what) {
  return new Promise((resolve) => {
    const dialog = $("#reason-dialog");
    $("#reason-what").textContent = what;
    $("#reason-text").value = "";
    dialog.onclose = () => resolve(dialog.returnValue === "ok" && $("#reason-text").value.trim() ? $("#reason-text").value.trim() : null);
    dialog.showModal();
    $("#reason-text").focus();
  });
}

async function decide(ids, decision) {
  if (!ids.length) return toast("Select images first (x)", true);
  const body = {};
  if (decision === "reject") {
    const reason = await askReason(ids.length === 1 ? "this image" : `${ids.length} images`);
    if (!reason) return;
    body.reason = reason;
  }
  try {
    const answer = ids.length === 1
      ? { images: [await api(`/v1/images/${ids[0]}/${decision}`, { method: "POST", body })] }
      : await api(`/v1/images/${decision}`, { method: "POST", body: { ...body, image_ids: ids } });
    for (const img of answer.images) {
      const badge = $(`.card[data-image="${img.id}"] .approval`);
      if (badge) { badge.className = "badge approval " + img.status; badge.textContent = img.status; }
      pick(img.id, false);
    }
    toast(`${answer.images.length} image${answer.images.length > 1 ? "s" : ""} ${decision === "approve" ? "approved" : "rejected"}`);
  } catch (e) { toast(e.message, true); }
}

function focusCard(index, scroll = true) {
  const cards = $$(".card");
  if (!cards.length) return;
  state.focus = Math.max(0, Math.min(cards.length - 1, index));
  cards.forEach((c, i) => c.classList.toggle("focus", i === state.focus));
  if (scroll) cards[state.focus].scrollIntoView({ block: "nearest" });
}

function onKey(ev) {
  if ($("#view-gallery").hidden || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (ev.target.closest("input, textarea, select, dialog")) return;
  const card = $$(".card")[state.focus];
  const id = card?.dataset.image;
  const actions = {
    j: () => focusCard(state.focus + 1), k: () => focusCard(state.focus - 1),
    x: () => id && pick(id, !state.selected.has(id)),
    a: () => id && decide([id], "approve"), r: () => id && decide([id], "reject"),
    A: () => decide([...state.selected], "approve"), R: () => decide([...state.selected], "reject"),
  };
  if (actions[ev.key]) { ev.preventDefault(); actions[ev.key](); }
}

// --- entity view ---------------------------------------------------------------

async function showEntity(type, id, caller) {
  const out = $("#entity-out");
  out.replaceChildren(h("p", { class: "hint" }, "loading…"));
  try {
    const base = `/v1/entities/${encodeURIComponent(type)}/${encodeURIComponent(id)}`;
    const whose = caller ? `?caller=${encodeURIComponent(caller)}` : "";  // an entity is its caller's
    const [images, primary, uses] = await Promise.all(["/images", "/primary", "/references"].map((p) => api(base + p + whose)));
    const roles = {};
    for (const img of images.images) (roles[img.role] ||= []).push(img);
    const used = usedAsReference(uses);
    if (!images.images.length) return out.replaceChildren(h("p", {}, `No images are linked to ${images.caller}'s ${type} ${id}.`), used);
    out.replaceChildren(...Object.entries(roles).map(([role, list]) => h("section", {},
      h("h2", {}, role),
      h("div", { class: "roles" }, list.map((img) => {
        const isPrimary = primary.primary[role]?.image_id === img.id;
        return h("div", { class: "card" + (isPrimary ? " selected" : ""), "data-image": img.id },
          h("img", { src: img.thumbnail_url || img.url, alt: role, onerror: (ev) => signed(ev.target, img) }),
          h("div", { class: "meta" }, isPrimary ? h("span", { class: "badge approved" }, "primary") : "", ` linked ${img.linked_at}`),
          isPrimary ? null : h("button", { type: "button", class: "set-primary", onclick: async () => {
            try {
              await api(`${base}/primary/${encodeURIComponent(role)}${whose}`, { method: "PUT", body: { image_id: img.id } });
              toast(`primary ${role} set`);
              showEntity(type, id, caller);
            } catch (e) { toast(e.message, true); }
          } }, "Set primary"));
      })))), used);
  } catch (e) { out.replaceChildren(h("p", { class: "error" }, e.message)); }
}

function usedAsReference(uses) {
  // The images made with this entity's primary as a reference, newest first.
  const made = uses.uses.flatMap((u) => u.images.map((img) => ({ ...img, use: u })));
  return h("section", { id: "entity-uses" }, h("h2", {}, "Used as a reference"),
    made.length ? h("div", { class: "roles" }, made.map((img) => h("div", { class: "card", "data-image": img.id, "data-gen": img.use.request_id },
      h("img", { src: `${img.url}?preset=thumb`, alt: "made with this reference", onerror: (ev) => signed(ev.target, img) }),
      h("div", { class: "meta" }, `${img.use.role} · ${img.use.usage} · ${img.use.request_id}`))))
      : h("p", { class: "hint" }, "No generation has used this entity as a reference yet."));
}

// --- usage: chart, gauge, counts, budget ---------------------------------------

const COLORS = ["#2f5bd3", "#e07b00", "#1f9d6b", "#b42318", "#7c3aed", "#0891b2", "#6b7280"];
const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

async function loadUsage() {
  if (!$("#usage-from").value) { $("#usage-from").value = daysAgo(6); $("#usage-to").value = today(); }
  const from = $("#usage-from").value, to = $("#usage-to").value;
  try {
    const [usage, budget, failed] = await Promise.all([
      api(`/v1/usage?from=${from}&to=${to}`), api("/v1/budget"),
      api(`/v1/generations?status=failed&from=${today()}&to=${today()}&limit=100`)]);
    drawChart(usage, from, to);
    drawGauge(budget.today);
    const refused = usage.days.reduce((n, d) => n + (d.totals.refused || 0), 0);
    const requests = usage.days.reduce((n, d) => n + (d.totals.requests || 0), 0);
    const failedToday = failed.items.length + (failed.next_before ? "+" : "");
    $("#usage-counts").textContent = `${requests} requests in the period · ${refused} refused by the budget · ` +
      `${failedToday} failed today · ${dollars(usage.days.reduce((n, d) => n + d.totals.spent_micros, 0))} spent`;
    fillBudget(budget.config);
  } catch (e) { toast(e.message, true); }
}

function drawChart(usage, from, to) {
  const days = [];
  for (let d = new Date(from + "T00:00:00Z"); d <= new Date(to + "T00:00:00Z"); d = new Date(+d + 86400000)) days.push(d.toISOString().slice(0, 10));
  const byDay = Object.fromEntries(usage.days.map((d) => [d.day, d]));
  const providers = [...new Set(usage.days.flatMap((d) => d.providers.map((p) => p.provider)))].sort();
  const metric = $("#usage-metric").value; // spent_micros, requests or images
  const money = metric === "spent_micros";
  const fmt = (v) => money ? dollars(v) : String(Math.round(v));
  const spend = (day, provider) => (byDay[day]?.providers || []).filter((p) => p.provider === provider).reduce((n, p) => n + (p[metric] || 0), 0);
  const max = Math.max(1, ...days.map((d) => providers.reduce((n, p) => n + spend(d, p), 0)));
  const W = 640, H = 240, L = 56, B = 28, bw = (W - L) / days.length;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-label": "spend per day and provider" });
  for (let i = 0; i <= 4; i++) {
    const y = H - B - (H - B - 10) * i / 4;
    svg.append(s("line", { x1: L, x2: W, y1: y, y2: y, stroke: "#e5e7eb" }), s("text", { x: L - 6, y: y + 4, "text-anchor": "end", "font-size": 10 }, fmt(max * i / 4)));
  }
  days.forEach((day, i) => {
    let y = H - B;
    providers.forEach((p, j) => {
      const v = spend(day, p);
      const bh = (H - B - 10) * v / max;
      y -= bh;
      const rect = s("rect", { x: L + i * bw + 3, y, width: Math.max(1, bw - 6), height: bh, fill: COLORS[j % COLORS.length], "data-day": day, "data-provider": p, "data-value": v });
      rect.append(s("title", {}, `${day} ${p}: ${fmt(v)}`));
      svg.append(rect);
    });
    svg.append(s("text", { x: L + i * bw + bw / 2, y: H - 10, "text-anchor": "middle", "font-size": 10 }, day.slice(5)));
  });
  $("#chart").replaceChildren(svg);
  $("#legend").replaceChildren(...providers.map((p, j) => h("span", {}, h("i", { style: { background: COLORS[j % COLORS.length] } }), p)),
    providers.length ? "" : h("span", { class: "hint" }, "no spend in this period"));
}

function drawGauge(today) {
  const total = today.daily_budget_micros, left = Math.max(0, today.remaining_micros);
  const frac = total > 0 ? Math.min(1, left / total) : 0;
  const arc = (f) => { const a = Math.PI * (1 - f); return `${100 + 80 * Math.cos(a)} ${110 - 80 * Math.sin(a)}`; };
  const svg = s("svg", { viewBox: "0 0 200 130", width: "100%", role: "img", "aria-label": "budget left today", "data-fraction": frac.toFixed(4) });
  svg.append(s("path", { d: `M 20 110 A 80 80 0 0 1 180 110`, fill: "none", stroke: "#e5e7eb", "stroke-width": 18 }));
  if (frac > 0) svg.append(s("path", { d: `M 20 110 A 80 80 0 0 1 ${arc(frac)}`, fill: "none", stroke: frac < 0.2 ? "#b42318" : "#1f9d6b", "stroke-width": 18 }));
  svg.append(s("text", { x: 100, y: 100, "text-anchor": "middle", "font-size": 18, "font-weight": 600 }, dollars(left)),
    s("text", { x: 100, y: 125, "text-anchor": "middle", "font-size": 10 }, `left of ${dollars(total)} · ${dollars(today.reserved_now_micros)} reserved`));
  $("#gauge").replaceChildren(svg);
}

function fillBudget(config) {
  for (const input of $$("#budget-form input")) {
    const v = config[input.name];
    input.value = v === null || v === undefined ? "" : "money" in input.dataset ? String(v / 1e6) : String(v);
    input.dataset.was = input.value;
  }
}

async function saveBudget(ev) {
  ev.preventDefault();
  const changes = {};
  for (const input of $$("#budget-form input")) {
    if (input.value === input.dataset.was) continue;
    const text = input.value.trim();
    if (!text && "nullable" in input.dataset) { changes[input.name] = null; continue; }
    const n = Number(text);
    if (!text || !Number.isFinite(n) || n < 0) return toast(`${input.name}: enter a number`, true);
    changes[input.name] = "money" in input.dataset ? Math.round(n * 1e6) : Math.round(n);
  }
  if (!Object.keys(changes).length) return toast("Nothing changed");
  try {
    await api("/v1/budget", { method: "PUT", body: changes });
    $("#budget-msg").textContent = "saved";
    toast("Budget saved");
    loadUsage();
  } catch (e) { $("#budget-msg").textContent = e.message; toast(e.message, true); }
}

// --- try it ----------------------------------------------------------------------

async function tryIt(ev) {
  ev.preventDefault();
  const form = new FormData(ev.target);
  const body = { prompt: form.get("prompt") };
  if (form.get("provider") !== "auto") body.provider = form.get("provider");
  if (form.get("size")) body.size = form.get("size");
  if (form.get("quality")) body.quality = form.get("quality");
  if (form.get("ctx_kind")) {
    body.context = { kind: form.get("ctx_kind") };
    for (const k of ["name", "setting", "mood", "style"]) if (form.get("ctx_" + k)) body.context[k] = form.get("ctx_" + k);
  }
  const log = $("#events"), out = $("#try-result");
  log.replaceChildren();
  out.replaceChildren();
  const button = $("button[type=submit]", ev.target);
  button.disabled = true;
  try {
    const response = await api("/v1/generations?stream=true", { method: "POST", body, raw: true, headers: { accept: "text/event-stream" } });
    if (!response.ok) { const e = await response.json().catch(() => ({})); throw new ApiError(response.status, e); }
    for await (const { event, data } of sse(response)) {
      log.append(h("li", { "data-event": event }, `${event} ${summary(event, data)}`));
      log.scrollTop = log.scrollHeight;
      if (event === "partial_image") out.replaceChildren(h("img", { src: `data:${data.content_type};base64,${data.b64}`, alt: "preview", class: "partial" }));
      if (event === "completed" || event === "failed") showResult(data.result, data.error);
    }
  } catch (e) {
    log.append(h("li", { class: "error" }, e.message));
  } finally { button.disabled = false; }
}

function summary(event, d) {
  switch (event) {
    case "accepted": return `plan ${(d.plan || []).join(" → ")}, estimate ${dollars(d.estimate_micros)}`;
    case "attempt": return `${d.provider}/${d.model} #${d.attempt}`;
    case "retry": return `${d.provider} in ${d.delay_s ?? "?"} s (${d.error?.code || d.code || ""})`;
    case "progress": return `${d.percent}% (${d.elapsed_ms} ms of ~${d.expected_ms} ms)`;
    case "partial_image": return `preview ${d.index}`;
    case "image": return d.image?.id || "";
    case "completed": return `${d.result?.provider} ${dollars(d.result?.actual_cost_micros)}`;
    case "failed": return `${d.error?.code}: ${d.error?.message}`;
    default: return "";
  }
}

function showResult(result, error) {
  const out = $("#try-result");
  out.replaceChildren(
    error ? h("p", { class: "error" }, `${error.code}: ${error.message}`) : null,
    ...(result?.images || []).map((img) => h("img", { src: img.thumbnail_url || img.url, alt: result.prompt, class: "final", onerror: (ev) => signed(ev.target, img) })),
    result ? h("p", { class: "hint" }, `${result.id} · ${result.provider}/${result.model} · ${dollars(result.actual_cost_micros)} · ${attemptsText(result)}`) : null,
    result ? referencesOf(result) : null);
}

// --- batches --------------------------------------------------------------------

function openBatches() {
  const recent = JSON.parse(sessionStorage.getItem(BATCHES) || "[]");
  if (!$("#batch-out").children.length && recent.length) watchBatch(recent[0]);
}

async function submitBatch(ev) {
  ev.preventDefault();
  const form = new FormData(ev.target);
  const prompts = form.get("prompts").split("\n").map((p) => p.trim()).filter(Boolean);
  const provider = form.get("provider");
  try {
    const batch = await api("/v1/batches", { method: "POST", body: { items: prompts.map((prompt) => provider === "auto" ? { prompt } : { prompt, provider }) } });
    watchBatch(batch.id);
  } catch (e) { toast(e.message, true); }
}

async function watchBatch(id) {
  const recent = JSON.parse(sessionStorage.getItem(BATCHES) || "[]").filter((b) => b !== id);
  sessionStorage.setItem(BATCHES, JSON.stringify([id, ...recent].slice(0, 20)));
  const out = $("#batch-out");
  delete out.dataset.status;
  out.dataset.watching = id; // an older stream still open updates only its own, detached rows
  const bar = h("div", { style: { width: "0%" } });
  const counts = h("p", { class: "counts" });
  const rows = h("tbody");
  const retry = h("button", { type: "button", hidden: true, class: "retry", onclick: () => retryBatch(id) }, "Retry failed items");
  out.replaceChildren(h("h2", {}, id), h("div", { class: "progress" }, bar), counts, retry,
    h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "#"), h("th", {}, "status"), h("th", {}, "generation"), h("th", {}, "error"))), rows));
  const show = (c, total) => {
    const done = (c.succeeded || 0) + (c.failed || 0) + (c.refused || 0);
    bar.style.width = `${Math.round(100 * done / Math.max(1, total))}%`;
    counts.textContent = `${done} of ${total} done · ` + Object.entries(c).map(([k, v]) => `${k} ${v}`).join(" · ");
    counts.dataset.done = done;
    retry.hidden = !((c.failed || 0) + (c.refused || 0));
  };
  const row = (i) => h("tr", { "data-index": i.index }, h("td", {}, i.index), h("td", {}, h("span", { class: "badge " + i.status }, i.status)),
    h("td", {}, i.request_id || "–"), h("td", {}, i.error ? `${i.error.code}: ${i.error.message}` : ""));
  try {
    const response = await api(`/v1/batches/${encodeURIComponent(id)}/events`, { raw: true, headers: { accept: "text/event-stream" } });
    if (!response.ok) { const e = await response.json().catch(() => ({})); throw new ApiError(response.status, e); }
    let total = 0;
    for await (const { event, data } of sse(response)) {
      if (event === "batch" || event === "completed") {
        total = data.total;
        rows.replaceChildren(...data.items.map(row));
        show(data.counts, total);
        if (event === "completed" && out.dataset.watching === id) out.dataset.status = "completed";
      } else if (event === "item") {
        const old = $(`tr[data-index="${data.index}"]`, rows);
        if (old) old.replaceWith(row(data)); else rows.append(row(data));
        show(data.counts, data.total || total);
      }
    }
  } catch (e) { out.append(h("p", { class: "error" }, e.message)); }
}

async function retryBatch(id) {
  try {
    const again = await api(`/v1/batches/${encodeURIComponent(id)}/retry`, { method: "POST" });
    toast(`retrying ${again.total} item${again.total > 1 ? "s" : ""} as ${again.id}`);
    watchBatch(again.id);
  } catch (e) { toast(e.message, true); }
}

// --- catalog ----------------------------------------------------------------------

function priceText(price) {
  return Object.entries(price.rates).map(([k, v]) => `${k} ${v}`).join(", ") + ` (${price.basis})`;
}

async function loadCatalog() {
  try {
    const [data, providers] = await Promise.all([api("/v1/prices"), api("/v1/providers").catch(() => ({ providers: [] }))]);
    // the shared breakers (one per provider and model): state, and the failures of the recent calls
    const breakers = new Map(providers.providers.flatMap((p) => (p.breakers || []).map((b) => [`${p.name}/${b.model}`, b])));
    const breakerCell = (m) => {
      const b = breakers.get(`${m.provider}/${m.model}`);
      if (!b) return h("td", { class: "breaker" }, "closed");
      const badge = b.state === "closed" ? "approved" : b.state === "open" ? "rejected" : "pending";
      return h("td", { class: "breaker", title: `since ${b.since}` }, h("span", { class: "badge " + badge }, b.state),
        ` ${b.recent_failures}/${b.recent_calls} failed`, b.retry_after_s ? ` · retry in ${Math.ceil(b.retry_after_s)}s` : "");
    };
    $("#catalog tbody").replaceChildren(...data.prices.map((m) => {
      const tr = h("tr", { "data-model": m.model },
        h("td", {}, m.provider), h("td", {}, m.model), h("td", {}, h("span", { class: "badge " + (m.status === "active" ? "approved" : "pending") }, m.status || "?")),
        h("td", {}, m.shutdown_date || "–"),
        h("td", { class: "price" }, priceText(m.price), m.catalog_price ? h("span", { class: "badge pending" }, " overridden") : ""),
        breakerCell(m),
        h("td", {}, state.admin ? h("button", { type: "button", class: "override", onclick: () => editPrice(tr, m) }, "Override…") : ""));
      return tr;
    }));
  } catch (e) { toast(e.message, true); }
}

function editPrice(tr, m) {
  const rates = h("input", { class: "rates", value: JSON.stringify(m.price.rates), size: 40 });
  const reason = h("input", { class: "reason", placeholder: "why (e.g. the new price page)", size: 30 });
  const save = h("button", { type: "button", class: "save", onclick: async () => {
    let parsed;
    try { parsed = JSON.parse(rates.value); } catch (e) { return toast("rates must be JSON, e.g. {\"per_image\": 40000}", true); }
    try {
      await api(`/v1/prices/${m.model}`, { method: "PUT", body: { rates: parsed, reason: reason.value } });
      toast(`price of ${m.model} overridden`);
      loadCatalog();
    } catch (e) { toast(e.message, true); }
  } }, "Save");
  tr.after(h("tr", { class: "editor" }, h("td", { colspan: 7 }, rates, " ", reason, " ", save)));
}

// --- wiring -----------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, $("#login-key").value.trim());
    $("#login-key").value = "";
    start();
  });
  $("#logout").addEventListener("click", () => { sessionStorage.removeItem(KEY); location.hash = ""; showLogin(); $("#who").textContent = ""; $("#logout").hidden = true; });
  $("#filters").addEventListener("submit", (ev) => { ev.preventDefault(); resetGallery(); });
  $("#bulk-approve").addEventListener("click", () => decide([...state.selected], "approve"));
  $("#bulk-reject").addEventListener("click", () => decide([...state.selected], "reject"));
  $("#entity-form").addEventListener("submit", (ev) => { ev.preventDefault(); const f = new FormData(ev.target); showEntity(f.get("type"), f.get("id"), f.get("caller")); });
  $("#usage-load").addEventListener("click", loadUsage);
  $("#usage-metric").addEventListener("change", loadUsage);
  $("#budget-form").addEventListener("submit", saveBudget);
  $("#try-form").addEventListener("submit", tryIt);
  $("#batch-form").addEventListener("submit", submitBatch);
  $("#batch-open-btn").addEventListener("click", () => $("#batch-open").value && watchBatch($("#batch-open").value.trim()));
  document.addEventListener("keydown", onKey);
  addEventListener("hashchange", route);
  start();
});
