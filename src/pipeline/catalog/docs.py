"""docs/providers.md, written from the catalog so the page cannot drift from the data:
`PYTHONPATH=src python -m pipeline.catalog.docs > docs/providers.md`
(tests/catalog/test_catalog.py fails when the page is stale)."""

from __future__ import annotations

from datetime import date

from . import CATALOGS, PRICES_AS_OF
from .spec import ModelSpec

INTRO = """# Providers and models

Generated from `src/pipeline/catalog/` (prices checked {as_of}); do not edit by hand:
`PYTHONPATH=src python -m pipeline.catalog.docs > docs/providers.md`.

Money is integer micro-dollars (`1000000` = $1). Token rates are per 1M tokens.
A status is as announced; a model is **shut down** from its shutdown date on (UTC)
and is then never chosen, and a request naming it gets `model_unavailable` naming
its replacement. `GET /v1/providers` shows the same data live (status on today's date,
the price in force, whether the provider recently answered that a model is gone).
Prices marked *third_party* or *unverified* come from sources other than the
provider's own pages; the cost of a call is billed from the usage the provider
reports where it reports any, so a wrong rate misprices but never loses a token.
Admins can override a rate without a deploy: `PUT /v1/prices/{{model}}`
(`{{"rates": {{...}}, "reason": "..."}}`), recorded in D1 (`GET /v1/prices/history`).

## Defaults

Each provider has a cost-conscious default (`MODEL_TIER=cost`, the default) and a
quality default (`MODEL_TIER=quality`); a provider instance can set its own `tier`
or `default_model` (`PROVIDER_INSTANCES`). A model the provider reports as gone is
skipped for an hour, and the next usable model of the list below is used.

| provider | cost default | quality default |
|---|---|---|
"""


# How each adapter's wire format compares with the official SDKs (openai 3.57, google-genai
# 3.6.1) for the same intent: (provider, behaviour, why). tests/providers/ checks each row.
WIRE_NOTES: tuple[tuple[str, str, str], ...] = (
    ("gemini, gemini-vertex", "Parts marked `thought: true` (a thinking model's interim drafts) are never stored; "
     "only the final image is.", "As the SDK reads them; the drafts are billed as thought tokens (`thoughtsTokenCount`)."),
    ("gemini, gemini-vertex", "An answer without an image that is not a refusal (e.g. `IMAGE_OTHER`) is charged at the "
     "`usageMetadata` it reports; without usage, at the call's estimate. A refusal is never charged.",
     "The usage is what Google billed (docs/budget.md)."),
    ("gemini", "**Differs:** `person_generation` is not sent on the Gemini API; the request goes on without it and the "
     "result carries a warning. `gemini-vertex` and `imagen` send it.",
     "google-genai refuses it there (\"only supported in Gemini Enterprise Agent Platform mode\"), so the API may reject "
     "the field; the model's own defaults apply. Use `gemini-vertex` where people must be controlled."),
    ("gemini, gemini-vertex, imagen", "Image data in the URL-safe base64 alphabet, padded or not, is decoded.",
     "The SDK (pydantic bytes) accepts both alphabets."),
    ("imagen, gemini-vertex", "The health probe (`GET /v1/providers?probe=true`) asks "
     "`GET /v1/publishers/google/models/{model}` on the regional endpoint.",
     "What the SDK's `models.get` asks on Vertex AI; Vertex's REST reference lists `publishers.models.get` there."),
    ("openai", "`size: \"auto\"` (without `aspect_ratio`) is sent as `\"auto\"`; the request is priced and capped at the "
     "largest standard size the API may pick (1536x1024), and the size OpenAI reports is stored.",
     "As the SDK sends it. The estimate cannot know the size OpenAI will pick, so it takes the costliest."),
    ("gemini, gemini-vertex", "Reference images (`references`) follow the prompt, one `inlineData` part each, in the "
     "order the prompt's legend names them; an edit's images come before its instruction.",
     "The order of the Gemini API guide's multi-reference example (text, then the images)."),
    ("openai", "Reference images go to `/v1/images/edits`, each as `image[]` (even one); `moderation` is not sent there "
     "(a warning says so).", "The edits endpoint takes up to 16 input images and has no `moderation` (SDK edit params)."),
    ("openai-compatible door", "A 429 or 503 carries `Retry-After` rounded up to whole seconds and `retry-after-ms` with "
     "the exact delay.", "OpenAI sends both and its SDKs read `retry-after-ms` first; rounding down would bring a client "
     "back early."),
    ("openai-compatible door", "The request is made for the key's caller: OpenAI receives its hash as "
     "`safety_identifier` (never the caller's name, never `user`), as on `/v1/generations`.",
     "The field OpenAI's abuse monitoring asks for; `user` is deprecated. The body's own `user` and "
     "`safety_identifier` are accepted and not forwarded."),
)

WIRE_INTRO = """
## Wire format against the official SDKs

What each adapter sends and reads, compared with the official `openai` (3.57) and
`google-genai` (3.6.1) SDKs for the same intent. Rows marked **Differs** are
deliberate: the Worker returns a warning where it does not do what was asked.

| provider | behaviour | why |
|---|---|---|
"""


BREAKER = """
## When a provider fails: the shared circuit breaker

On Cloudflare a Worker runs in many isolates at once, each starting with no memory of its
own. So provider health that matters is kept where every isolate's attempts pass anyway:
the ledger's Durable Object. There is **one breaker per provider (instance) and model**.
It costs no round trip of its own: the release of a slot (before a retry or a fallback),
the settle or release of a request, and a fallback's reserve carry the outcomes of the
calls made since the last ledger call (ok or failed, with which code, latency), and every
ledger answer lists the breakers that are not closed, which the isolate keeps for its
next plans.

- **closed → open**: within `breaker_window_s` (default 60 s), at least
  `breaker_min_calls` calls (3), of which at least `breaker_failures` (3) and at least
  `breaker_failure_percent` % (50) failed.
- **open → half-open**: after `breaker_cooldown_s` (30 s, at least 30). The first
  reserve for that provider and model is then the one **probe**, chosen atomically in the
  Durable Object; every other request is refused until it reports. The probe's success
  closes the breaker, its failure opens it again for another cooldown, and a probe that
  ends without calling (a budget refusal, a cancelled request) gives the turn to the next.
- **What counts as a failure**: only what says the provider is unwell: timeouts, 5xx,
  connection errors, and a 429 without `Retry-After`. A bad request, a safety refusal,
  our credentials refused or a quota spent do not. A 429 **with** `Retry-After` is not
  counted: it holds that provider and model back for every isolate for that long.

While a breaker is open, **auto mode skips that provider without calling it** (the plan's
`skipped` says why: `circuit open: 3 of 3 recent calls failed; tried again in 24s`); an
isolate that had not heard yet learns it at the reserve, which the ledger refuses without
holding money, and goes to the next candidate. A request that **names** the provider
(without `fallback: true`) is answered at once `503 provider_circuit_open` with
`Retry-After` until the probe, and no money moves; send `"try_open_provider": true` to
call it anyway. The settings are the ledger's, changed like the budget
(`PUT /v1/budget`, admin) and effective at the next call. `GET /v1/providers` shows each
provider's breakers (`breakers`: model, state, since, `retry_after_s`, recent calls and
failures); the console's Catalog shows them per model. Each state change is one log line
(`breaker_state`, from the Durable Object).
"""


def _rates(m: ModelSpec) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in m.price.rates.items()) or "—"


def _sizes(m: ModelSpec) -> str:
    rule = m.sizes
    if rule.any_wxh:
        d = rule.to_dict()
        return (f"any W×H: ÷{d['multiple_of']}, ratio {d['min_ratio']}–{d['max_ratio']}, ≤{rule.max_edge}px edge, "
                f"≤{rule.max_pixels:,} px")
    if m.image_sizes:
        return f"{'/'.join(m.image_sizes)} × {len(m.aspect_ratios)} ratios"
    return ", ".join(rule.fixed)


def _references(m: ModelSpec) -> str:
    return f"{m.max_references} ({m.max_people})" if m.max_references else "—"


REFERENCES_INTRO = """
## Reference images

How many entity reference images (`references`) one call of each model takes, and how many
of them may show people (`character` entities); a request over either is `422 unsupported`
saying the limit, and auto mode skips the model. Where the figures come from:

| provider | model | references (people) | source |
|---|---|---|---|
"""


def render(day: date | None = None) -> str:
    out = [INTRO.format(as_of=PRICES_AS_OF)]
    kinds = [k for k in CATALOGS if k != "gemini-vertex"]
    for kind in kinds:
        c = CATALOGS[kind]
        out.append(f"| `{kind}` | `{c.defaults['cost']}` | `{c.defaults['quality']}` |\n")
    out.append("\n`gemini-vertex` serves the `gemini` models through Vertex AI with the same prices.\n")
    for kind in kinds:
        c = CATALOGS[kind]
        out.append(f"\n## `{kind}`\n\n| model | status | shutdown | replacement | sizes | qualities | max inputs | "
                   "references (people) | price (micro-dollars) | source | checked |\n"
                   "|---|---|---|---|---|---|---|---|---|---|---|\n")
        for m in c.models:
            life = m.lifecycle
            out.append(
                f"| `{m.id}` | {life.status} | {life.shutdown or ''} | {f'`{life.replacement}`' if life.replacement else ''} "
                f"| {_sizes(m)} | {', '.join(m.qualities) or '—'} | {m.max_input_images} | {_references(m)} "
                f"| {m.price.basis}: {_rates(m)} "
                f"| {m.price.confidence}: {m.price.source} | {m.price.checked} |\n"
            )
    out.append(REFERENCES_INTRO)
    out += [f"| `{kind}` | `{m.id}` | {_references(m)} | {m.references_source} |\n"
            for kind in kinds for m in CATALOGS[kind].models if m.max_references]
    out.append(BREAKER)
    out.append(WIRE_INTRO)
    out += [f"| {who} | {what} | {why} |\n" for who, what, why in WIRE_NOTES]
    return "".join(out)


if __name__ == "__main__":
    print(render(), end="")
