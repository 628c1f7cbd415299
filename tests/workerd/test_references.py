"""Entity references in real workerd: approve an image, make it the character's primary,
generate with the character as a reference, and the fake Gemini API receives the stored
1024-px WebP variant (made once by wrangler's local Images binding), not the original."""

from __future__ import annotations

import base64
import io

import httpx
from PIL import Image

from tests.fakes.fixtures import load
from tests.fakes.server import Reply
from tests.workerd.conftest import PNG

def test_an_approved_primary_reaches_the_provider_as_its_variant(http: httpx.Client, fakes):
    made = http.post("/v1/generations", json={"prompt": "wd-ada, portrait", "provider": "placeholder", "size": "1536x1024"})
    assert made.status_code == 201, made.text
    original = made.json()["images"][0]
    assert http.post(f"/v1/images/{original['id']}/approve", json={"reviewer": "ed"}).status_code == 200
    primary = http.put("/v1/entities/character/wd-ada/primary/portrait", json={"image_id": original["id"]})
    assert primary.status_code == 200, primary.text

    # any Gemini model: an earlier test may have had the default reported gone in this isolate
    fakes.gemini.fallback = lambda _req: Reply(200, load("gemini", "references", IMAGE=PNG))
    body = {"prompt": "wd-ada at the harbour", "provider": "gemini",
            "references": [{"entity_type": "character", "entity_id": "wd-ada"}]}
    answer = http.post("/v1/generations", json=body)
    assert answer.status_code == 201, answer.text
    result = answer.json()

    parts = fakes.gemini.received[-1].json()["contents"][0]["parts"]
    assert parts[0]["text"].startswith("wd-ada at the harbour") and len(parts) == 2
    sent = base64.b64decode(parts[1]["inlineData"]["data"])
    assert parts[1]["inlineData"]["mimeType"] == "image/webp"
    picture = Image.open(io.BytesIO(sent))
    assert (picture.format, picture.size) == ("WEBP", (1024, 683))  # not the 1536x1024 PNG original
    stored = http.get(f"/v1/images/{original['id']}?width=1024&fit=scale-down&format=webp")  # the stored variant
    assert stored.status_code == 200 and stored.content == sent
    assert len(sent) != original["byte_size"]

    used = [{"entity_type": "character", "entity_id": "wd-ada", "role": "portrait", "usage": "subject",
             "image_id": original["id"]}]
    assert result["references"] == used and result["status"] == "succeeded"
    assert http.get(f"/v1/generations/{result['id']}").json()["references"] == used
    uses = http.get("/v1/entities/character/wd-ada/references").json()["uses"]
    assert uses[0]["request_id"] == result["id"] and uses[0]["images"][0]["id"] == result["images"][0]["id"]
