"""`GET /live`: the live status push for API clients (bearer token); the stream and its format
are services/live_hub.py's."""

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response, StreamingResponse
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool

from facturier.services.application.authentication import authenticate
from facturier.services.application.principals import Principal
from facturier.services.live_hub import LiveHub, full, respond

LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)]


def live_routes(
    hub: Callable[[], LiveHub],
    principal: Callable[..., Principal],
    pool: Callable[[], ConnectionPool],
) -> APIRouter:
    router = APIRouter()
    Caller = Annotated[Principal, Depends(principal)]

    @router.get("/live", tags=["tracking"], response_class=StreamingResponse)
    async def live(request: Request, caller: Caller, last_event_id: LastEventId = None) -> Response:
        """Server-Sent Events: each status change of an invoice visible to this token, as the
        tracking view records it (see services/live_hub.py for the format)."""
        if hub().subscribers >= hub().max_subscribers:
            return full()
        token = request.headers.get("authorization", "").partition(" ")[2].strip()

        def token_valid() -> bool:
            with pool().connection() as conn:
                return authenticate(conn, token) == caller

        async def still_valid() -> bool:
            return await run_in_threadpool(token_valid)

        return respond(hub(), hub().subscribe(caller, last_event_id), still_valid)

    return router
