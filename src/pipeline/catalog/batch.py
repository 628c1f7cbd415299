"""Which models a provider's batch API serves, at what price, within what window.

Data, like the rest of the catalog. A batch price is a share of the model's standard
price (both providers bill the same usage at a discount), so price overrides of the
standard rates carry over. `window_s` is what the provider promises; `gives_up_s` is
when it ends an unfinished batch (expired), which is how long our reservation lives.
Checked 2026-12-01 against openai 3.57.0 and google-genai 3.6.1 (their source) and
the docs named in `source`."""

from __future__ import annotations

from dataclasses import dataclass

CHECKED = "2026-12-01"


@dataclass(frozen=True)
class BatchOffer:
    kind: str  # the provider kind whose batch API this is
    models: tuple[str, ...]  # catalog ids the batch API serves
    rate_bp: int  # batch price in basis points of the standard price (5000 = half)
    window_s: int  # the completion window the provider promises
    gives_up_s: int  # after this the provider expires the batch; unfinished work is not billed
    operations: tuple[str, ...]  # "generate", "edit", "reference" (entity reference images)
    max_images: int  # images per provider batch (bounds what one result read holds in memory)
    source: str
    confidence: str  # official | unverified
    not_served: dict[str, str]  # operation -> why it goes to the standard lane
    checked: str = CHECKED

    def batch_micros(self, standard_micros: int) -> int:
        """The batch price of a standard price, rounded up to the micro-dollar."""
        return -(-int(standard_micros) * self.rate_bp // 10_000)


OFFERS: dict[str, BatchOffer] = {
    "openai": BatchOffer(
        kind="openai",
        models=("gpt-image-2.6-flare", "gpt-image-2.6-sunburst", "gpt-image-2.5-flare", "gpt-image-2.5-flare-2026-09-08",
                "gpt-image-2.5-sunburst", "gpt-image-2.5-sunburst-2026-09-08", "gpt-image-2", "gpt-image-2-2026-04-21"),
        rate_bp=5_000, window_s=24 * 3600, gives_up_s=24 * 3600, operations=("generate",), max_images=40,
        source="https://developers.openai.com/api/docs/guides/batch (\"50% cost discount\"; expired batches bill"
               " completed requests only); endpoint /v1/images/generations: openai 3.57.0 types/batch_create_params.py",
        confidence="official",
        not_served={"edit": "openai's batch edits take a JSON body that openai 3.57.0 does not model (unverified)",
                    "reference": "reference images go to openai's edits endpoint, whose batch JSON body openai 3.57.0"
                                 " does not model (unverified)"},
    ),
    "gemini": BatchOffer(
        kind="gemini",
        models=("gemini-nano-banana-2.1", "gemini-3.1-flash-lite-image", "gemini-3-pro-image", "gemini-3.1-flash-image",
                "gemini-2.5-flash-image"),
        rate_bp=5_000, window_s=24 * 3600, gives_up_s=48 * 3600, operations=("generate",), max_images=8,
        source="https://ai.google.dev/gemini-api/docs/batch-api (\"50% of the standard interactive API cost\";"
               " 24 h target, expired after 48 h); inline requests: google-genai 3.6.1 batches.py",
        confidence="unverified",  # documented for gemini-2.5-flash-image; the current ids by \"same modalities\"
        not_served={"edit": "reference images count against gemini's 20 MB inline batch request",
                    "reference": "reference images count against gemini's 20 MB inline batch request"},
    ),
}
NO_BATCH_API = {
    "imagen": "Imagen on Vertex AI has no batch API for this Worker (Vertex batch prediction reads from GCS/BigQuery)",
    "gemini-vertex": "Gemini on Vertex AI batches through GCS/BigQuery, not served here",
    "workers-ai": "Workers AI has no batch API",
    "placeholder": "the placeholder has no batch API",
}


def offer_for(kind: str, model: str, operation: str) -> tuple[BatchOffer | None, str | None]:
    """The offer serving `model` for `operation`, or None and why not."""
    offer = OFFERS.get(kind)
    if offer is None:
        return None, NO_BATCH_API.get(kind, f"{kind} has no batch API")
    if operation not in offer.operations:
        return None, offer.not_served.get(operation, f"{kind}'s batch API does not {operation}")
    if model not in offer.models:
        return None, f"{kind}'s batch API does not serve {model}"
    return offer, None
