"""Entity references: a request names entities (a character, a place, an item), and the
model is shown each one's approved primary image, so the same character looks the same
in every scene.

For each reference: the entity's primary for the role asked (default `portrait`, else its
only primary), which is always an approved image (storage/approvals.py keeps it so; it is
checked again here). An entity without one is a 422 naming it, or, with
`allow_missing_references`, a warning and no image. The image is sent small: the
`REFERENCE` variant (1024 px WebP), made once through the delivery module and stored like
any variant. The prompt gets a short legend naming the images in the order they are
attached, and the first referenced entity's stored narrative context enriches the prompt
when the request gives none (as `context_ref` would). Entities belong to a caller: the
primaries are the request's caller's (auth/ownership.py), so another caller's entity reads
as one without a primary, and another caller's image is never sent."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .. import errors, limits
from .. import ownership
from ..delivery import spec as specs
from ..delivery.variants import get_variant
from ..models import ContextRef, GenerationRequest, ReferenceInput
from ..providers.base import InputImage
from ..services import Services
from ..storage import approvals, contexts

DEFAULT_ROLE = "portrait"
# What a reference is sent as: the longest side at most 1024 px, WebP (each model's input
# tiles and tokens are counted at about this size; catalog `image_in_tokens`).
REFERENCE = {"width": "1024", "fit": "scale-down", "format": "webp"}
# How the prompt names each reference, by usage (the legend follows the caller's prompt).
USAGE_TEXT = {
    "subject": "keep this {kind}'s appearance exactly (face, build, clothing, colours)",
    "style": "use its visual style, palette and rendering, not its content",
    "scene": "use it as the place where the image is set",
}


@dataclass(frozen=True)
class References:
    used: tuple[dict[str, Any], ...] = ()  # models.ReferenceUsed, in order (what the request records)
    images: tuple[InputImage, ...] = ()  # the variants' bytes, in the order the legend names them
    legend: str = ""  # appended to the prompt
    warnings: tuple[str, ...] = ()
    context_ref: ContextRef | None = None  # the entity whose stored context enriches the prompt


def _field(n: int) -> dict[str, Any]:
    return {"field": f"references[{n}]"}


def _pick(ref: ReferenceInput, primaries: list[dict[str, Any]], n: int) -> dict[str, Any] | None:
    """The primary this reference means, None when the entity has none; 422 when it is ambiguous."""
    by_role = {p["role"]: p for p in primaries}
    if ref.role is not None:
        return by_role.get(ref.role)
    if DEFAULT_ROLE in by_role:
        return by_role[DEFAULT_ROLE]
    if len(by_role) > 1:
        raise errors.InvalidRequest(
            f"references[{n}]: {ref.entity_type} {ref.entity_id!r} has primary images for {', '.join(sorted(by_role))};"
            " name the role", details=_field(n) | {"roles": sorted(by_role)})
    return primaries[0] if primaries else None


async def _variant(s: Services, row: dict[str, Any]) -> InputImage:
    """The reference-sized variant (made once, stored beside the original)."""
    rendition = specs.resolve(specs.parse(REFERENCE), int(row["width"] or 1024), int(row["height"] or 1024),
                              row["content_type"], None)
    variant = await get_variant(s, row, rendition)
    return InputImage(variant.body, variant.content_type)


def _label(ref: ReferenceInput, name: str | None) -> str:
    who = f"{name} ({ref.entity_type} {ref.entity_id})" if name else f"{ref.entity_type} {ref.entity_id}"
    kind = "character" if ref.entity_type == "character" else ref.entity_type
    return f"{who}: {USAGE_TEXT[ref.usage].format(kind=kind)}"


async def _own_image(s: Services, caller: str, image_id: str, n: int) -> dict[str, Any] | None:
    """The primary's image row, if it is the caller's own (ownership decides, as for edit inputs)."""
    try:
        return await ownership.input_image(s.db, caller, image_id, f"references[{n}]")
    except errors.NotFound:
        return None  # reads as "no approved primary": another caller's image is never sent


async def resolve(s: Services, req: GenerationRequest, caller: str) -> References:
    """The request's references as images, legend and record; typed errors for what is missing."""
    if not req.references:
        return References()
    used: list[dict[str, Any]] = []
    images: list[InputImage] = []
    labels: list[str] = []
    warnings: list[str] = []
    context_ref: ContextRef | None = None
    total = 0
    for n, ref in enumerate(req.references):
        primaries = await approvals.primaries(s.db, caller, ref.entity_type, ref.entity_id)
        primary = _pick(ref, primaries, n)
        row = await _own_image(s, caller, primary["image_id"], n) if primary is not None else None
        role = primary["role"] if primary is not None else (ref.role or DEFAULT_ROLE)
        if row is None or row.get("approval_status") != "approved":
            what = f"{ref.entity_type} {ref.entity_id!r} has no approved primary image" + (
                f" for role {ref.role!r}" if ref.role else "")
            if not req.allow_missing_references:
                raise errors.InvalidRequest(
                    f"references[{n}]: {what}; approve an image and make it the primary"
                    f" (PUT /v1/entities/{ref.entity_type}/{ref.entity_id}/primary/{role})", details=_field(n))
            warnings.append(f"{what}: generated without that reference")
            used.append(_used(ref, role, None))
            continue
        image = await _variant(s, row)
        total += len(image.data)
        if total > limits.MAX_INPUT_BYTES:
            raise errors.InvalidRequest(
                f"the reference images total over {limits.MAX_INPUT_BYTES} bytes", details=_field(n) | {
                    "max_bytes": limits.MAX_INPUT_BYTES})
        stored = await contexts.get_entity_context(s.db, caller, ref.entity_type, ref.entity_id)
        if stored is not None and context_ref is None:
            context_ref = ContextRef(entity_type=ref.entity_type, entity_id=ref.entity_id)
        images.append(image)
        labels.append(f"{len(images)}. {_label(ref, (stored or {}).get('name'))}")
        used.append(_used(ref, role, row["id"]))
    legend = ("\n\nReference images, in the order attached: " + "; ".join(labels) + ".") if labels else ""
    return References(tuple(used), tuple(images), legend, tuple(warnings), context_ref)


def _used(ref: ReferenceInput, role: str, image_id: str | None) -> dict[str, Any]:
    return {"entity_type": ref.entity_type, "entity_id": ref.entity_id, "role": role, "usage": ref.usage,
            "image_id": image_id}


def stand_ins(req: GenerationRequest) -> tuple[InputImage, ...]:
    """One empty image per reference: what planning and pricing need (the count), nothing fetched."""
    return tuple(InputImage(b"", "image/webp") for _ in req.references)


def for_enrichment(req: GenerationRequest, refs: References) -> GenerationRequest:
    """The request whose context enriches the prompt: its own, else the first referenced
    entity's stored context (used once, like `context_ref`)."""
    if refs.context_ref is None or req.context is not None or req.context_ref is not None:
        return req
    return req.model_copy(update={"context_ref": refs.context_ref})


def with_warnings(plan: Any, refs: References) -> Any:
    """Every candidate carries the references' warnings (an entity sent without its image)."""
    if not refs.warnings:
        return plan
    return replace(plan, candidates=[replace(c, preq=replace(c.preq, warnings=c.preq.warnings + refs.warnings))
                                     for c in plan.candidates])
