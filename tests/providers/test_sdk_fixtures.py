"""Every provider fixture the fakes answer with is checked against the official SDK's
types (openai >= 3.57, google-genai >= 3.6): a fixture the SDK cannot parse, with a
field the SDK does not know or an enum value it does not list, fails here. So the
fakes cannot drift from the wire format the adapters meet in production."""

from __future__ import annotations

import warnings
from typing import Any

import pydantic
import pytest

from tests.fakes.fixtures import FIXTURES, load

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
MARKERS = {"IMAGE": PNG, "IMAGE2": PNG}

openai_types = pytest.importorskip("openai.types")
genai_types = pytest.importorskip("google.genai.types")


def _fixture(provider: str, name: str) -> Any:
    text = (FIXTURES / provider / f"{name}.json").read_text()
    return load(provider, name, **{k: v for k, v in MARKERS.items() if f"__{k}__" in text})


def _no_extras(model: Any, where: str = "") -> None:
    """OpenAI's models accept unknown fields silently; a fixture must not rely on that."""
    extra = getattr(model, "model_extra", None) or {}
    assert not extra, f"fields the SDK does not define at {where or 'top'}: {sorted(extra)}"
    for name in type(model).model_fields:
        value = getattr(model, name)
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            if hasattr(type(item), "model_fields"):
                _no_extras(item, f"{where}.{name}[{i}]")


def _names(provider: str) -> list[str]:
    return sorted(p.stem for p in (FIXTURES / provider).glob("*.json"))


OPENAI_SUCCESS = {"generation": "ImagesResponse", "edit": "ImagesResponse", "generation_split_usage": "ImagesResponse",
                  "generation_auto_size": "ImagesResponse", "references": "ImagesResponse",
                  "partial_image": "ImageGenPartialImageEvent", "completed": "ImageGenCompletedEvent"}


@pytest.mark.parametrize("name", _names("openai"))
def test_openai_fixtures_parse_with_the_sdk(name):
    body = _fixture("openai", name)
    if name in OPENAI_SUCCESS:
        model = getattr(openai_types, OPENAI_SUCCESS[name]).model_validate(body)
        _no_extras(model)
        if OPENAI_SUCCESS[name] == "ImagesResponse":
            assert model.usage is not None and model.data
        return
    # Error bodies: the SDK's APIError reads error.message, .type, .param and .code
    err = body["error"]
    assert set(err) <= {"message", "type", "param", "code", "moderation_details"} and isinstance(err["message"], str)


GEMINI_ERRORS = {"daily_quota", "rate_limited", "invalid_argument", "permission_denied", "unavailable", "api_key_invalid",
                 "model_not_found"}


@pytest.mark.parametrize("name", _names("gemini"))
def test_gemini_fixtures_parse_with_the_sdk(name):
    body = _fixture("gemini", name)
    if name in GEMINI_ERRORS:
        err = body["error"]  # google.rpc.Status as JSON: code, message, status, details[@type]
        assert set(err) <= {"code", "message", "status", "details"} and isinstance(err["code"], int)
        assert all("@type" in d for d in err.get("details", []))
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # google-genai warns (does not fail) on an enum value it does not list
        response = genai_types.GenerateContentResponse.model_validate(body)
    assert response.candidates or response.prompt_feedback


def test_imagen_fixtures_match_the_predict_response_the_sdk_reads():
    """google-genai parses `:predict` answers by these keys (models.py `_GenerateImagesResponse_from_vertex`)."""
    allowed = {"bytesBase64Encoded", "mimeType", "raiFilteredReason", "safetyAttributes", "prompt"}
    for name in _names("imagen"):
        body = _fixture("imagen", name)
        if "error" in body:
            continue
        assert set(body) <= {"predictions", "positivePromptSafetyAttributes"}
        for item in body.get("predictions", []):
            assert set(item) <= allowed, (name, set(item) - allowed)


def test_a_fixture_the_sdk_cannot_parse_fails():
    bad = _fixture("gemini", "success") | {"candidatez": []}
    with pytest.raises(pydantic.ValidationError):
        genai_types.GenerateContentResponse.model_validate(bad)
    with pytest.raises(AssertionError):
        _no_extras(openai_types.ImagesResponse.model_validate(_fixture("openai", "generation") | {"imagez": []}))


def test_the_sdk_knows_every_catalogued_openai_model():
    from typing import get_args

    from pipeline.catalog import openai as openai_catalog

    known = set(get_args(openai_types.ImageModel))
    assert {m.id for m in openai_catalog.CATALOG.models} <= known
