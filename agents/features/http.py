"""``POST /features/recompute`` (spec §A S2.3): recompute a window's features from recorded data and
backfill ``signals`` (:mod:`agents.features.recompute` does the work).

Status codes: 200 with a :class:`~agents.features.recompute.RecomputeResult`; 422 naming the field
(FastAPI's ``detail[].loc``) for a body that fails its schema, a window that ends at or before it
starts, a file that is missing, outside the allowed folders or of no known format, or a symbol no
recording holds; 503 while ClickHouse refuses the write (nothing is half-announced: the
``FEATURE_RECOMPUTE`` event is written after the rows, and a retry is safe).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from agents.features.recompute import FeatureRecompute, RecomputeInputError, RecomputeRequest, RecomputeResult
from sinks.clickhouse.sink import SinkBackpressure

PATH = "/features/recompute"


def _invalid(exc: RecomputeInputError, body: RecomputeRequest) -> RequestValidationError:
    """The same 422 shape as a schema error, so a client reads one ``detail[].loc`` either way."""
    loc: tuple[str | int, ...] = ("body", exc.field) if exc.index is None else ("body", exc.field, exc.index)
    value = body.model_dump().get(exc.field)
    return RequestValidationError([{"type": "value_error", "loc": loc, "msg": str(exc), "input": value}])


def recompute_router(service: FeatureRecompute) -> APIRouter:
    router = APIRouter(tags=["features"])

    @router.post(
        PATH,
        response_model=RecomputeResult,
        summary="Recompute a window's features and backfill signals (S2)",
    )
    async def recompute(body: RecomputeRequest) -> JSONResponse:
        try:
            result = await service.recompute(body)
        except RecomputeInputError as exc:
            raise _invalid(exc, body) from None
        except SinkBackpressure as exc:
            return JSONResponse({"detail": f"ClickHouse refused the write, retry: {exc}"}, status_code=503)
        return JSONResponse(jsonable_encoder(result))

    return router


def create_app(service: FeatureRecompute) -> FastAPI:
    app = FastAPI(title="Chimera S2 features (internal)")
    app.include_router(recompute_router(service))
    return app
