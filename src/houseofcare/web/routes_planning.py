"""The planning pages' routes (thin over the domain services; declared in `api/route_access.py`)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False, tags=["pages"])
