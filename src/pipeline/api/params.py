"""Path and query parameters several routers share, each with its limits in the schema, so
a long or NUL-containing id is a 422 before any route runs, never a 500 from D1."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from ..models import LABEL_PATTERN

# An object's id (img_…, gen_…, upl_…, bat_…, job_…): unknown ids are a 404, over-long or
# control characters a 422.
IdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=LABEL_PATTERN)]
EntityIdPath = Annotated[str, Path(min_length=1, max_length=200, pattern=LABEL_PATTERN)]
RolePath = Annotated[str, Path(min_length=1, max_length=64, pattern=LABEL_PATTERN)]
CallerQuery = Annotated[str | None, Query(
    min_length=1, max_length=128, pattern=LABEL_PATTERN,
    description="whose entity (default: the key's own caller); another caller's needs a key that may reach it")]
