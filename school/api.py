"""The JSON API at /api/ (OpenAPI docs at /api/docs). Each app contributes a router."""

from __future__ import annotations

from ninja import NinjaAPI

from delivery.api import router as delivery_router

api = NinjaAPI(urls_namespace="api", title="Semester API", version="1")
api.add_router("", delivery_router)
