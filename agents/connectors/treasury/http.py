"""``POST /xchg/treasury/transfer`` (internal, S12 → S1) as a FastAPI router, and a small app factory.

Status codes: 200 with a final TransferResponse (``Result`` DONE, FAILED or REFUSED: the request
was handled, and a repeat gets the same answer); 202 when ``Result`` is SUBMITTED (the venue was
asked, the outcome is not known yet); 422 for an invalid body or header, naming the field; 409
when the transfer_id was used for another transfer; 503 (with Retry-After) when the route stayed
busy or the record could not be written — nothing was sent that the record does not show.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, FastAPI, Header
from fastapi.responses import JSONResponse

from agents.connectors.treasury.errors import (
    InvalidTransferRequest,
    RecordUnavailable,
    TransferConflict,
    TreasuryBusy,
)
from agents.connectors.treasury.models import TransferRequest, TransferResponse
from agents.connectors.treasury.service import TreasuryService

PATH = "/xchg/treasury/transfer"
RETRY_AFTER_S = "1"


def treasury_router(service: TreasuryService) -> APIRouter:
    router = APIRouter(tags=["treasury"])

    @router.post(
        PATH,
        response_model=TransferResponse,
        responses={202: {"model": TransferResponse, "description": "sent, outcome not known yet"}},
        summary="Move funds between the SPOT and FUT wallets, once per transfer_id",
    )
    async def transfer(
        body: TransferRequest,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> JSONResponse:
        try:
            answer = await service.submit(body, idempotency_key)
        except InvalidTransferRequest as exc:
            return JSONResponse({"detail": exc.errors}, status_code=422)
        except TransferConflict as exc:
            return JSONResponse({"detail": str(exc)}, status_code=409)
        except (TreasuryBusy, RecordUnavailable) as exc:
            return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": RETRY_AFTER_S})
        return JSONResponse(answer.model_dump(mode="json"), status_code=200 if answer.final else 202)

    return router


def create_app(service: TreasuryService) -> FastAPI:
    """The S1 internal API with the treasury router mounted; the service's scripts load at startup
    (a server runs the lifespan; without it the scripts load on first use)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        del app
        await service.load()
        yield
        await service.flush()

    app = FastAPI(title="Chimera S1 connectors (internal)", lifespan=lifespan)
    app.include_router(treasury_router(service))
    return app
