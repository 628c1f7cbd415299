// A compact viewer of the app's own OpenAPI document (/openapi.json): operations by tag,
// parameters, request bodies, responses and schemas. Self-contained, so /docs needs no CDN.
"use strict";

const el = (tag, cls, ...kids) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
  return e;
};
const refName = (ref) => ref.split("/").pop();

function typeOf(schema) {
  if (!schema) return "";
  if (schema.$ref) { const a = el("a", null, refName(schema.$ref)); a.href = "#schema-" + refName(schema.$ref); return a; }
  if (schema.anyOf || schema.oneOf) return el("span", null, (schema.anyOf || schema.oneOf).map((s, i) => [i ? " | " : "", typeOf(s)]));
  if (schema.type === "array") return el("span", null, "array of ", typeOf(schema.items));
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (schema.type === "object" && schema.additionalProperties && typeof schema.additionalProperties === "object")
    return el("span", null, "map of ", typeOf(schema.additionalProperties));
  return schema.type || (schema.const !== undefined ? JSON.stringify(schema.const) : "any");
}

function propsTable(schema) {
  const props = schema?.properties;
  if (!props) return el("p", "hint", typeOf(schema));
  const required = new Set(schema.required || []);
  const table = el("table", null, el("tr", null, el("th", null, "field"), el("th", null, "type"), el("th", null, "about")));
  for (const [name, p] of Object.entries(props)) {
    const limits = ["minimum", "maximum", "minLength", "maxLength", "pattern", "default"].filter((k) => p[k] !== undefined)
      .map((k) => `${k} ${JSON.stringify(p[k])}`).join(", ");
    table.append(el("tr", null, el("td", null, el("code", null, name), required.has(name) ? " *" : ""), el("td", null, typeOf(p)),
      el("td", null, p.description || p.title || "", limits ? el("span", "hint", " (" + limits + ")") : "")));
  }
  return table;
}

function operation(method, path, op) {
  const box = el("details", "op");
  box.dataset.search = `${method} ${path} ${op.summary || ""} ${(op.tags || []).join(" ")}`.toLowerCase();
  box.append(el("summary", null, el("span", "badge " + method, method.toUpperCase()), " ", el("code", null, path), " ",
    el("span", "hint", op.summary || "")));
  if (op.description) box.append(el("p", null, op.description));
  if (op.parameters?.length) {
    const table = el("table", null, el("tr", null, el("th", null, "parameter"), el("th", null, "in"), el("th", null, "type"), el("th", null, "about")));
    for (const p of op.parameters) table.append(el("tr", null, el("td", null, el("code", null, p.name), p.required ? " *" : ""),
      el("td", null, p.in), el("td", null, typeOf(p.schema)), el("td", null, p.description || "")));
    box.append(el("h4", null, "Parameters"), table);
  }
  const body = op.requestBody?.content;
  if (body) for (const [media, c] of Object.entries(body)) box.append(el("h4", null, `Body (${media})`), propsTable(c.schema));
  const responses = el("table", null, el("tr", null, el("th", null, "status"), el("th", null, "meaning"), el("th", null, "body")));
  for (const [code, r] of Object.entries(op.responses || {})) {
    const media = Object.entries(r.content || {}).map(([m, c]) => el("div", null, el("span", "hint", m + " "), typeOf(c.schema)));
    responses.append(el("tr", null, el("td", null, code), el("td", null, r.description || ""), el("td", null, media)));
  }
  box.append(el("h4", null, "Responses"), responses);
  return box;
}

async function main() {
  const doc = await (await fetch("/openapi.json")).json();
  document.title = doc.info.title + " · API";
  document.getElementById("intro").replaceChildren(el("strong", null, `${doc.info.title} ${doc.info.version}`), " — ",
    doc.info.description || "", " Every route takes ", el("code", null, "Authorization: Bearer <key>"), " unless marked public.");
  const byTag = {};
  for (const [path, item] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(item))
      if (op && op.responses) (byTag[(op.tags || ["default"])[0]] ||= []).push(operation(method, path, op));
  const ops = document.getElementById("ops");
  for (const tag of Object.keys(byTag).sort()) ops.append(el("h2", null, tag), ...byTag[tag]);
  const schemas = document.getElementById("schemas");
  schemas.append(el("h2", null, "Schemas"));
  for (const [name, schema] of Object.entries(doc.components?.schemas || {})) {
    const box = el("details", "schema");
    box.id = "schema-" + name;
    box.dataset.search = name.toLowerCase();
    box.append(el("summary", null, el("code", null, name), " ", el("span", "hint", schema.description || "")), propsTable(schema));
    schemas.append(box);
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
  document.getElementById("find").addEventListener("input", (ev) => {
    const words = ev.target.value.toLowerCase().split(/\s+/).filter(Boolean);
    for (const d of document.querySelectorAll("details")) d.hidden = !words.every((w) => d.dataset.search.includes(w));
  });
}

function openTarget() {
  const target = location.hash && document.getElementById(location.hash.slice(1));
  if (target) { target.open = true; target.scrollIntoView(); }
}

main().catch((e) => { document.getElementById("intro").textContent = "Could not load /openapi.json: " + e.message; });
