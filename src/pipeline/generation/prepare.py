"""Normalising a caller's request for one provider (selection.py calls it per
candidate), from the catalog entry of the model it will run: which model (lifecycle, health, tier default), which size
(fixed list or any W×H within the model's rule), which options it honours.
Options a model cannot honour become warnings; impossible requests raise."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from .. import catalog as cat, sizes
from ..catalog.spec import ModelSpec
from ..errors import ModelUnavailable, UnsupportedByProvider
from ..models import GenerationRequest
from ..providers.base import ImageProvider, InputImage, ProviderRequest

# Output formats we cannot carry end to end (animated GIF frames, SVG authoring and its
# separate billing): refused with the reason rather than silently turned into PNG.
REFUSED_FORMATS = {
    "gif": "gif output (animated frames, preview access, no streaming or masks) is not supported by this service; use png, jpeg or webp",
    "svg": "svg output (authored by a separate model, billed separately) is not supported by this service; use png, jpeg or webp",
}


def choose_model(provider: ImageProvider, req: GenerationRequest) -> ModelSpec:
    """The model a request runs: the one it names (usable, not reported gone), else the
    provider's default among those not reported gone."""
    day = provider.ctx.clock.now().date()
    gone = provider.ctx.models.unavailable(provider.name, provider.ctx.clock.monotonic())
    if req.model:
        spec = provider.catalog.get(req.model)
        if spec is None:
            raise UnsupportedByProvider(f"{provider.name} has no model {req.model!r}; it has "
                                        f"{', '.join(cat.usable_ids(provider.catalog, day))}", provider=provider.name)
        cat.ensure_usable(spec, day, provider.name)
        if spec.id in gone:
            raise ModelUnavailable(f"{provider.name} recently answered that {spec.id} is unavailable",
                                   provider=provider.name, details={"model": spec.id, "replacement": spec.lifecycle.replacement})
        return spec
    spec = provider.spec(provider.default_model(gone))
    if req.references and not _takes_references(spec, req):
        # The default cannot take these references: the first usable model that can (catalog order).
        fits = [m for m in provider.catalog.models if m.id in cat.usable_ids(provider.catalog, day)
                and m.id not in gone and _takes_references(m, req)]
        spec = fits[0] if fits else spec  # none can: check_references says the default's limit
    return spec


def _takes_references(spec: ModelSpec, req: GenerationRequest) -> bool:
    people = sum(1 for r in req.references if r.entity_type == "character")
    return len(req.references) <= spec.max_references and people <= spec.max_people


def choose_size(spec: ModelSpec, req: GenerationRequest) -> tuple[str, str | None]:
    """The size the model will produce for the request, and a warning when it differs."""
    rule = spec.sizes
    if rule.any_wxh and req.size not in (None, "auto"):
        w, h = sizes.parse(req.size)
        why = rule.check(w, h)
        if why is None:
            return req.size, None
        fitted = rule.fit(w, h)
        return fitted, f"size {req.size} not allowed for {spec.id} ({why}); using {fitted}"
    size, note = sizes.choose(req.size, req.aspect_ratio, rule.fixed)
    if note and req.aspect_ratio:
        a, _, b = req.aspect_ratio.partition(":")
        w, h = sizes.parse(size)
        if abs(w / h - int(a) / int(b)) <= 0.02 * int(a) / int(b):  # exactly the asked ratio (e.g. 1:8)
            note = None
    return size, note


def _option(spec: ModelSpec, name: str, value: str | None, warnings: list[str]) -> str | None:
    if value is None:
        return None
    allowed = spec.options.get(name, ())
    if value in allowed:
        return value
    warnings.append(f"{name}={value} not offered by {spec.id}" + (f" (it takes {', '.join(allowed)})" if allowed else "")
                    + "; ignored")
    return None


def safety_identifier(caller: str | None) -> str | None:
    """A stable, non-identifying id for the provider's abuse monitoring (hash, never the raw caller)."""
    return hashlib.sha256(caller.encode()).hexdigest()[:32] if caller else None


def check_references(name: str, model: str, max_references: int, max_people: int, req: GenerationRequest) -> None:
    """UnsupportedByProvider (422) saying the limit when the model cannot take the references."""
    count = len(req.references)
    if not count:
        return
    if max_references == 0:
        raise UnsupportedByProvider(f"{model} takes no reference images", provider=name,
                                    details={"field": "references", "max_references": 0})
    if count > max_references:
        raise UnsupportedByProvider(f"{model} takes at most {max_references} reference images; {count} given",
                                    provider=name, details={"field": "references", "max_references": max_references})
    people = sum(1 for r in req.references if r.entity_type == "character")
    if people > max_people:
        raise UnsupportedByProvider(f"{model} takes at most {max_people} references of people (characters); {people} given",
                                    provider=name, details={"field": "references", "max_people": max_people})


def prepare(provider: ImageProvider, req: GenerationRequest, images: tuple[InputImage, ...] = (),
            mask: InputImage | None = None, references: tuple[InputImage, ...] = ()) -> ProviderRequest:
    """Normalise a caller's request for `provider`, or raise UnsupportedByProvider."""
    name = provider.name
    fmt = req.output_format
    if fmt in REFUSED_FORMATS:
        raise UnsupportedByProvider(REFUSED_FORMATS[fmt], provider=name, details={"field": "output_format"})
    if not provider.kind:  # providers outside the catalog (placeholder) keep their own capabilities
        caps = provider.capabilities
        check_references(name, caps.default_model, caps.max_references, caps.max_references, req)
        return replace(_prepare_uncataloged(provider, req, images, mask), references=references)
    spec = choose_model(provider, req)
    check_references(name, spec.id, spec.max_references, spec.max_people, req)
    if images and "edit" not in spec.operations:
        raise UnsupportedByProvider(f"{spec.id} cannot edit images", provider=name)
    if mask is not None and not spec.mask:
        raise UnsupportedByProvider(f"{spec.id} cannot edit with a mask", provider=name)
    if len(images) > spec.max_input_images:
        raise UnsupportedByProvider(f"{spec.id} takes at most {spec.max_input_images} input images", provider=name)
    warnings: list[str] = []
    size, note = choose_size(spec, req)
    if note:
        warnings.append(note)
    quality = req.quality
    if quality is not None and quality not in spec.qualities:
        warnings.append(f"quality={quality} not offered by {spec.id}" +
                        (f" (it takes {', '.join(spec.qualities)}); using its default" if spec.qualities else "; ignored"))
        quality = None
    background = req.background
    if background == "transparent" and not spec.transparent:
        warnings.append(f"{spec.id} cannot make transparent backgrounds; background ignored")
        background = None
    if fmt is not None and fmt not in spec.formats:
        warnings.append(f"{spec.id} cannot output {fmt}; using {spec.formats[0]}")
        fmt = None
    if background == "transparent" and fmt == "jpeg":
        raise UnsupportedByProvider("a transparent background needs png or webp output", provider=name)
    fidelity = _option(spec, "input_fidelity", req.input_fidelity, warnings) if images else None
    preq = ProviderRequest(
        prompt=req.prompt, model=spec.id, size=size, n=req.n, quality=quality, background=background,
        output_format=fmt, output_compression=req.output_compression, moderation=req.moderation,
        images=images, mask=mask, references=references, user=safety_identifier(req.caller),
        complexity=_option(spec, "complexity", req.complexity, warnings), input_fidelity=fidelity,
        person_generation=_option(spec, "person_generation", req.person_generation, warnings),
        warnings=tuple(warnings),
    )
    return provider.adapt(preq, req.size, req.aspect_ratio)


def _prepare_uncataloged(provider: ImageProvider, req: GenerationRequest, images: tuple[InputImage, ...],
                         mask: InputImage | None) -> ProviderRequest:
    caps, name = provider.capabilities, provider.name
    if images and not caps.edit:
        raise UnsupportedByProvider(f"{name} cannot edit images", provider=name)
    if mask is not None and not caps.mask:
        raise UnsupportedByProvider(f"{name} cannot edit with a mask", provider=name)
    if len(images) > caps.max_input_images:
        raise UnsupportedByProvider(f"{name} takes at most {caps.max_input_images} input images", provider=name)
    model = req.model or caps.default_model
    if model not in caps.models:
        raise UnsupportedByProvider(f"{name} has no model {model!r}; it has {', '.join(caps.models)}", provider=name)
    warnings: list[str] = []
    size, note = sizes.choose(req.size, req.aspect_ratio, caps.sizes)
    if note:
        warnings.append(note)
    quality = req.quality if req.quality in caps.qualities else None
    if req.quality is not None and quality is None:
        warnings.append(f"quality={req.quality} not offered by {name}; ignored")
    fmt = req.output_format if req.output_format in caps.output_formats else None
    if req.output_format is not None and fmt is None:
        warnings.append(f"{name} cannot output {req.output_format}; using {caps.output_formats[0]}")
    background = req.background if req.background != "transparent" or caps.transparent_background else None
    if background == "transparent" and fmt == "jpeg":
        raise UnsupportedByProvider("a transparent background needs png or webp output", provider=name)
    return ProviderRequest(prompt=req.prompt, model=model, size=size, n=req.n, quality=quality, background=background,
                           output_format=fmt, output_compression=req.output_compression, moderation=req.moderation,
                           images=images, mask=mask, user=safety_identifier(req.caller), warnings=tuple(warnings))
