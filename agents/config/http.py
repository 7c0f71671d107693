"""S10's ``GET /active`` (the active ``bundle_id, rev``, for a service starting or reloading)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse

from agents.config.store import ConfigStore


def config_router(store: ConfigStore) -> APIRouter:
    router = APIRouter(tags=["config"])

    @router.get("/active", summary="The active config bundle: bundle_id and rev")
    async def active() -> JSONResponse:
        ref = await store.active()
        if ref is None:
            return JSONResponse({"detail": "no bundle is active"}, status_code=404)
        return JSONResponse({"bundle_id": ref.bundle_id, "rev": ref.rev})

    return router


def create_app(store: ConfigStore) -> FastAPI:
    app = FastAPI(title="Chimera S10 config (minimal)")
    app.include_router(config_router(store))
    return app
