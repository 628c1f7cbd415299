"""Narrative context → the prompt a provider gets.

All wording lives in `TEMPLATES` (one per context kind) and all limits in
`PROMPT_LIMITS`: change them here, nowhere else. A template is an ordered list
of parts; each part names the context field it shows and how expendable it is.
When the composed prompt is over a provider's limit, the most expendable parts
are dropped first (and said so in a warning); only if the caller's own prompt
alone is too long is it cut, at a word boundary, again with a warning.
Composition is deterministic: same prompt and context, same text."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .errors import NotFound
from .models import ContextRef, GenerationRequest
from .services import Services
from .storage import contexts


@dataclass(frozen=True)
class Part:
    field: str  # a NarrativeContext field, "prompt" (the caller's text) or "" (fixed text)
    text: str  # formatted with {value}
    drop: int  # 0 = never dropped; higher numbers are dropped first


def _kind(lead: str, describe: str, place: str, tail: str) -> tuple[Part, ...]:
    return (
        Part("name", lead, 1),
        Part("prompt", "{value}", 0),
        Part("description", describe, 2),
        Part("setting", place, 5),
        Part("era", "Era: {value}", 3),
        Part("mood", "Mood: {value}", 4),
        Part("style", "Style: {value}", 3),
        Part("notes", "Notes: {value}", 6),
        Part("", tail, 7),
    )


TEMPLATES: dict[str, tuple[Part, ...]] = {
    "portrait": _kind("Character portrait of {value}", "Appearance: {value}", "Background: {value}",
                      "Head-and-shoulders framing, consistent character design"),
    "location": _kind("Establishing view of {value}", "The place: {value}", "Surroundings: {value}",
                      "Wide shot, no people in the foreground"),
    "scene": _kind("Scene: {value}", "What happens: {value}", "Where: {value}",
                   "Cinematic composition, characters in action"),
    "item": _kind("Object: {value}", "Details: {value}", "Origin: {value}",
                  "The object alone, centred, plain background, fine detail"),
}

# The entity types a stored context belongs to, and the template each one uses.
ENTITY_KINDS = {"character": "portrait", "location": "location", "scene": "scene", "item": "item", "other": "scene"}

# Longest prompt (characters) each provider takes. Imagen: 480 tokens (~4 characters each);
# Workers AI FLUX: 2048; the placeholder mimics the tightest real limit so limits are exercised.
PROMPT_LIMITS: dict[str, int] = {
    "openai": 32000, "gemini": 30000, "imagen": 1900, "workers-ai": 2048, "placeholder": 2048,
}
DEFAULT_LIMIT = 2048


@dataclass(frozen=True)
class Composed:
    text: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Enrichment:
    """What a request's prompt becomes: the context used (stored with the request) and
    whether templates apply (off per request with `enrich: false` or by ENRICHMENT_ENABLED)."""

    prompt: str
    context: dict[str, Any] | None
    applied: bool

    @property
    def active(self) -> bool:
        """Only a context is enriched: a bare prompt is sent exactly as written."""
        return self.applied and self.context is not None

    def compose(self, limit: int | None = None, who: str = "the provider") -> Composed:
        if not self.active:
            return Composed(self.prompt)
        return compose(self.prompt, self.context, limit, who)


def compose(prompt: str, context: dict[str, Any] | None, limit: int | None = None, who: str = "the provider") -> Composed:
    """The prompt from the template of the context's kind, fitted into `limit` characters."""
    parts = _parts(prompt, context)
    warnings: list[str] = []
    dropped: list[str] = []
    while limit is not None and len(_join(parts)) > limit:
        expendable = [p for p in parts if p[0].drop > 0]
        if not expendable:
            break
        worst = max(expendable, key=lambda p: (p[0].drop, parts.index(p)))
        parts.remove(worst)
        dropped.append(worst[0].field or "framing")
    if dropped:
        warnings.append(f"prompt over {who}'s limit of {limit} characters: left out {', '.join(dropped)} from the context")
    text = _join(parts)
    if limit is not None and len(text) > limit:
        cut = text[:limit].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
        warnings.append(f"prompt cut from {len(text)} to {len(cut)} characters for {who}'s limit of {limit}")
        text = cut
    return Composed(text, tuple(warnings))


def _parts(prompt: str, context: dict[str, Any] | None) -> list[tuple[Part, str]]:
    if not context:
        return [(Part("prompt", "{value}", 0), prompt.strip())]
    out = []
    for part in TEMPLATES[context["kind"]]:
        value = prompt if part.field == "prompt" else context.get(part.field) if part.field else ""
        if part.field and not (value or "").strip():
            continue
        out.append((part, part.text.format(value=" ".join(str(value).split()))))
    return out


def _join(parts: list[tuple[Part, str]]) -> str:
    return ". ".join(text.rstrip(". ") for _, text in parts if text) + "."


def limit_for(provider: str) -> int:
    return PROMPT_LIMITS.get(provider, DEFAULT_LIMIT)


async def enrichment_for(s: Services, req: GenerationRequest, caller: str) -> Enrichment:
    """The request's context (inline, or the stored one of `caller`'s referenced entity: another
    caller's entity is never read) and whether it applies."""
    context = req.context.model_dump(exclude_none=True) if req.context is not None else None
    if req.context_ref is not None:
        context = await referenced_context(s, req.context_ref, caller)
    applied = s.settings.enrichment_enabled and req.enrich
    return Enrichment(req.prompt, context, applied)


async def referenced_context(s: Services, ref: ContextRef, caller: str) -> dict[str, Any]:
    """The stored context of `caller`'s entity that `context_ref` names; NotFound otherwise."""
    context = await contexts.get_entity_context(s.db, caller, ref.entity_type, ref.entity_id)
    if context is None:
        raise NotFound(f"no stored context for {ref.entity_type} {ref.entity_id!r}", details={"field": "context_ref"})
    return context


def fit_plan(plan: Any, enrichment: Enrichment) -> Any:
    """Each candidate gets the prompt composed for its own provider's limit (and the
    warnings), and its estimate recomputed for that prompt."""
    if not enrichment.active:
        return plan
    candidates = []
    for c in plan.candidates:
        composed = enrichment.compose(limit_for(c.name), c.name)
        preq = replace(c.preq, prompt=composed.text, warnings=c.preq.warnings + composed.warnings)
        candidates.append(replace(c, preq=preq, estimate=c.provider.estimate(preq)))
    return replace(plan, candidates=candidates)


def preview(s: Services, enrichment: Enrichment) -> dict[str, Any]:
    """What each configured provider would be sent."""
    full = enrichment.compose()
    return {
        "original_prompt": enrichment.prompt,
        "context": enrichment.context,
        "enriched": enrichment.active,
        "prompt": full.text,
        "providers": {
            name: {"limit": limit_for(name), **_as_dict(enrichment.compose(limit_for(name), name))}
            for name in s.registry.names()
        },
    }


def _as_dict(c: Composed) -> dict[str, Any]:
    return {"prompt": c.text, "warnings": list(c.warnings)}
